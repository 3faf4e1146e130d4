"""Typed, minimal edits to one surface of a harness, and the rules for applying them.

The proposer returns edits as JSON; `decode_edits` validates them against this schema and
`apply` refuses anything that is not a real, minimal change to an editable surface (read-only
surfaces, unknown names, no-ops, duplicates), always with an `EditError` saying what and where.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from harnesses.middleware.params import MIDDLEWARE_PARAMS
from harnesses.spec import (
    HOOKS,
    KNOWN_TOOLS,
    PROMPT_SECTIONS,
    READ_ONLY,
    SURFACES,
    HarnessError,
    HarnessSpec,
    MiddlewareConfig,
    RuntimePolicy,
    ToolSpec,
    describe_validation_error,
    middleware_params,
)

MAX_RULE_CHARS = 1000
RUNTIME_KEYS = tuple(f.name for f in msgspec.structs.fields(RuntimePolicy))


class EditError(ValueError):
    """An edit was refused; the message names the surface and what is wrong."""


def check_surface(surface: str) -> str:
    """Return `surface` if it is editable, else raise: read-only surfaces are never edited."""
    if surface in READ_ONLY or surface.removeprefix("prompt.") in READ_ONLY:
        raise EditError(f"surface {surface.removeprefix('prompt.')!r} is read-only")
    if surface not in SURFACES:
        raise EditError(f"unknown surface {surface!r} (editable: {', '.join(SURFACES)})")
    return surface


def _refuse_read_only(name: str) -> None:
    if name in READ_ONLY:
        raise EditError(f"surface {name!r} is read-only")


def _check_rule(surface: str, text: str) -> None:
    if not text.strip():
        raise EditError(f"{surface}: the rule is empty")
    if len(text) > MAX_RULE_CHARS:
        raise EditError(f"{surface}: the rule is {len(text)} characters; at most {MAX_RULE_CHARS}")


def _check_middleware(name: str, params: dict) -> None:
    _refuse_read_only(name)
    if name not in MIDDLEWARE_PARAMS:
        raise EditError(f"middleware: unknown middleware {name!r} (known: {', '.join(MIDDLEWARE_PARAMS)})")
    try:
        msgspec.convert(params, MIDDLEWARE_PARAMS[name])
    except msgspec.ValidationError as e:
        raise EditError(f"middleware.{name}: {describe_validation_error(e, MIDDLEWARE_PARAMS[name], 'params')}") from None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class _Edit(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="op", tag=_snake):
    """Checks that need no harness run in __post_init__, so decoding already rejects them."""

    @property
    def op(self) -> str:
        return self.__struct_config__.tag

    @property
    def surface(self) -> str:
        raise NotImplementedError


class _RuleEdit(_Edit, kw_only=True):
    section: str

    def __post_init__(self) -> None:
        sec = self.section.removeprefix("prompt.")
        _refuse_read_only(sec)
        if sec not in PROMPT_SECTIONS:
            raise EditError(f"unknown surface 'prompt.{sec}' (prompt sections: {', '.join(PROMPT_SECTIONS)})")
        msgspec.structs.force_setattr(self, "section", sec)  # "prompt.execution" and "execution" are one edit

    @property
    def surface(self) -> str:
        return f"prompt.{self.section}"


class AddRule(_RuleEdit, kw_only=True):
    """Append one rule (one short imperative line) to a prompt section."""

    text: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_rule(self.surface, self.text)


class RemoveRule(_RuleEdit, kw_only=True):
    """Remove one existing rule, given verbatim, from a prompt section."""

    text: str


class ReplaceRule(_RuleEdit, kw_only=True):
    """Replace one existing rule (`old`, verbatim) with `new`."""

    old: str
    new: str

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_rule(self.surface, self.new)
        if self.old == self.new:
            raise EditError(f"{self.surface}: old and new rule are the same (no-op)")


class SetRuntime(_Edit, kw_only=True):
    """Set one runtime-policy key (max_turns, command_timeout_s, ..., instruction); null unsets an optional limit."""

    key: str
    value: int | float | str | None

    def __post_init__(self) -> None:
        _refuse_read_only(self.key)
        if self.key not in RUNTIME_KEYS:
            raise EditError(f"runtime: unknown key {self.key!r} (known: {', '.join(RUNTIME_KEYS)})")
        _runtime_with(RuntimePolicy(), self.key, self.value)

    @property
    def surface(self) -> str:
        return "runtime"


def _runtime_with(runtime: RuntimePolicy, key: str, value: Any) -> RuntimePolicy:
    """`runtime` with key=value, type- and range-checked by RuntimePolicy itself."""
    try:
        return msgspec.convert(msgspec.structs.asdict(runtime) | {key: value}, RuntimePolicy)
    except msgspec.ValidationError as e:
        raise EditError(describe_validation_error(e, RuntimePolicy, "runtime")) from None


class _MiddlewareEdit(_Edit, kw_only=True):
    name: str

    @property
    def surface(self) -> str:
        return "middleware"


class EnableMiddleware(_MiddlewareEdit, kw_only=True):
    """Turn on a middleware (appended last, or just before `before`), with optional params."""

    params: dict[str, Any] = {}
    before: str | None = None

    def __post_init__(self) -> None:
        _check_middleware(self.name, self.params)
        if self.before == self.name:
            raise EditError(f"middleware: {self.name!r} cannot be placed before itself")


class DisableMiddleware(_MiddlewareEdit, kw_only=True):
    """Turn off an enabled middleware."""

    def __post_init__(self) -> None:
        _check_middleware(self.name, {})


class ConfigureMiddleware(_MiddlewareEdit, kw_only=True):
    """Change params of an enabled middleware; the given params are merged over the current ones."""

    params: dict[str, Any]

    def __post_init__(self) -> None:
        _check_middleware(self.name, self.params)
        if not self.params:
            raise EditError(f"middleware.{self.name}: no params given (no-op)")


class SetHook(_Edit, kw_only=True):
    """Set (a shell script run in the sandbox) or remove (null) one hook: on_start, before_complete, on_error."""

    hook: str
    script: str | None

    def __post_init__(self) -> None:
        _refuse_read_only(self.hook)
        if self.hook not in HOOKS:
            raise EditError(f"hooks: unknown hook {self.hook!r} (known: {', '.join(HOOKS)})")
        if self.script is not None and not self.script.strip():
            raise EditError(f"hooks.{self.hook}: empty script; use null to remove the hook")

    @property
    def surface(self) -> str:
        return "hooks"


class _ToolEdit(_Edit, kw_only=True):
    name: str

    def __post_init__(self) -> None:
        _refuse_read_only(self.name)
        if self.name not in KNOWN_TOOLS:
            raise EditError(f"tools: unknown tool {self.name!r} (known: {', '.join(KNOWN_TOOLS)})")

    @property
    def surface(self) -> str:
        return "tools"


class EnableTool(_ToolEdit, kw_only=True):
    """Make a tool available to the agent."""


class DisableTool(_ToolEdit, kw_only=True):
    """Take a tool away from the agent."""


Edit = (
    AddRule | RemoveRule | ReplaceRule | SetRuntime | EnableMiddleware | DisableMiddleware
    | ConfigureMiddleware | SetHook | EnableTool | DisableTool
)
EDIT_TYPES: tuple[type[_Edit], ...] = Edit.__args__
OPS = tuple(t.__struct_config__.tag for t in EDIT_TYPES)


# ---------------------------------------------------------------- applying


def _section(spec: HarnessSpec, edit: _RuleEdit, rules: tuple[str, ...]) -> HarnessSpec:
    sec = msgspec.structs.replace(spec.prompt.section(edit.section), rules=rules)
    return msgspec.structs.replace(spec, prompt=msgspec.structs.replace(spec.prompt, **{edit.section: sec}))


def _apply(spec: HarnessSpec, e: _Edit) -> HarnessSpec:
    """The edited spec (parent untouched), or EditError."""
    s = e.surface
    replace = msgspec.structs.replace
    if isinstance(e, _RuleEdit):
        rules = spec.prompt.section(e.section).rules
        if isinstance(e, AddRule):
            if e.text in rules:
                raise EditError(f"{s}: rule already present: {e.text!r}")
            return _section(spec, e, rules + (e.text,))
        old = e.text if isinstance(e, RemoveRule) else e.old
        if old not in rules:
            raise EditError(f"{s}: no such rule: {old!r} ({len(rules)} rules in this section)")
        if isinstance(e, RemoveRule):
            return _section(spec, e, tuple(r for r in rules if r != old))
        if e.new in rules:
            raise EditError(f"{s}: rule already present: {e.new!r}")
        return _section(spec, e, tuple(e.new if r == old else r for r in rules))
    if isinstance(e, SetRuntime):
        if getattr(spec.runtime, e.key) == e.value:
            raise EditError(f"runtime.{e.key}: already {msgspec.json.encode(e.value).decode()} (no-op)")
        return replace(spec, runtime=_runtime_with(spec.runtime, e.key, e.value))
    if isinstance(e, EnableMiddleware):
        names = spec.middleware_names()
        if e.name in names:
            raise EditError(f"middleware: {e.name!r} is already enabled")
        if e.before is not None and e.before not in names:
            raise EditError(f"middleware: cannot place {e.name!r} before {e.before!r}: it is not enabled")
        at = names.index(e.before) if e.before is not None else len(names)
        mw = list(spec.middleware)
        mw.insert(at, MiddlewareConfig(name=e.name, params=dict(e.params)))
        return replace(spec, middleware=tuple(mw))
    if isinstance(e, (DisableMiddleware, ConfigureMiddleware)):
        current = spec.get_middleware(e.name)
        if current is None:
            enabled = ", ".join(spec.middleware_names()) or "none"
            raise EditError(f"middleware: {e.name!r} is not enabled (enabled: {enabled})")
        if isinstance(e, DisableMiddleware):
            return replace(spec, middleware=tuple(m for m in spec.middleware if m.name != e.name))
        try:
            new = MiddlewareConfig(name=e.name, params=current.params | e.params)
        except HarnessError as err:
            raise EditError(f"middleware.{e.name}: {err}") from None
        if new.typed_params() == current.typed_params():
            raise EditError(f"middleware.{e.name}: params unchanged (no-op)")
        return replace(spec, middleware=tuple(new if m.name == e.name else m for m in spec.middleware))
    if isinstance(e, SetHook):
        if getattr(spec.hooks, e.hook) == e.script:
            state = "unset" if e.script is None else "set to this script"
            raise EditError(f"hooks.{e.hook}: already {state} (no-op)")
        return replace(spec, hooks=replace(spec.hooks, **{e.hook: e.script}))
    if isinstance(e, _ToolEdit):
        want = isinstance(e, EnableTool)
        current = next((t for t in spec.tools if t.name == e.name), None)
        if (current is not None and current.enabled) == want:
            raise EditError(f"tools.{e.name}: already {'enabled' if want else 'disabled'} (no-op)")
        if current is None:
            return replace(spec, tools=spec.tools + (ToolSpec(name=e.name),))
        return replace(spec, tools=tuple(replace(t, enabled=want) if t.name == e.name else t for t in spec.tools))
    raise EditError(f"not an edit: {e!r}")


def apply(spec: HarnessSpec, edit: Edit) -> HarnessSpec:
    """A new spec with `edit` applied and `parent` set to `spec.id`; the old spec is unchanged."""
    new = _apply(spec, edit)
    if new.id == spec.id:
        raise EditError(f"{edit.surface}: the edit changes nothing (no-op)")
    return msgspec.structs.replace(new, parent=spec.id)


def apply_all(spec: HarnessSpec, edits: list[Edit] | tuple[Edit, ...]) -> HarnessSpec:
    """Apply a proposal's edits in order; one child of `spec`, not a chain of intermediate versions."""
    if not edits:
        raise EditError("no edits given")
    new = spec
    for i, edit in enumerate(edits):
        try:
            new = apply(new, edit)
        except EditError as e:
            raise EditError(f"edit {i} ({edit.op}): {e}") from None
    if new.id == spec.id:
        raise EditError("the edits together change nothing (no-op)")
    return msgspec.structs.replace(new, parent=spec.id)


