"""Parsing the model's reply: strict by default, tolerant with output_repair; garbage is refused clearly."""

import pytest

from harnesses.action import ReplyError, parse_strict, to_action, truncate_text
from harnesses.middleware.explore_budget import is_read_only
from harnesses.middleware.output_repair import repair

GOOD = '{"analysis": "a", "plan": "p", "commands": [{"keystrokes": "ls\\n", "duration": 1}], "task_complete": false}'


def test_strict_accepts_a_bare_object():
    action = to_action(parse_strict(GOOD))
    assert action.commands[0].keystrokes == "ls\n" and not action.task_complete


@pytest.mark.parametrize("raw", [
    "```json\n" + GOOD + "\n```",
    GOOD + "\n\nI will now run this.",
    "Sure! Here is my answer: " + GOOD,
    "{'analysis': 'a', 'plan': 'p', 'commands': [{'keystrokes': 'ls', 'duration': 1}], 'task_complete': False}",
])
def test_malformed_replies_fail_strict_but_repair(raw):
    with pytest.raises(ReplyError):
        parse_strict(raw)
    assert to_action(repair(raw)).commands[0].keystrokes.strip() == "ls"


@pytest.mark.parametrize("raw", ["", "no json here", "[1, 2]", "{unclosed", "\x00\xff" * 50])
def test_garbage_is_refused_by_both(raw):
    with pytest.raises(ReplyError):
        parse_strict(raw)
    assert repair(raw) is None


@pytest.mark.parametrize("value,field", [
    ({"commands": "ls"}, "commands"),
    ({"commands": [{"keystrokes": "ls", "tool": "read_file"}]}, "exactly one"),
    ({"commands": [{"keys": "ls"}]}, "keys"),
    ({"task_complete": "yes"}, "task_complete"),
])
def test_schema_errors_name_the_field(value, field):
    with pytest.raises(ReplyError, match=field):
        to_action(value)


def test_truncation_keeps_head_and_tail():
    text = "A" * 5000 + "B" * 5000
    out = truncate_text(text, 1000)
    assert out.startswith("A" * 500) and out.endswith("B" * 500) and "truncated" in out


@pytest.mark.parametrize("cmd,expected", [
    ("ls -la /app", True), ("cat a | head -n 3", True), ("git status", True), ("find /app -type f | wc -l", True),
    ("echo hi > f", False), ("python3 x.py", False), ("git commit -m x", False), ("sed -i s/a/b/ f", False),
])
def test_read_only_commands(cmd, expected):
    assert is_read_only(cmd) is expected
