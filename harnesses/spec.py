"""The harness as data: prompt sections, runtime policy, middleware, hooks and tools.

A harness is a frozen value. Its `id` is a hash of what it does (not of its name), so two
harnesses that behave the same share an id and lineage can point at parents by id. It is
read from and written to YAML; a bad file gives a `HarnessError` naming the file and field.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import yaml

from harnesses.middleware.params import MIDDLEWARE_PARAMS

PROMPT_SECTIONS = ("system", "bootstrap", "execution", "verification", "recovery")
SYSTEM_SECTIONS = ("system", "bootstrap", "execution", "verification")  # recovery is injected by middleware
KNOWN_TOOLS = ("shell", "read_file", "write_file", "edit_file")
HOOKS = ("on_start", "before_complete", "on_error")
SURFACES = tuple(f"prompt.{s}" for s in PROMPT_SECTIONS) + ("runtime", "middleware", "hooks", "tools")
READ_ONLY = ("verifier", "tests", "splits", "model", "acceptance")


class HarnessError(ValueError):
    """A harness file or value is invalid; the message names the file and the field."""


class _Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


# Validation inside __post_init__ raises HarnessError("<field>: <problem>"); msgspec wraps it in a
# ValidationError at the struct's path and `describe_validation_error` joins the two.


class PromptSection(_Spec, kw_only=True):
    """Free text plus itemised rules; rules are what edits add and remove, one at a time."""

    text: str = ""
    rules: tuple[str, ...] = ()

    def render(self) -> str:
        lines = [self.text.strip()] if self.text.strip() else []
        lines += [f"- {r}" for r in self.rules]
        return "\n".join(lines)


class Prompt(_Spec, kw_only=True):
    system: PromptSection = msgspec.field(default_factory=PromptSection)
    bootstrap: PromptSection = msgspec.field(default_factory=PromptSection)
    execution: PromptSection = msgspec.field(default_factory=PromptSection)
    verification: PromptSection = msgspec.field(default_factory=PromptSection)
    recovery: PromptSection = msgspec.field(default_factory=PromptSection)

    def section(self, name: str) -> PromptSection:
        if name not in PROMPT_SECTIONS:
            raise KeyError(f"unknown prompt section {name!r} (known: {', '.join(PROMPT_SECTIONS)})")
        return getattr(self, name)

    def render(self, section: str) -> str:
        return self.section(section).render()


class RuntimePolicy(_Spec, kw_only=True):
    """Limits of one episode. `instruction` is shown to the agent when a limit is hit."""

    max_turns: int = 30
    command_timeout_s: float = 60.0
    max_output_bytes: int = 10000
    max_total_commands: int | None = None
    max_recent_errors: int | None = None
    temperature: float = 0.7
    instruction: str | None = None

    def __post_init__(self) -> None:
        for key in ("max_turns", "max_output_bytes", "max_total_commands", "max_recent_errors"):
            v = getattr(self, key)
            if v is not None and v < 1:
                raise HarnessError(f"{key}: must be a positive integer, got {v}")
        if not self.command_timeout_s > 0:
            raise HarnessError(f"command_timeout_s: must be > 0, got {self.command_timeout_s}")
        if not 0.0 <= self.temperature <= 2.0:
            raise HarnessError(f"temperature: must be between 0 and 2, got {self.temperature}")


def middleware_params(name: str, params: dict) -> msgspec.Struct:
    """The typed params of middleware `name`; HarnessError('name: ...' or 'params...: ...') if they do not fit."""
    cls = MIDDLEWARE_PARAMS.get(name)
    if cls is None:
        raise HarnessError(f"name: unknown middleware {name!r} (known: {', '.join(MIDDLEWARE_PARAMS)})")
    try:
        return msgspec.convert(params, cls)
    except msgspec.ValidationError as e:
        raise HarnessError(describe_validation_error(e, cls, root="params")) from None


class MiddlewareConfig(_Spec, kw_only=True):
    name: str
    params: dict[str, Any] = {}

    def __post_init__(self) -> None:
        middleware_params(self.name, self.params)

    def typed_params(self) -> msgspec.Struct:
        return middleware_params(self.name, self.params)


class Hooks(_Spec, kw_only=True):
    """Shell scripts run inside the sandbox at these moments (None: no hook)."""

    on_start: str | None = None
    before_complete: str | None = None
    on_error: str | None = None


class ToolSpec(_Spec, kw_only=True):
    name: str
    enabled: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        if self.name not in KNOWN_TOOLS:
            raise HarnessError(f"name: unknown tool {self.name!r} (known: {', '.join(KNOWN_TOOLS)})")


class HarnessSpec(_Spec, kw_only=True):
    name: str
    description: str = ""
    parent: str | None = None
    prompt: Prompt
    runtime: RuntimePolicy
    middleware: tuple[MiddlewareConfig, ...] = ()
    hooks: Hooks = msgspec.field(default_factory=Hooks)
    tools: tuple[ToolSpec, ...]

    def __post_init__(self) -> None:
        for field, names in (("middleware", self.middleware_names()), ("tools", [t.name for t in self.tools])):
            dup = sorted({n for n in names if names.count(n) > 1})
            if dup:
                raise HarnessError(f"{field}: listed more than once: {', '.join(dup)}")

    @property
    def id(self) -> str:
        """12 hex of sha256 over the behaviour-defining content (name, description, parent excluded)."""
        content = {
            "prompt": self.prompt,
            "runtime": self.runtime,
            "middleware": [{"name": m.name, "params": m.typed_params()} for m in self.middleware],
            "hooks": self.hooks,
            "tools": self.tools,
        }
        return hashlib.sha256(msgspec.json.encode(content, order="sorted")).hexdigest()[:12]

    def middleware_names(self) -> list[str]:
        return [m.name for m in self.middleware]

    def has_middleware(self, name: str) -> bool:
        return name in self.middleware_names()

    def get_middleware(self, name: str) -> MiddlewareConfig | None:
        return next((m for m in self.middleware if m.name == name), None)

    def enabled_tools(self) -> list[str]:
        return [t.name for t in self.tools if t.enabled]

    def system_prompt(self) -> str:
        """The system prompt: system text first, then bootstrap/execution/verification under headings."""
        parts = [self.prompt.render("system")]
        for name in SYSTEM_SECTIONS[1:]:
            body = self.prompt.render(name)
            if body:
                parts.append(f"## {name.capitalize()}\n{body}")
        return "\n\n".join(p for p in parts if p)


# ---------------------------------------------------------------- errors


_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_PART = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_YAML_WORDS = {"array": "list", "object": "mapping"}
_LEAD = re.compile(r"^([A-Za-z_]\w*)((?:\.\w+|\[\d+\])*): (.*)$", re.S)


def _node_at(info: Any, parts: list) -> Any:
    """The msgspec type info at a path, or None when the path runs through a union or dict."""
    for p in parts:
        while isinstance(info, msgspec.inspect.UnionType):
            structs = [t for t in info.types if not isinstance(t, msgspec.inspect.NoneType)]
            if len(structs) != 1:
                return None
            info = structs[0]
        if isinstance(p, int) and isinstance(info, (msgspec.inspect.VarTupleType, msgspec.inspect.ListType)):
            info = info.item_type
        elif isinstance(p, str) and isinstance(info, msgspec.inspect.StructType):
            info = next((f.type for f in info.fields if f.name == p), None)
        else:
            return None
    return info


def _fmt_path(root: str, parts: list) -> str:
    s = root
    for p in parts:
        s += f"[{p}]" if isinstance(p, int) else (f".{p}" if s else p)
    return s


def describe_validation_error(err: msgspec.ValidationError, typ: Any, root: str = "") -> str:
    """Turn msgspec's 'Expected `int`, got `str` - at `$.runtime.max_turns`' into 'runtime.max_turns: expected int, got str'."""
    m = _AT.match(str(err))
    msg, raw = m["msg"], m["path"] or ""
    parts: list = [int(i) if i else f for f, i in _PART.findall(raw)]
    node = _node_at(msgspec.inspect.type_info(typ), parts)
    fields = [f.name for f in node.fields] if isinstance(node, msgspec.inspect.StructType) else []
    if mm := re.match(r"Object contains unknown field `(.*)`$", msg):
        msg = f"unknown field {mm[1]!r}" + (f" (known: {', '.join(fields)})" if fields else "")
    elif mm := re.match(r"Object missing required field `(.*)`$", msg):
        parts.append(mm[1])
        msg = "missing required field"
    elif (mm := _LEAD.match(msg)) and mm[1] in fields:  # "<field>: problem" from a __post_init__
        path = _fmt_path(_fmt_path(root, parts), [mm[1]]) + mm[2]
        return f"{path}: {mm[3]}"
    else:
        msg = re.sub(r"`(\w+)`", lambda t: _YAML_WORDS.get(t[1], t[1]), msg)
        msg = msg[:1].lower() + msg[1:]
    path = _fmt_path(root, parts)
    return f"{path}: {msg}" if path else msg


