"""The rollout summary a person reads: episodes that tampered with the verifier are counted on their own,
as failures (never infrastructure errors), and the other numbers do not move."""

from __future__ import annotations

import msgspec

from actors.rollout import format_table, summarize
from actors.records import RolloutSummary
from harnesses.trace import Tampering, Trace

PLANTED = Tampering(path="/logs/verifier/reward.txt", change="planted")


def _trace(task: str, reward: float | None, **kw) -> Trace:
    return Trace(task=task, harness_id="h1", model="sim", attempt=0, seed=0, reward=reward, stop_reason="completed",
                 **kw)


def test_tampering_is_counted_apart_and_as_a_failure():
    traces = [_trace("a", 1.0), _trace("b", 1.0, tampering=[PLANTED, Tampering(path="/tests/x", change="changed")]),
              _trace("c", 0.0, tampering=[PLANTED]), _trace("d", None, infra_error="sandbox: gone")]
    s = summarize(traces)
    assert s.tampered == 2  # episodes, not records
    assert (s.episodes, s.passed, s.failed, s.infra_errors) == (4, 1, 2, 1)
    assert s.pass_rate == 1 / 3 and s.by_cause["verifier_tampering"] == 2 and s.by_task["b"] == [0, 1]
    text = format_table(s)
    assert "verifier tampering  2 episodes" in text and "verifier_tampering    2" in text
    assert msgspec.json.decode(msgspec.json.encode(s), type=RolloutSummary).tampered == 2
    assert msgspec.to_builtins(s)["tampered"] == 2  # what `selfharness rollout --json` prints


def test_an_honest_rollout_says_none_tampered():
    s = summarize([_trace("a", 1.0), _trace("b", 0.0)])
    assert s.tampered == 0 and "verifier tampering  0 episodes" in format_table(s)
    assert "verifier_tampering" not in s.by_cause
