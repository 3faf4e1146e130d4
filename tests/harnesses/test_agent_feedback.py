"""What the agent loop tells a model and sends it, for the ways a real small model went wrong (issue 13):
a seed per turn, `duration` in seconds, tool names, the cause of a parse error, a context overflow."""

from __future__ import annotations

import json
import time

import pytest

from actors.mining.signatures import extract
from harnesses.agent import Episode, tool_refusal
from harnesses.edits import EnableMiddleware, apply
from harnesses.model import ContextOverflow, ModelReply, ModelRequest, episode_seed, sampling_seed
from harnesses.outcome import failure_cause
from harnesses.prompts import framing
from harnesses.sandbox import ExecResult
from harnesses.trace import Trace


class Scripted:
    """A model double that answers from a list (the last answer repeats) and records every request."""

    name = "scripted"

    def __init__(self, *replies):
        self.replies, self.requests = list(replies), []

    def complete(self, request: ModelRequest) -> ModelReply:
        self.requests.append(request)
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        if isinstance(reply, Exception):
            raise reply
        return ModelReply(text=reply, model=self.name, prompt_tokens=10, completion_tokens=5)


class RecordingSandbox:
    """Runs nothing; records the timeout each command was given."""

    def __init__(self):
        self.timeouts: list[float] = []

    def exec(self, command, *, timeout_s, cwd=None):
        self.timeouts.append(timeout_s)
        return ExecResult(exit_code=0, output="ok", duration_s=0.0)


def episode(task, harness, model, sandbox=None) -> Episode:
    trace = Trace(task=task.name, harness_id=harness.id, model=model.name, attempt=0, seed=4)
    return Episode(task, harness, model, sandbox or RecordingSandbox(), trace)


def reply(*commands, complete=False) -> str:
    return json.dumps({"analysis": "a", "plan": "p", "commands": list(commands), "task_complete": complete})


def test_every_turn_gets_its_own_seed_and_a_rerun_the_same(word_task, minimal):
    runs = []
    for _ in range(2):
        model = Scripted("```json\n{}\n```")
        ep = episode(word_task, minimal, model)
        ep.run(seed=4, deadline=time.monotonic() + 60)
        runs.append([sampling_seed(r) for r in model.requests])
    assert runs[0] == runs[1] and len(set(runs[0])) == len(runs[0]) == minimal.runtime.max_turns
    assert runs[0][0] == 4  # turn 0 keeps the episode's seed
    # a simulated model behind an OpenAI API sees only the sampling seed, and gets the episode's back
    assert {episode_seed(ModelRequest(messages=(), seed=s), turn) for turn, s in enumerate(runs[0])} == {4}


def test_duration_is_seconds_bounded_by_the_runtime_policy(word_task, minimal):
    sandbox = RecordingSandbox()
    model = Scripted(reply({"keystrokes": "a\n", "duration": 30}, {"keystrokes": "b\n", "duration": 0.1},
                           {"keystrokes": "c\n"}, {"keystrokes": "d\n", "duration": 10_000}, complete=True))
    episode(word_task, minimal, model, sandbox).run(seed=0, deadline=time.monotonic() + 60)
    limit = minimal.runtime.command_timeout_s
    assert sandbox.timeouts == [30, 5, limit, limit]
    assert '"duration"' in framing(minimal) and "seconds" in framing(minimal)


def test_a_tool_that_is_a_shell_command_is_answered_with_what_the_tools_are(word_task, minimal):
    assert "'cat' is not a tool" in tool_refusal("cat", {"shell", "read_file"})
    text = tool_refusal("cat", {"shell", "read_file", "write_file"})
    assert "the tools are read_file, write_file" in text and '"keystrokes"' in text
    assert tool_refusal("edit_file", {"shell"}).startswith("the edit_file tool is not enabled")
    model = Scripted(reply({"tool": "cat", "path": "/app/x"}), reply(complete=True))
    ep = episode(word_task, minimal, model)
    ep.run(seed=0, deadline=time.monotonic() + 60)
    assert "is not a tool" in ep.trace.turns[0].observation and '"keystrokes"' in ep.trace.turns[0].observation


@pytest.mark.parametrize("raw,cause", [
    ('```json\n{"commands": []}\n```', "code fence"),
    ('Here is my reply: {"commands": []}', "text before the JSON object"),
    ('{"commands": []} I hope this helps', "text after the JSON object"),
    ('{"commands": [], // nothing yet\n "task_complete": false}', "// comments"),
    ("", "empty"),
    ('```json\n{"analysis": "a", "commands": [{"keystrokes": "ls"}, {"keystrokes": "sed -i \'s/a', "cut off"),
    (reply({"keystrokes": "ls"}, {"tool": "sort", "args": "-n"}), "commands[1] has an unknown field 'args'"),
])
def test_a_parse_error_names_its_cause(word_task, minimal, raw, cause):
    model = Scripted(raw)
    ep = episode(word_task, minimal, model)
    ep.run(seed=0, deadline=time.monotonic() + 60)
    first, second = ep.trace.turns[:2]
    assert cause in first.parse_error and cause in first.observation
    assert "same as the last one" not in first.observation and "same as the last one" in second.observation


def test_output_repair_reads_json_with_comments(word_task, minimal):
    harness = apply(minimal, EnableMiddleware(name="output_repair"))
    raw = '{"analysis": "see http://x", // why\n "commands": [{"keystrokes": "ls\\n"},], "task_complete": false}'
    action = episode(word_task, harness, Scripted()).parse(raw)
    assert action.analysis == "see http://x" and [c.keystrokes for c in action.commands] == ["ls\n"]


def test_output_repair_drops_fields_a_command_lacks_says_so_and_runs_the_rest(word_task, minimal):
    harness = apply(minimal, EnableMiddleware(name="output_repair"))
    model = Scripted(reply({"keystrokes": "ls\n", "output": "x.txt"}, {"tool": "gcc", "path": "/app/g.c", "exit": 1}),
                     reply(complete=True))
    sandbox = RecordingSandbox()
    ep = episode(word_task, harness, model, sandbox)
    ep.run(seed=0, deadline=time.monotonic() + 60)
    first = ep.trace.turns[0]
    assert first.parse_error is None and len(sandbox.timeouts) >= 1, "the shell command ran"
    assert "Ignored unknown fields (commands[0]: output; commands[1]: exit)" in first.observation
    assert "'gcc' is not a tool" in first.observation and "go in `keystrokes`" in first.observation
    assert any(e.name == "output_repair" and e.kind == "repair" for e in ep.trace.events)
    assert "Ignored unknown fields" not in (ep.trace.turns[1].observation or "")


def test_a_context_overflow_is_the_agents_failure_with_the_servers_words(word_task, minimal):
    said = "Requested tokens (4200) exceed context window of 4096"
    model = Scripted(reply({"keystrokes": "ls\n"}), ContextOverflow(f"http://m/v1: HTTP 400: {said}"))
    ep = episode(word_task, minimal, model)
    ep.run(seed=0, deadline=time.monotonic() + 60)
    trace = ep.trace
    trace.reward = 0.0  # what the verifier then gives the unfinished work
    assert trace.stop_reason == "context_overflow" and trace.infra_error is None
    assert failure_cause(trace) == "context_overflow"
    sig = extract(trace)
    assert sig.mechanism == "context_overflow" and sig.actionable and said in sig.evidence
