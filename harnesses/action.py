"""The agent's reply (Terminus-2 style JSON) and how the harness talks back.

The reply is a JSON object: `analysis`, `plan`, `commands` (each `{"keystrokes": ...,
"duration": ...}` or a tool call `{"tool": "write_file", "path": ..., "content": ...}`)
and `task_complete`. Observations use a fixed, readable layout so that any model, the
simulated one included, can read them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec


class Command(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """One command: shell keystrokes or a tool call (a trace keeps only the fields the model gave)."""

    keystrokes: str | None = None
    duration: float | None = None
    """Seconds a shell command may run (at least MIN_COMMAND_S, at most the harness's command timeout);
    None: the command timeout."""
    tool: str | None = None
    path: str | None = None
    content: str | None = None
    old: str | None = None
    new: str | None = None


class Action(msgspec.Struct, kw_only=True):
    analysis: str = ""
    plan: str = ""
    commands: list[Command] = []
    task_complete: bool = False


class ReplyError(ValueError):
    """The model's reply is not a valid action; the message says what is wrong."""


PARSE_ERROR = "[harness] Your reply could not be parsed"
MIN_COMMAND_S = 5.0
"""The shortest `duration` honoured: a model that copies `"duration": 0.1` should not see `ls` killed."""
_COMMENT = re.compile(r'(?:^|[\s,{\[])//')
_UNKNOWN = re.compile(r"Object contains unknown field `(.*)` - at `\$\.commands\[(\d+)\]`$")
COMMAND_FIELDS = ("a command has only `keystrokes` (and `duration`), or `tool` with `path`, `content`, `old`, "
                  "`new`; a program and its arguments, such as `gcc -o greet greet.c`, go in `keystrokes`")


def object_end(text: str, start: int) -> int | None:
    """The index just past the {...} that opens at `start` (quotes respected), or None if it never closes."""
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def first_object(text: str) -> str | None:
    """The first balanced {...} in text (None: no object closes)."""
    start = text.find("{")
    while start != -1:
        end = object_end(text, start)
        if end is not None:
            return text[start:end]
        start = text.find("{", start + 1)
    return None


def diagnose(raw: str, error: json.JSONDecodeError) -> str:
    """What is wrong with a reply that is not one JSON object, in words a model can act on ('' if nothing
    more than the decoder's message)."""
    text = raw.strip()
    if not text:
        return "the reply is empty"
    if "{" in text and object_end(text, text.find("{")) is None:
        return "it ends before its JSON object closes (cut off at the reply's length limit?): send a shorter reply"
    if text.startswith("```"):
        return "it starts with a code fence (```): send the bare JSON object, without the fence"
    if "{" not in text:
        return "it holds no JSON object"
    if not text.startswith("{"):
        return "it has text before the JSON object"
    if error.msg == "Extra data":
        return "it has text after the JSON object"
    if _COMMENT.search(text):
        return "it has // comments, which JSON does not allow"
    return ""


def parse_strict(raw: str) -> dict[str, Any]:
    """The whole reply must be one JSON object and nothing else."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        cause = diagnose(raw, e)
        raise ReplyError(f"not valid JSON{': ' + cause if cause else ''} ({e.msg} at line {e.lineno} column "
                         f"{e.colno})") from None
    if not isinstance(value, dict):
        raise ReplyError(f"expected a JSON object, got {type(value).__name__}")
    return value


def to_action(value: dict[str, Any]) -> Action:
    """Check the parsed object against the action schema, naming the bad field."""
    if isinstance(value, dict) and not value.keys() & {"analysis", "plan", "commands", "task_complete"}:
        raise ReplyError(f"reply has none of the keys analysis, plan, commands, task_complete "
                         f"(got {sorted(value)[:5]})")
    try:
        action = msgspec.convert(value, Action)
    except msgspec.ValidationError as e:
        if m := _UNKNOWN.match(str(e)):  # a small model's favourite: a shell command spelt as a tool call
            raise ReplyError(f"commands[{m[2]}] has an unknown field {m[1]!r}: {COMMAND_FIELDS}") from None
        raise ReplyError(f"reply does not match the action schema: {e}") from None
    for i, cmd in enumerate(action.commands):
        if (cmd.keystrokes is None) == (cmd.tool is None):
            raise ReplyError(f"commands[{i}]: give exactly one of 'keystrokes' or 'tool'")
    return action


def format_command_result(command: str, output: str, exit_code: int | None, *, note: str = "") -> str:
    """How one command's result reads to the model."""
    lines = [f"$ {command}"]
    if output:
        lines.append(output.rstrip("\n"))
    if exit_code is not None:
        lines.append(f"[exit {exit_code}]")
    if note:
        lines.append(note)
    return "\n".join(lines)


def tagged(name: str, message: str) -> str:
    """A harness or middleware message: `[name] message`."""
    return f"[{name}] {message}"


def truncate_text(text: str, limit: int) -> str:
    """Keep the head and the tail, as Terminus does with long output."""
    data = text.encode()
    if len(data) <= limit:
        return text
    half = max(1, limit // 2)
    head = data[:half].decode(errors="ignore")
    tail = data[-half:].decode(errors="ignore")
    return f"{head}\n[... {len(data) - 2 * half} bytes truncated ...]\n{tail}"