# ---------------------------------------------------------------- JSON


def decode_edits(data: bytes | str) -> list[Edit]:
    """Edits from the proposer's JSON (a list of objects with an "op"); EditError names the bad field."""
    try:
        return msgspec.json.decode(data, type=list[Edit])
    except msgspec.ValidationError as e:
        msg = describe_validation_error(e, list[Edit], root="edits")
        if re.match(r"edits\[\d+\]\.op: invalid value", msg):
            msg += f" (known ops: {', '.join(OPS)})"
        raise EditError(msg) from None
    except msgspec.DecodeError as e:
        raise EditError(f"edits: not valid JSON: {e}") from None


def encode_edits(edits: list[Edit] | tuple[Edit, ...]) -> bytes:
    return msgspec.json.encode(list(edits))


def edit_schema() -> dict:
    """JSON schema of a list of edits, for the proposer's brief and for structured output."""
    return msgspec.json.schema(list[Edit])


def describe(edit: Edit) -> str:
    """One line for a person (and for the proposer's history)."""
    fields = {k: v for k, v in msgspec.structs.asdict(edit).items() if v not in (None, {}, ())}
    return f"{edit.op} " + " ".join(f"{k}={v!r}" for k, v in fields.items())


def summarize_edits(edits: list[dict] | list[Edit]) -> str:
    """The canonical one-line summary of a proposal's edits (dicts as the proposer wrote them, or edits)."""
    typed = decode_edits(msgspec.json.encode(edits)) if edits and isinstance(edits[0], dict) else list(edits)
    return "; ".join(describe(e) for e in typed)