# ---------------------------------------------------------------- YAML


class _Dumper(yaml.SafeDumper):
    pass


def _str_repr(dumper: yaml.SafeDumper, s: str) -> yaml.Node:
    style = "|" if "\n" in s else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", s, style=style)


_Dumper.add_representer(str, _str_repr)


def loads_harness(text: str, source: str = "<string>") -> HarnessSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 1})" if where else ""
        raise HarnessError(f"{source}: not valid YAML{line}: {getattr(e, 'problem', None) or e}") from None
    if data is None:
        raise HarnessError(f"{source}: the file is empty; expected a mapping of harness fields")
    if not isinstance(data, dict):
        raise HarnessError(f"{source}: expected a mapping of harness fields, got {type(data).__name__}")
    try:
        return msgspec.convert(data, HarnessSpec)
    except msgspec.ValidationError as e:
        raise HarnessError(f"{source}: {describe_validation_error(e, HarnessSpec)}") from None


def load_harness(path: str | Path) -> HarnessSpec:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise HarnessError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"{path}: cannot read: {e}") from None
    return loads_harness(text, source=str(path))


def dumps_harness(spec: HarnessSpec) -> str:
    """YAML in declared field order, multi-line strings as blocks, so diffs of files stay readable."""
    return yaml.dump(msgspec.to_builtins(spec), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30)


