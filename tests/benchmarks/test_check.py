"""`selfharness tasks check`: an oracle that writes the verifier's reward itself proves nothing about its
solution, so the check lists it as a problem of the task, like an oracle that fails."""

from __future__ import annotations

import shutil

import pytest

from benchmarks.check import check_task
from harnesses.tasks import load_task
from tests.conftest import FIXTURE_SUITE, needs_bwrap

pytestmark = needs_bwrap


@pytest.fixture(scope="module")
def backend():
    from actors.sandbox.local import LocalSandboxBackend

    return LocalSandboxBackend()


def _task(tmp_path, name: str, extra: str = ""):
    root = tmp_path / name
    shutil.copytree(FIXTURE_SUITE / "word-report", root)
    solve = root / "solution" / "solve.sh"
    solve.write_text(solve.read_text() + extra)
    return load_task(root)


def test_an_honest_task_is_sound(tmp_path, backend):
    check = check_task(_task(tmp_path, "honest"), "train", backend)
    assert check.ok, check.problems
    assert check.oracle_reward == 1.0 and check.noop_reward == 0.0


def test_an_oracle_that_writes_its_own_reward_is_a_problem_of_the_task(tmp_path, backend):
    plant = "\nmkdir -p /logs/verifier && echo 1 > /logs/verifier/reward.txt\n"
    check = check_task(_task(tmp_path, "planted", plant), "train", backend)
    assert not check.ok
    assert any(p.startswith("the oracle tampered with the verifier: ") and "/logs/verifier/reward.txt (planted)" in p
               for p in check.problems), check.problems
    assert not any(p.startswith("doing nothing tampered") for p in check.problems), check.problems
    assert check.oracle_reward == 1.0  # the verifier's own verdict: the solution still works, the planting is the fault
