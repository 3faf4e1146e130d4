"""The agent loop's own framing of a task: the reply format and one worked example.

Like Terminus-2's prompt template, this belongs to the loop, not to the harness: the
harness's prompt (its YAML, rendered as the system prompt) is what Self-Harness improves
and starts as the paper's minimal one. A real model still needs to know exactly what the
loop parses (`harnesses/action.py`) and which tools this harness has enabled, so the first
user message says it. Nothing here is a rule about how to work; that is the harness's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from harnesses.action import MIN_COMMAND_S

if TYPE_CHECKING:
    from harnesses.spec import HarnessSpec

TOOL_FORMS: dict[str, dict[str, Any]] = {
    "shell": {"keystrokes": "ls -la /app\n"},
    "read_file": {"tool": "read_file", "path": "/app/notes.txt"},
    "write_file": {"tool": "write_file", "path": "/app/out.txt", "content": "first line\n"},
    "edit_file": {"tool": "edit_file", "path": "/app/main.py", "old": "x = 1", "new": "x = 2"},
}
"""One command of each kind, in the shape `harnesses.action.Command` reads."""

_EXAMPLES: dict[str, dict[str, Any]] = {
    "shell": {
        "analysis": "server.log has lines starting with ERROR and /app/errors.txt does not exist yet.",
        "plan": "Write the number of ERROR lines to /app/errors.txt, then print it to check it.",
        "commands": [{"keystrokes": "grep -c '^ERROR' /app/server.log > /app/errors.txt\n"},
                     {"keystrokes": "cat /app/errors.txt\n"}],
        "task_complete": False},
    "write_file": {
        "analysis": "The task asks for a greeting in /app/hello.txt and the file does not exist yet.",
        "plan": "Write the file, then read it back to check it.",
        "commands": [{"tool": "write_file", "path": "/app/hello.txt", "content": "hello\n"},
                     {"tool": "read_file", "path": "/app/hello.txt"}],
        "task_complete": False},
    "read_file": {
        "analysis": "The task names /app/notes.txt; I have not read it yet.",
        "plan": "Read it before deciding what to change.",
        "commands": [{"tool": "read_file", "path": "/app/notes.txt"}],
        "task_complete": False},
    "edit_file": {
        "analysis": "main.py sets x = 1 and the task asks for x = 2.",
        "plan": "Change that one line.",
        "commands": [{"tool": "edit_file", "path": "/app/main.py", "old": "x = 1", "new": "x = 2"}],
        "task_complete": False},
}


def enabled_tools(harness: "HarnessSpec") -> list[tuple[str, str]]:
    return [(t.name, t.description) for t in harness.tools if t.enabled]


def worked_example(harness: "HarnessSpec") -> dict[str, Any]:
    """A complete reply from another task, using only tools this harness has enabled."""
    names = {name for name, _ in enabled_tools(harness)}
    for kind in ("shell", "write_file", "read_file", "edit_file"):
        example = _EXAMPLES[kind]
        if {c.get("tool", "shell") for c in example["commands"]} <= names:
            return example
    return {"analysis": "No tool is enabled.", "plan": "Declare the outcome.", "commands": [],
            "task_complete": True}


def reply_format(harness: "HarnessSpec") -> str:
    """How to reply: the keys of `Action`, one line per enabled command kind, how results come back."""
    timeout = harness.runtime.command_timeout_s
    forms = []
    for name, description in enabled_tools(harness):
        extra = f" Every command is stopped after {timeout:g} s at most." if name == "shell" else ""
        forms.append(f"  {json.dumps(TOOL_FORMS[name])}  {description}{extra}".rstrip())
    return "\n".join([
        "# How to reply",
        "Reply with exactly one JSON object and nothing else: no code fences, no text before or after it.",
        "Its keys:",
        '- "analysis" (string): what the last output shows and what it means for the task.',
        '- "plan" (string): what you will do next, and why.',
        '- "commands" (list, may be empty): run in order; each is one of',
        *forms,
        '  Give exactly one of "keystrokes" or "tool" in a command. A shell command may add "duration": the '
        f'seconds it may run ({MIN_COMMAND_S:g} to {timeout:g}; default {timeout:g}).',
        '- "task_complete" (true or false): true only when the task is done; this reply\'s commands run first.',
        'After each reply you get every command\'s result as "$ command", its output and "[exit N]";',
        "messages from the harness come in [brackets].",
    ])


def framing(harness: "HarnessSpec") -> str:
    """The reply format and the worked example, for the end of the first user message."""
    example = json.dumps(worked_example(harness), indent=2)
    return f"{reply_format(harness)}\n\n# Example\nA reply from another task:\n{example}"
