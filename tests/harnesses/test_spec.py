"""HarnessSpec: the minimal harness, YAML round trip, content ids, error messages, diffs."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
import yaml

from harnesses.middleware.params import LoopBreakerParams
from harnesses.spec import (
    KNOWN_TOOLS,
    READ_ONLY,
    SURFACES,
    HarnessError,
    HarnessSpec,
    Hooks,
    MiddlewareConfig,
    PromptSection,
    RuntimePolicy,
    diff,
    dumps_harness,
    load_harness,
    loads_harness,
    save_harness,
    yaml_diff,
)

MINIMAL = Path(__file__).resolve().parents[2] / "harnesses" / "minimal.yaml"


@pytest.fixture
def minimal() -> HarnessSpec:
    return load_harness(MINIMAL)


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(MINIMAL.read_text())


def load_err(data, source="harnesses/x.yaml") -> str:
    text = data if isinstance(data, str) else yaml.safe_dump(data)
    with pytest.raises(HarnessError) as info:
        loads_harness(text, source=source)
    return str(info.value)


# ---------------------------------------------------------------- the minimal harness


def test_minimal_is_the_papers_initial_harness(minimal):
    assert minimal.name == "minimal" and minimal.parent is None
    assert len(minimal.prompt.system.text.strip().splitlines()) == 3
    for sec in ("bootstrap", "execution", "verification", "recovery"):
        assert len(minimal.prompt.section(sec).text.strip().splitlines()) == 1
    assert minimal.runtime == RuntimePolicy(max_turns=30, command_timeout_s=60, max_output_bytes=10000)
    assert minimal.runtime.max_total_commands is None and minimal.runtime.max_recent_errors is None
    assert minimal.runtime.instruction is None and minimal.runtime.temperature == 0.7
    assert minimal.middleware == () and minimal.hooks == Hooks()
    assert minimal.enabled_tools() == list(KNOWN_TOOLS)
    for key in ("analysis", "plan", "commands", "keystrokes", "duration", "task_complete"):
        assert key in minimal.prompt.execution.text


def test_system_prompt_has_sections_but_not_recovery(minimal):
    text = minimal.system_prompt()
    assert text.startswith(minimal.prompt.system.text.strip())
    for heading in ("## Bootstrap", "## Execution", "## Verification"):
        assert heading in text
    assert minimal.prompt.recovery.text not in text


def test_section_render_puts_rules_after_text():
    sec = PromptSection(text="Do the work.", rules=("a rule", "another"))
    assert sec.render() == "Do the work.\n- a rule\n- another"
    assert PromptSection().render() == ""


def test_surfaces_and_read_only_are_disjoint():
    assert "prompt.recovery" in SURFACES and "middleware" in SURFACES
    assert not set(SURFACES) & set(READ_ONLY)


# ---------------------------------------------------------------- round trip and ids


def test_round_trip_through_yaml(minimal, tmp_path):
    path = tmp_path / "sub" / "h.yaml"
    save_harness(minimal, path)
    again = load_harness(path)
    assert again == minimal and again.id == minimal.id
    assert loads_harness(dumps_harness(minimal)) == minimal


def test_dump_keeps_declared_order_and_block_strings(minimal):
    text = dumps_harness(minimal)
    top = [line.split(":")[0] for line in text.splitlines() if line and not line[0].isspace() and line[0] != "-"]
    assert top == ["name", "description", "parent", "prompt", "runtime", "middleware", "hooks", "tools"]
    assert "text: |-" in text  # the 3-line system prompt


def test_id_is_short_stable_and_content_only(minimal):
    assert len(minimal.id) == 12 and int(minimal.id, 16) >= 0
    assert minimal.id == load_harness(MINIMAL).id
    renamed = msgspec.structs.replace(minimal, name="other", description="x", parent="abc")
    assert renamed.id == minimal.id
    changed = msgspec.structs.replace(minimal, runtime=RuntimePolicy(max_turns=31))
    assert changed.id != minimal.id


def test_id_ignores_spelling_out_default_params(minimal):
    a = msgspec.structs.replace(minimal, middleware=(MiddlewareConfig(name="loop_breaker"),))
    b = msgspec.structs.replace(minimal, middleware=(MiddlewareConfig(name="loop_breaker", params={"max_repeats": 1}),))
    c = msgspec.structs.replace(minimal, middleware=(MiddlewareConfig(name="loop_breaker", params={"max_repeats": 2}),))
    assert a.id == b.id != c.id


def test_middleware_helpers(minimal):
    spec = msgspec.structs.replace(minimal, middleware=(MiddlewareConfig(name="loop_breaker", params={"max_repeats": 2}),))
    assert spec.middleware_names() == ["loop_breaker"]
    assert spec.has_middleware("loop_breaker") and not spec.has_middleware("persistent_shell")
    assert spec.get_middleware("loop_breaker").typed_params() == LoopBreakerParams(max_repeats=2)
    assert spec.get_middleware("persistent_shell") is None


# ---------------------------------------------------------------- errors name file and field


def test_wrong_type(raw):
    raw["runtime"]["max_turns"] = "ten"
    assert load_err(raw) == "harnesses/x.yaml: runtime.max_turns: expected int, got str"


def test_unknown_top_level_field(raw):
    raw["runtme"] = {}
    msg = load_err(raw)
    assert msg.startswith("harnesses/x.yaml: unknown field 'runtme'") and "known: name" in msg


def test_unknown_nested_field(raw):
    raw["runtime"]["max_turn"] = 3
    assert load_err(raw).startswith("harnesses/x.yaml: runtime: unknown field 'max_turn' (known: max_turns")


def test_unknown_middleware(raw):
    raw["middleware"] = [{"name": "loop_breaker"}, {"name": "output_repair"}, {"name": "foo"}]
    msg = load_err(raw)
    assert msg.startswith("harnesses/x.yaml: middleware[2].name: unknown middleware 'foo' (known: ")
    assert "persistent_shell" in msg


def test_bad_middleware_params(raw):
    raw["middleware"] = [{"name": "loop_breaker", "params": {"max_repeats": "x"}}]
    assert load_err(raw) == "harnesses/x.yaml: middleware[0].params.max_repeats: expected int, got str"
    raw["middleware"] = [{"name": "loop_breaker", "params": {"max_rep": 1}}]
    assert load_err(raw) == "harnesses/x.yaml: middleware[0].params: unknown field 'max_rep' (known: max_repeats)"


def test_duplicate_middleware(raw):
    raw["middleware"] = [{"name": "loop_breaker"}, {"name": "loop_breaker"}]
    assert load_err(raw) == "harnesses/x.yaml: middleware: listed more than once: loop_breaker"


def test_missing_field(raw):
    del raw["tools"]
    assert load_err(raw) == "harnesses/x.yaml: tools: missing required field"
    raw["tools"] = [{"enabled": True}]
    assert load_err(raw) == "harnesses/x.yaml: tools[0].name: missing required field"


def test_unknown_tool(raw):
    raw["tools"].append({"name": "browser"})
    assert load_err(raw).startswith("harnesses/x.yaml: tools[4].name: unknown tool 'browser'")


def test_list_expected(raw):
    raw["prompt"]["execution"]["rules"] = "one rule"
    assert load_err(raw) == "harnesses/x.yaml: prompt.execution.rules: expected list, got str"


@pytest.mark.parametrize(
    "key, value, expect",
    [
        ("max_turns", 0, "runtime.max_turns: must be a positive integer, got 0"),
        ("max_recent_errors", -1, "runtime.max_recent_errors: must be a positive integer, got -1"),
        ("command_timeout_s", 0, "runtime.command_timeout_s: must be > 0"),
        ("temperature", 2.5, "runtime.temperature: must be between 0 and 2"),
        ("max_turns", True, "runtime.max_turns: expected int, got bool"),
    ],
)
def test_runtime_ranges(raw, key, value, expect):
    raw["runtime"][key] = value
    assert load_err(raw).startswith(f"harnesses/x.yaml: {expect}")


def test_not_yaml_not_mapping_empty_missing(tmp_path):
    assert load_err("a: [", "h.yaml").startswith("h.yaml: not valid YAML (line ")
    assert load_err("- 1\n- 2\n", "h.yaml") == "h.yaml: expected a mapping of harness fields, got list"
    assert load_err("", "h.yaml").startswith("h.yaml: the file is empty")
    with pytest.raises(HarnessError, match="nope.yaml: no such file"):
        load_harness(tmp_path / "nope.yaml")


def test_direct_construction_validates_too():
    with pytest.raises(HarnessError, match="unknown middleware 'foo'"):
        MiddlewareConfig(name="foo")
    with pytest.raises(HarnessError, match="max_turns: must be a positive integer"):
        RuntimePolicy(max_turns=0)


# ---------------------------------------------------------------- diff


def test_diff_empty_when_equal(minimal):
    assert diff(minimal, msgspec.structs.replace(minimal, name="renamed")) == ""
    assert yaml_diff(minimal, minimal) == ""


def test_diff_by_surface(minimal):
    r = minimal
    prompt = msgspec.structs.replace(
        r.prompt, execution=msgspec.structs.replace(r.prompt.execution, rules=("Chain cd with its command.",))
    )
    b = msgspec.structs.replace(
        r,
        prompt=prompt,
        runtime=msgspec.structs.replace(r.runtime, max_turns=40),
        middleware=(MiddlewareConfig(name="persistent_shell"),),
        hooks=Hooks(before_complete="test -s /app/out"),
    )
    assert diff(r, b).splitlines() == [
        'prompt.execution: + rule "Chain cd with its command."',
        "runtime.max_turns: 30 -> 40",
        "middleware: + persistent_shell {}",
        'hooks.before_complete: set "test -s /app/out"',
    ]
    assert diff(b, r).splitlines() == [
        'prompt.execution: - rule "Chain cd with its command."',
        "runtime.max_turns: 40 -> 30",
        "middleware: - persistent_shell",
        "hooks.before_complete: unset",
    ]
    text = yaml_diff(r, b)
    assert text.startswith(f"--- minimal@{r.id}\n+++ minimal@{b.id}")
    assert "-  max_turns: 30\n+  max_turns: 40" in text


def test_diff_middleware_params_and_order(minimal):
    a = msgspec.structs.replace(
        minimal, middleware=(MiddlewareConfig(name="loop_breaker"), MiddlewareConfig(name="output_repair"))
    )
    b = msgspec.structs.replace(
        minimal,
        middleware=(MiddlewareConfig(name="output_repair"), MiddlewareConfig(name="loop_breaker", params={"max_repeats": 3})),
    )
    assert diff(a, b).splitlines() == [
        'middleware: ~ loop_breaker {"max_repeats": 1} -> {"max_repeats": 3}',
        "middleware: order loop_breaker, output_repair -> output_repair, loop_breaker",
    ]

