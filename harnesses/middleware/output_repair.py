"""Tolerant parsing of the model's reply: code fences, trailing text, single quotes, comments.

A model that wraps its JSON in a fence or writes a Python dict has still said what it
means; this recovers it instead of spending the turn.
"""

from __future__ import annotations

import ast
import json
import re

from harnesses.action import COMMAND_FIELDS, Command, first_object
from harnesses.middleware.base import EpisodeContext, Middleware

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


_LITERALS = {"true": "True", "false": "False", "null": "None"}
_LITERAL = re.compile(r"true|false|null")


def strip_comments(text: str, python_literals: bool = False) -> str:
    """`text` without `//` and `/* */` comments and trailing commas outside strings (what small models add
    to JSON); with `python_literals`, true/false/null outside strings become Python's, for ast.literal_eval."""
    out: list[str] = []
    i, quote = 0, ""
    while i < len(text):
        ch = text[i]
        if quote:
            out.append(ch)
            if ch == "\\" and i + 1 < len(text):
                out.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            out.append(ch)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end == -1 else end
            continue
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = len(text) if end == -1 else end + 2
            continue
        elif ch == "," and _CLOSES.match(text, i + 1):
            pass
        elif python_literals and (m := _LITERAL.match(text, i)) and not (out and (out[-1][-1:].isalnum()
                                                                                   or out[-1] == "_")):
            out.append(_LITERALS[m.group(0)])
            i = m.end()
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


_CLOSES = re.compile(r"\s*[}\]]")


def repair(raw: str) -> dict | None:
    """Try, in order: fenced block, first balanced object, Python literal (single quotes, True/False);
    each as given, then without comments and trailing commas."""
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    for candidate in candidates:
        obj = first_object(candidate)
        if obj is None:
            continue
        for loader in (json.loads, ast.literal_eval, lambda o: json.loads(strip_comments(o))):
            try:
                value = loader(obj)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, dict) and value.keys() & ACTION_KEYS:  # not a command of a reply cut off
                return value
    return None


ACTION_KEYS = {"analysis", "plan", "commands", "task_complete"}
COMMAND_KEYS = set(Command.__struct_fields__)


class OutputRepair(Middleware):
    """Recovers a malformed reply, and drops the fields a command does not have (telling the model which)."""

    name = "output_repair"

    def __init__(self, params):
        super().__init__(params)
        self.notes: list[str] = []

    def parse_reply(self, ctx: EpisodeContext, raw: str) -> dict | None:
        value = repair(raw)
        if value is not None:
            ctx.emit(self.name, "repair", "recovered a JSON object from a malformed reply")
        return value

    def repair_action(self, ctx: EpisodeContext, value: dict, error: str) -> dict | None:
        commands = value.get("commands")
        if not isinstance(commands, list):
            return None
        dropped = {i: sorted(set(c) - COMMAND_KEYS) for i, c in enumerate(commands) if isinstance(c, dict)}
        dropped = {i: names for i, names in dropped.items() if names}
        if not dropped:
            return None
        said = "; ".join(f"commands[{i}]: {', '.join(names)}" for i, names in dropped.items())
        ctx.emit(self.name, "repair", f"dropped unknown fields ({said})")
        self.notes.append(f"Ignored unknown fields ({said}): {COMMAND_FIELDS}.")
        return {**value, "commands": [{k: v for k, v in c.items() if k in COMMAND_KEYS} if isinstance(c, dict)
                                      else c for c in commands]}

    def after_turn(self, ctx: EpisodeContext, action, results) -> list[str]:
        notes, self.notes = self.notes, []
        return notes
