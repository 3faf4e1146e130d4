"""Bad input never stops a rollout: a broken verifier, garbage from the model, a crashing
model, a sandbox that cannot start. Each is recorded; the other episodes go on."""

from __future__ import annotations

import shutil

from actors.rollout import RolloutWorker, plan_episodes, summarize
from harnesses.agent import run_episode
from harnesses.model import ModelError, ModelReply
from harnesses.sandbox import SandboxError
from harnesses.tasks import load_suite
from tests.conftest import FIXTURE_SUITE, needs_bwrap, sim

pytestmark = needs_bwrap


class GarbageModel:
    """A model double that answers with bytes no parser can read."""

    name = "garbage"

    def complete(self, request):
        return ModelReply(text="\x00<html>502 Bad Gateway</html>{{{", model=self.name)


class DeadModel:
    name = "dead"

    def complete(self, request):
        raise ModelError("connection refused")


def test_garbage_replies_cost_turns_not_the_run(word_task, minimal, backend):
    trace = run_episode(word_task, minimal, GarbageModel(), backend)
    assert trace.infra_error is None and not trace.passed
    assert trace.stop_reason == "max_turns" and all(t.parse_error for t in trace.turns)
    assert "not valid JSON" in trace.turns[0].parse_error


def test_model_failure_is_infrastructure(word_task, minimal, backend):
    trace = run_episode(word_task, minimal, DeadModel(), backend)
    assert trace.stop_reason == "model_error" and "connection refused" in trace.infra_error


def test_broken_verifier_and_broken_task_are_recorded_and_others_run(tmp_path, minimal):
    from actors.sandbox.local import LocalSandboxBackend

    suite_dir = tmp_path / "suite"
    shutil.copytree(FIXTURE_SUITE, suite_dir)
    shutil.copytree(suite_dir / "word-report", suite_dir / "no-reward")
    (suite_dir / "no-reward" / "tests" / "test.sh").write_text("#!/bin/bash\necho forgot the reward\n")
    (suite_dir / "no-reward" / "instruction.md").write_text("A task whose verifier writes no reward file.")
    shutil.copytree(suite_dir / "word-report", suite_dir / "broken")
    (suite_dir / "broken" / "task.toml").write_text("[agent]\ntimeout_sec = 'soon'\n")
    suite = load_suite(suite_dir)
    assert "broken/task.toml: [agent].timeout_sec" in suite.errors[0]
    tasks = [suite.tasks["word-report"], suite.tasks["no-reward"]]
    worker = RolloutWorker(tasks, LocalSandboxBackend(), sim(None, tasks), minimal)
    traces = [worker.run(s) for s in plan_episodes(tasks, 1, 0)]
    by_task = {t.task: t for t in traces}
    assert by_task["word-report"].passed
    assert "reward" in by_task["no-reward"].infra_error
    summary = summarize(traces)
    assert summary.infra_errors == 1 and summary.pass_rate == 1.0


def test_sandbox_failure_is_infrastructure(word_task, minimal):
    class BrokenBackend:
        def open(self, task, limits):
            raise SandboxError("namespace creation refused")

    trace = run_episode(word_task, minimal, sim(None, [word_task]), BrokenBackend())
    assert trace.infra_error == "sandbox: namespace creation refused" and trace.stop_reason == "infra_error"


def test_a_disabled_shell_runs_nothing(word_task, minimal, backend):
    from harnesses.edits import DisableTool, apply

    trace = run_episode(word_task, apply(minimal, DisableTool(name="shell")), sim(None, [word_task]), backend)
    assert not trace.passed and trace.commands
    assert all(c.exit_code == 2 and "not enabled" in c.output for c in trace.commands)
