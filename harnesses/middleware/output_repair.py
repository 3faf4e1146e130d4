"""Tolerant parsing of the model's reply: code fences, trailing text, single quotes, comments.

A model that wraps its JSON in a fence or writes a Python dict has still said what it
means; this recovers it instead of spending the turn.
"""

from __future__ import annotations

import ast
import json
import re

from harnesses.middleware.base import EpisodeContext, Middleware

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def first_object(text: str) -> str | None:
    """The first balanced {...} in text, respecting quoted strings."""
    start = text.find("{")
    while start != -1:
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
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start:i + 1]
        start = text.find("{", start + 1)
    return None


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
            if isinstance(value, dict):
                return value
    return None


class OutputRepair(Middleware):
    name = "output_repair"

    def parse_reply(self, ctx: EpisodeContext, raw: str) -> dict | None:
        value = repair(raw)
        if value is not None:
            ctx.emit(self.name, "repair", "recovered a JSON object from a malformed reply")
        return value
