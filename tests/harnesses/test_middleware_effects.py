"""Each middleware, shown on a real episode: the sim's failure bites under the minimal
harness and the middleware removes it through its real mechanism (real sandbox, real
verifier)."""

from __future__ import annotations

import pytest

from harnesses.agent import run_episode
from harnesses.edits import EnableMiddleware, apply
from harnesses.outcome import families
from tests.conftest import needs_bwrap, sim

pytestmark = needs_bwrap

CASES = [
    # quirk the model has, middleware that fixes it, event the middleware leaves in the trace
    ("premature_complete", "artifact_check", "reject_completion"),
    ("split_state", "persistent_shell", "wrap"),
    ("repeat_failing", "loop_breaker", "block"),
    ("missing_tool", "tool_preflight", "inject"),
    ("missing_tool", "error_recovery", "inject"),
    ("malformed_json", "output_repair", "repair"),
    ("explore_long", "explore_budget", "inject"),
]


@pytest.mark.parametrize("quirk,middleware,event", CASES)
def test_middleware_removes_the_failure(quirk, middleware, event, word_task, minimal, backend):
    model = sim(quirk, [word_task])
    before = run_episode(word_task, minimal, model, backend, seed=1)
    assert before.infra_error is None, before.infra_error
    assert not before.passed, f"{quirk} should make the minimal harness fail"
    assert quirk in families(before), f"{quirk} should be visible in the trace"

    fixed = apply(minimal, EnableMiddleware(name=middleware))
    after = run_episode(word_task, fixed, model, backend, seed=1)
    assert after.infra_error is None, after.infra_error
    assert after.passed, f"{middleware} should fix {quirk}: {after.stop_reason} {after.verifier_output[-300:]}"
    assert any(e.name == middleware and e.kind == event for e in after.events)


def test_flawless_model_passes_under_minimal(word_task, minimal, backend):
    trace = run_episode(word_task, minimal, sim(None, [word_task]), backend, seed=3)
    assert trace.passed and trace.completed and trace.stop_reason == "completed"
    assert families(trace) == set()
    # only the natural first try fails, once; the model then moves on to the step that works
    assert [c.command for c in trace.commands if c.exit_code != 0] == ["sort --no-such-flag /app/words.txt"]


def test_persistent_shell_keeps_cwd_env_and_path(word_task, minimal, backend):
    from harnesses.agent import Episode
    from harnesses.trace import Trace

    harness = apply(minimal, EnableMiddleware(name="persistent_shell"))
    sandbox = backend.open(word_task, __import__("harnesses.sandbox", fromlist=["Limits"]).Limits())
    try:
        ep = Episode(word_task, harness, sim(None, [word_task]), sandbox, Trace(task="t", harness_id="h", model="m",
                                                                                  attempt=0, seed=0))
        from harnesses.action import Command
        notes: list[str] = []
        for cmd in ["mkdir -p /app/d && cd /app/d", "export GREETING=hi", "export PATH=/app/d:$PATH"]:
            ep._run_command(Command(keystrokes=cmd), notes)
        out, result = ep._run_command(Command(keystrokes='echo "$(pwd) $GREETING $PATH"'), notes)
        assert result.exit_code == 0
        assert "/app/d hi /app/d:" in result.output
    finally:
        sandbox.close()
