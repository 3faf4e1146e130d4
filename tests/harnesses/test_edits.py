"""Edits: each applies to exactly its surface and sets the parent; every refusal is an EditError."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from harnesses.edits import (
    MAX_RULE_CHARS,
    OPS,
    AddRule,
    ConfigureMiddleware,
    DisableMiddleware,
    DisableTool,
    EditError,
    EnableMiddleware,
    EnableTool,
    RemoveRule,
    ReplaceRule,
    SetHook,
    SetRuntime,
    apply,
    apply_all,
    check_surface,
    decode_edits,
    edit_schema,
    encode_edits,
)
from harnesses.spec import READ_ONLY, HarnessSpec, MiddlewareConfig, diff, load_harness

MINIMAL = Path(__file__).resolve().parents[2] / "harnesses" / "minimal.yaml"
RULE = "Run cd and export in the same command as the step that needs them."


@pytest.fixture
def base() -> HarnessSpec:
    """The minimal harness plus a rule, two middleware and a hook, so every edit has something to act on."""
    spec = load_harness(MINIMAL)
    return msgspec.structs.replace(
        spec,
        prompt=msgspec.structs.replace(
            spec.prompt, execution=msgspec.structs.replace(spec.prompt.execution, rules=(RULE,))
        ),
        middleware=(MiddlewareConfig(name="loop_breaker"), MiddlewareConfig(name="output_repair")),
        hooks=msgspec.structs.replace(spec.hooks, on_error="echo failed"),
    )


def parts(spec: HarnessSpec) -> dict:
    """The spec by surface, to check that an edit touched only its own."""
    d = {f"prompt.{s}": getattr(spec.prompt, s) for s in ("system", "bootstrap", "execution", "verification", "recovery")}
    return d | {"runtime": spec.runtime, "middleware": spec.middleware, "hooks": spec.hooks, "tools": spec.tools}


EDITS = [
    (AddRule(section="verification", text="Run the tests the task names before completing."), "prompt.verification"),
    (AddRule(section="prompt.recovery", text="Read the full error first."), "prompt.recovery"),
    (RemoveRule(section="execution", text=RULE), "prompt.execution"),
    (ReplaceRule(section="execution", old=RULE, new="Keep shell state in one command."), "prompt.execution"),
    (SetRuntime(key="max_turns", value=40), "runtime"),
    (SetRuntime(key="max_total_commands", value=80), "runtime"),
    (SetRuntime(key="instruction", value="Stop repeating; change approach."), "runtime"),
    (SetRuntime(key="temperature", value=0.2), "runtime"),
    (EnableMiddleware(name="persistent_shell"), "middleware"),
    (EnableMiddleware(name="artifact_check", params={"max_rejections": 2}, before="output_repair"), "middleware"),
    (DisableMiddleware(name="loop_breaker"), "middleware"),
    (ConfigureMiddleware(name="loop_breaker", params={"max_repeats": 2}), "middleware"),
    (SetHook(hook="before_complete", script="test -s /app/out.txt"), "hooks"),
    (SetHook(hook="on_error", script=None), "hooks"),
    (DisableTool(name="edit_file"), "tools"),
]


@pytest.mark.parametrize("edit, surface", EDITS, ids=[f"{e.op}-{s}" for e, s in EDITS])
def test_edit_changes_exactly_its_surface(base, edit, surface):
    assert edit.surface == surface
    new = apply(base, edit)
    assert new.parent == base.id and new.id != base.id
    assert new.name == base.name
    before, after = parts(base), parts(new)
    assert [k for k in before if before[k] != after[k]] == [surface]
    assert all(line.startswith(surface) for line in diff(base, new).splitlines())


def test_every_op_is_covered():
    covered = {e.op for e, _ in EDITS} | {"enable_tool"}
    assert covered == set(OPS)


def test_enable_tool(base):
    off = apply(base, DisableTool(name="shell"))
    on = apply(off, EnableTool(name="shell"))
    assert on.enabled_tools() == base.enabled_tools() and on.id == base.id and on.parent == off.id
    # a known tool missing from the list is added
    absent = msgspec.structs.replace(base, tools=base.tools[:3])
    added = apply(absent, EnableTool(name="edit_file"))
    assert added.enabled_tools()[-1] == "edit_file"


def test_middleware_order(base):
    appended = apply(base, EnableMiddleware(name="persistent_shell"))
    assert appended.middleware_names() == ["loop_breaker", "output_repair", "persistent_shell"]
    inserted = apply(base, EnableMiddleware(name="persistent_shell", before="loop_breaker"))
    assert inserted.middleware_names() == ["persistent_shell", "loop_breaker", "output_repair"]


def test_configure_merges_params(base):
    spec = apply(base, EnableMiddleware(name="artifact_check", params={"extra_paths": ["/app/a"]}))
    spec = apply(spec, ConfigureMiddleware(name="artifact_check", params={"max_rejections": 1}))
    assert spec.get_middleware("artifact_check").params == {"extra_paths": ["/app/a"], "max_rejections": 1}


def test_section_spelled_either_way_is_one_edit():
    assert AddRule(section="prompt.execution", text="x") == AddRule(section="execution", text="x")


def test_apply_all_sets_parent_once(base):
    edits = [EnableMiddleware(name="persistent_shell"), SetRuntime(key="max_turns", value=50), DisableTool(name="read_file")]
    new = apply_all(base, edits)
    assert new.parent == base.id
    assert new.has_middleware("persistent_shell") and new.runtime.max_turns == 50
    assert "read_file" not in new.enabled_tools()
    assert base.runtime.max_turns == 30  # the original is untouched


def test_apply_all_names_the_failing_edit(base):
    with pytest.raises(EditError, match=r"^edit 1 \(enable_middleware\): middleware: 'loop_breaker' is already enabled"):
        apply_all(base, [SetRuntime(key="max_turns", value=50), EnableMiddleware(name="loop_breaker")])


def test_apply_all_refuses_edits_that_cancel_out(base):
    with pytest.raises(EditError, match="together change nothing"):
        apply_all(base, [DisableTool(name="shell"), EnableTool(name="shell")])
    with pytest.raises(EditError, match="no edits"):
        apply_all(base, [])


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("name", READ_ONLY)
def test_read_only_surfaces_are_refused(name):
    with pytest.raises(EditError, match=f"^surface '{name}' is read-only$"):
        check_surface(name)
    with pytest.raises(EditError, match=f"surface '{name}' is read-only"):
        AddRule(section=name, text="x")
    with pytest.raises(EditError, match=f"surface '{name}' is read-only"):
        SetRuntime(key=name, value=1)


def test_check_surface():
    assert check_surface("prompt.execution") == "prompt.execution"
    with pytest.raises(EditError, match="unknown surface 'memory'"):
        check_surface("memory")


STATIC_REFUSALS = [
    (lambda: AddRule(section="planning", text="x"), "unknown surface 'prompt.planning'"),
    (lambda: AddRule(section="execution", text="  "), "prompt.execution: the rule is empty"),
    (lambda: AddRule(section="execution", text="x" * (MAX_RULE_CHARS + 1)), "prompt.execution: the rule is 1001 characters"),
    (lambda: ReplaceRule(section="execution", old="a", new="a"), "prompt.execution: old and new rule are the same"),
    (lambda: SetRuntime(key="max_turn", value=3), "runtime: unknown key 'max_turn' (known: max_turns"),
    (lambda: SetRuntime(key="max_turns", value="ten"), "runtime.max_turns: expected int, got str"),
    (lambda: SetRuntime(key="max_turns", value=0), "runtime.max_turns: must be a positive integer, got 0"),
    (lambda: SetRuntime(key="temperature", value=3), "runtime.temperature: must be between 0 and 2"),
    (lambda: SetRuntime(key="max_turns", value=True), "runtime.max_turns: expected int, got bool"),
    (lambda: EnableMiddleware(name="foo"), "middleware: unknown middleware 'foo' (known: artifact_check"),
    (lambda: EnableMiddleware(name="loop_breaker", params={"max_repeats": "x"}),
     "middleware.loop_breaker: params.max_repeats: expected int, got str"),
    (lambda: EnableMiddleware(name="loop_breaker", params={"nope": 1}),
     "middleware.loop_breaker: params: unknown field 'nope' (known: max_repeats)"),
    (lambda: EnableMiddleware(name="loop_breaker", before="loop_breaker"), "cannot be placed before itself"),
    (lambda: DisableMiddleware(name="foo"), "middleware: unknown middleware 'foo'"),
    (lambda: ConfigureMiddleware(name="loop_breaker", params={}), "middleware.loop_breaker: no params given"),
    (lambda: SetHook(hook="after_complete", script="x"), "hooks: unknown hook 'after_complete' (known: on_start"),
    (lambda: SetHook(hook="on_start", script=" "), "hooks.on_start: empty script"),
    (lambda: EnableTool(name="browser"), "tools: unknown tool 'browser' (known: shell"),
    (lambda: DisableTool(name="browser"), "tools: unknown tool 'browser'"),
]


@pytest.mark.parametrize("make, message", STATIC_REFUSALS, ids=[m for _, m in STATIC_REFUSALS])
def test_static_refusals(make, message):
    with pytest.raises(EditError) as info:
        make()
    assert message in str(info.value)


APPLY_REFUSALS = [
    (AddRule(section="execution", text=RULE), "prompt.execution: rule already present"),
    (RemoveRule(section="execution", text="not there"), "prompt.execution: no such rule: 'not there'"),
    (ReplaceRule(section="system", old=RULE, new="y"), "prompt.system: no such rule"),
    (ReplaceRule(section="execution", old=RULE, new=RULE + "!"), None),  # allowed: control case
    (SetRuntime(key="max_turns", value=30), "runtime.max_turns: already 30 (no-op)"),
    (SetRuntime(key="instruction", value=None), "runtime.instruction: already null (no-op)"),
    (EnableMiddleware(name="loop_breaker"), "middleware: 'loop_breaker' is already enabled"),
    (EnableMiddleware(name="persistent_shell", before="tool_preflight"), "cannot place 'persistent_shell' before 'tool_preflight': it is not enabled"),
    (DisableMiddleware(name="persistent_shell"), "middleware: 'persistent_shell' is not enabled (enabled: loop_breaker, output_repair)"),
    (ConfigureMiddleware(name="persistent_shell", params={"state_file": "/tmp/s"}), "middleware: 'persistent_shell' is not enabled"),
    (ConfigureMiddleware(name="loop_breaker", params={"max_repeats": 1}), "middleware.loop_breaker: params unchanged (no-op)"),
    (SetHook(hook="on_start", script=None), "hooks.on_start: already unset (no-op)"),
    (SetHook(hook="on_error", script="echo failed"), "hooks.on_error: already set to this script (no-op)"),
    (EnableTool(name="shell"), "tools.shell: already enabled (no-op)"),
]


@pytest.mark.parametrize("edit, message", APPLY_REFUSALS, ids=[repr(e) for e, _ in APPLY_REFUSALS])
def test_apply_refusals(base, edit, message):
    if message is None:
        apply(base, edit)
        return
    with pytest.raises(EditError) as info:
        apply(base, edit)
    assert message in str(info.value)


def test_disable_tool_already_disabled(base):
    off = apply(base, DisableTool(name="write_file"))
    with pytest.raises(EditError, match="tools.write_file: already disabled"):
        apply(off, DisableTool(name="write_file"))


def test_edit_error_is_a_value_error():
    assert issubclass(EditError, ValueError)


# ---------------------------------------------------------------- diff of edits


def test_diff_for_edits(base):
    new = apply_all(base, [
        AddRule(section="verification", text="Check the output file exists."),
        SetRuntime(key="max_recent_errors", value=3),
        EnableMiddleware(name="persistent_shell"),
        ConfigureMiddleware(name="loop_breaker", params={"max_repeats": 2}),
        SetHook(hook="before_complete", script="test -s /app/out"),
        DisableTool(name="edit_file"),
    ])
    assert diff(base, new).splitlines() == [
        'prompt.verification: + rule "Check the output file exists."',
        "runtime.max_recent_errors: null -> 3",
        "middleware: + persistent_shell {}",
        'middleware: ~ loop_breaker {"max_repeats": 1} -> {"max_repeats": 2}',
        'hooks.before_complete: set "test -s /app/out"',
        "tools.edit_file: disabled",
    ]


# ---------------------------------------------------------------- JSON


def test_decode_valid_edits():
    data = json.dumps([
        {"op": "add_rule", "section": "execution", "text": "x"},
        {"op": "set_runtime", "key": "max_turns", "value": 40},
        {"op": "enable_middleware", "name": "persistent_shell"},
        {"op": "set_hook", "hook": "on_start", "script": None},
        {"op": "disable_tool", "name": "edit_file"},
    ])
    edits = decode_edits(data)
    assert edits == [
        AddRule(section="execution", text="x"),
        SetRuntime(key="max_turns", value=40),
        EnableMiddleware(name="persistent_shell"),
        SetHook(hook="on_start", script=None),
        DisableTool(name="edit_file"),
    ]
    assert decode_edits(encode_edits(edits)) == edits
    assert json.loads(encode_edits(edits))[0]["op"] == "add_rule"


@pytest.mark.parametrize(
    "data, message",
    [
        (b'[{"op": "grow_wings"}]', "edits[0].op: invalid value 'grow_wings' (known ops: add_rule,"),
        (b'[{"section": "execution", "text": "x"}]', "edits[0].op: missing required field"),
        (b'[{"op": "add_rule", "section": "execution"}]', "edits[0].text: missing required field"),
        (b'[{"op": "add_rule", "section": "execution", "text": 5}]', "edits[0].text: expected str, got int"),
        (b'[{"op": "add_rule", "section": "execution", "text": "x", "why": 1}]', "edits[0]: unknown field 'why'"),
        (b'[{"op": "enable_tool", "name": "shell"}, {"op": "add_rule", "section": "tests", "text": "x"}]',
         "edits[1]: surface 'tests' is read-only"),
        (b'[{"op": "set_runtime", "key": "max_turns", "value": "ten"}]', "edits[0]: runtime.max_turns: expected int, got str"),
        (b'[{"op": "enable_middleware", "name": "loop_breaker", "params": {"max_repeats": []}}]',
         "middleware.loop_breaker: params.max_repeats: expected int, got list"),
        (b'{"op": "add_rule"}', "edits: expected list, got mapping"),
        (b'[{"op": "add_rule"', "edits: not valid JSON"),
    ],
)
def test_decode_invalid_edits(data, message):
    with pytest.raises(EditError) as info:
        decode_edits(data)
    assert message in str(info.value)


def test_edit_schema_names_every_op():
    schema = edit_schema()
    json.dumps(schema)  # plain JSON
    assert schema["type"] == "array"
    assert set(schema["items"]["discriminator"]["mapping"]) == set(OPS)
    for name, d in schema["$defs"].items():
        if "op" in d.get("properties", {}):
            assert d["properties"]["op"]["enum"][0] in OPS
            assert "op" in d["required"]
    assert schema["$defs"]["AddRule"]["description"]


def test_edit_schema_is_valid_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = edit_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    good = json.loads(encode_edits([e for e, _ in EDITS]))
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate([{"op": "grow_wings"}], schema)