def save_harness(spec: HarnessSpec, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(dumps_harness(spec))


# ---------------------------------------------------------------- diff


def _show(v: Any) -> str:
    return json.dumps(msgspec.to_builtins(v), ensure_ascii=False, sort_keys=True)


def diff(a: HarnessSpec, b: HarnessSpec) -> str:
    """What changed from `a` to `b`, one line per change, by surface; '' when the content is equal."""
    out: list[str] = []
    for name in PROMPT_SECTIONS:
        sa, sb = a.prompt.section(name), b.prompt.section(name)
        if sa.text != sb.text:
            out.append(f"prompt.{name}.text: {_show(sa.text)} -> {_show(sb.text)}")
        out += [f"prompt.{name}: - rule {_show(r)}" for r in sa.rules if r not in sb.rules]
        out += [f"prompt.{name}: + rule {_show(r)}" for r in sb.rules if r not in sa.rules]
        kept_a = [r for r in sa.rules if r in sb.rules]
        kept_b = [r for r in sb.rules if r in sa.rules]
        if kept_a != kept_b:
            out.append(f"prompt.{name}: rules reordered")
    for f in msgspec.structs.fields(RuntimePolicy):
        va, vb = getattr(a.runtime, f.name), getattr(b.runtime, f.name)
        if va != vb:
            out.append(f"runtime.{f.name}: {_show(va)} -> {_show(vb)}")
    ma = {m.name: m.typed_params() for m in a.middleware}
    mb = {m.name: m.typed_params() for m in b.middleware}
    out += [f"middleware: - {n}" for n in ma if n not in mb]
    out += [f"middleware: + {m.name} {_show(m.params)}" for m in b.middleware if m.name not in ma]
    out += [f"middleware: ~ {n} {_show(ma[n])} -> {_show(mb[n])}" for n in ma if n in mb and ma[n] != mb[n]]
    if [n for n in ma if n in mb] != [n for n in mb if n in ma]:
        out.append(f"middleware: order {', '.join(ma)} -> {', '.join(mb)}")
    for h in HOOKS:
        ha, hb = getattr(a.hooks, h), getattr(b.hooks, h)
        if ha != hb:
            out.append(f"hooks.{h}: " + ("unset" if hb is None else f"set {_show(hb)}"))
    ta, tb = {t.name: t for t in a.tools}, {t.name: t for t in b.tools}
    for n in KNOWN_TOOLS:
        x, y = ta.get(n), tb.get(n)
        on_a, on_b = bool(x and x.enabled), bool(y and y.enabled)
        if on_a != on_b:
            out.append(f"tools.{n}: {'enabled' if on_b else 'disabled'}")
        elif x and y and x.description != y.description:
            out.append(f"tools.{n}.description: {_show(x.description)} -> {_show(y.description)}")
    if not out and a.id != b.id:
        out.append("(only the order or listing of entries differs; see yaml_diff)")
    return "\n".join(out)


def yaml_diff(a: HarnessSpec, b: HarnessSpec) -> str:
    """Unified diff of the two YAML dumps, for humans reviewing a lineage."""
    lines = difflib.unified_diff(
        dumps_harness(a).splitlines(keepends=True),
        dumps_harness(b).splitlines(keepends=True),
        fromfile=f"{a.name}@{a.id}",
        tofile=f"{b.name}@{b.id}",
    )
    return "".join(lines)
