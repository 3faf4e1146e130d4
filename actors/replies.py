"""Reading JSON out of a real model's reply, for the loop's own calls (labeller, proposer).

Open models wrap the answer they were asked for: a reasoning block (sometimes only its
closing tag, when the chat template opened it), code fences, prose around it, a Python
dict, trailing commas, an echo of the input before the answer, or a reply cut by
max_tokens. The agent's own replies are NOT read here: how tolerant the agent's parser
is belongs to the harness (the `output_repair` middleware), which Self-Harness improves.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from harnesses.action import object_end
from harnesses.middleware.output_repair import strip_comments
from harnesses.model import strip_reasoning

_FENCE = re.compile(r"```[A-Za-z]*\s*\n?(.*?)```", re.DOTALL)
_OPENS_OBJECT = re.compile(r"\{\s*[\"']")


def strip_think(text: str) -> str:
    """The answer after a reasoning block: `<think>...</think>`, a lone `</think>`, or nothing if never closed."""
    text, _ = strip_reasoning(text)
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    if text.lstrip().startswith("<think>"):
        return ""  # cut while still thinking: there is no answer
    return text


def _relaxed(obj: str) -> str:
    """JSON with comments, trailing commas and true/false/null, rewritten as a Python literal."""
    return strip_comments(obj, python_literals=True)


def _load(obj: str) -> Any:
    for attempt in (lambda: json.loads(obj), lambda: ast.literal_eval(obj), lambda: ast.literal_eval(_relaxed(obj))):
        try:
            return attempt()
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return None


def objects(text: str) -> list[dict]:
    """Every top-level {...} in text that loads (JSON, Python literal, or relaxed JSON), in order.

    One that does not load is skipped whole, never searched for inner objects: a stage or a
    proposal torn out of a broken answer would be taken for the answer.
    """
    found, pos = [], 0
    while (start := text.find("{", pos)) != -1:
        looks = _OPENS_OBJECT.match(text, start) is not None  # else a brace in prose, e.g. `{a,b}`
        end = object_end(text, start)
        if end is None:
            if looks:
                break  # an answer cut off: nothing after it is whole
            pos = start + 1
            continue
        value = _load(text[start:end])
        if isinstance(value, dict) and value:
            found.append(value)
            pos = end
        else:
            pos = end if looks else start + 1
    return found


def loads_reply(raw: str, want: tuple[str, ...] = ()) -> Any:
    """The JSON value the reply means, or None.

    A whole-reply JSON value wins; otherwise fenced blocks, then the reply, are searched
    for objects, and the first that has the first of the `want` keys found is taken (a model
    may echo its input before its answer), else the first object.
    """
    text = strip_think(raw).strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    found: list[Any] = []
    for candidate in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        found += objects(candidate)
    for key in want:  # in the order of `want`: an answer beats an echo that shares a lesser key
        for value in found:
            if key in value:
                return value
    return found[0] if found else None


def complete_items(raw: str, key: str) -> tuple[list[Any], bool]:
    """The complete objects of the list under `key` in a reply that was cut off, and whether one was cut.

    A reply stopped by max_tokens in its third proposal still holds two whole ones.
    """
    text = strip_think(raw)
    m = re.search(r"[\"']" + re.escape(key) + r"[\"']\s*:\s*\[", text)
    if m is None:
        return [], False
    items, pos = [], m.end()
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        if pos >= len(text) or text[pos] != "{":
            return items, pos >= len(text)
        end = object_end(text, pos)
        if end is None:
            return items, True
        value = _load(text[pos:end])
        if not isinstance(value, dict):
            return items, False
        items.append(value)
        pos = end
