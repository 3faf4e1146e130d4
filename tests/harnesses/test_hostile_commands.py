"""Hostile commands from the agent are stopped and recorded, and the rollout goes on:
a fork bomb, an endless loop, a 2 GB write and a 100 MB output line."""

from __future__ import annotations

import json

import pytest

from actors.rollout import RolloutWorker, plan_episodes, summarize
from harnesses.edits import SetRuntime, apply
from harnesses.model import ModelReply
from tests.conftest import needs_bwrap, sim

pytestmark = needs_bwrap

HOSTILE = {
    "fork_bomb": ":(){ :|:& };:; sleep 30",
    "endless_loop": "while true; do :; done",
    "big_write": "head -c 2G /dev/zero > /app/big.bin",
    "long_line": "head -c 100M /dev/zero | tr '\\0' x",
}


class ScriptedModel:
    """A model double that sends one given command, then declares completion."""

    def __init__(self, command: str):
        self.command, self.name = command, "scripted"

    def complete(self, request):
        first = sum(1 for m in request.messages if m.role == "assistant") == 0
        reply = {"analysis": "", "plan": "", "task_complete": not first,
                 "commands": [{"keystrokes": self.command, "duration": 1}] if first else []}
        return ModelReply(text=json.dumps(reply), model=self.name)


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_command_is_stopped_recorded_and_others_go_on(kind, word_task, minimal, backend):
    harness = apply(minimal, SetRuntime(key="command_timeout_s", value=5.0))
    hostile = RolloutWorker([word_task], backend, ScriptedModel(HOSTILE[kind]), harness)
    trace = hostile.run(plan_episodes([word_task], 1, 0)[0])
    assert trace.infra_error is None and trace.reward == 0.0
    record = trace.commands[0]
    assert record.command == HOSTILE[kind]
    if kind == "long_line":
        assert record.truncated and len(record.output) <= 2 * harness.runtime.max_output_bytes
    else:
        assert record.killed_by is not None and record.exit_code != 0
    # the same backend serves the next episodes as if nothing happened
    normal = RolloutWorker([word_task], backend, sim(None, [word_task]), minimal)
    traces = [normal.run(s) for s in plan_episodes([word_task], 2, 0)]
    assert summarize(traces).pass_rate == 1.0
