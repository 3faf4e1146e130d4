"""A suite.yaml can be a subset of another suite (`tasks_from`) with a turn budget (`max_turns`):
what a calibrated suite for a CPU model is (`selfharness calibrate`)."""

from __future__ import annotations

import pytest

from harnesses.agent import run_episode
from harnesses.tasks import TaskError, load_suite
from tests.conftest import FIXTURE_SUITE, ROOT, needs_bwrap
from tests.harnesses.test_robustness import GarbageModel


def subset(tmp_path, text: str):
    root = tmp_path / "subset"
    root.mkdir()
    (root / "suite.yaml").write_text(text)
    return root


CORE = ROOT / "benchmarks" / "suites" / "core"


def test_a_subset_loads_only_the_tasks_it_names_with_its_budget(tmp_path):
    whole = load_suite(CORE)
    some = sorted(whole.tasks)[:2]
    suite = load_suite(subset(tmp_path, f"name: few\ntasks_from: {CORE}\nmax_turns: 3\n"
                                        f"splits:\n  train: [{some[0]}]\n  val: [{some[1]}]\n"))
    assert suite.name == "few" and sorted(suite.tasks) == some
    assert suite.splits == {"train": [some[0]], "val": [some[1]]}
    assert all(t.max_turns == 3 for t in suite.tasks.values())
    assert all(t.max_turns is None for t in whole.tasks.values())
    assert suite.tasks[some[0]].path == whole.tasks[some[0]].path


@pytest.mark.parametrize("text, field, words", [
    ("tasks_from: ../nowhere\nsplits: {{}}\n", "tasks_from", "is not a directory"),
    ("tasks_from: {src}\nmax_turns: 0\nsplits: {{}}\n", "max_turns", "positive whole number"),
    ("tasks_from: {src}\nmax_turns: ten\nsplits: {{}}\n", "max_turns", "positive whole number"),
    ("tasks_from: {src}\nsplits:\n  train: [no-such-task]\n", "splits.train", "no task folder named 'no-such-task'"),
])
def test_a_broken_subset_names_its_file_and_field(tmp_path, text, field, words):
    root = subset(tmp_path, text.format(src=FIXTURE_SUITE))
    with pytest.raises(TaskError) as e:
        load_suite(root)
    assert e.value.file == str(root / "suite.yaml") and e.value.field == field and words in e.value.message


@needs_bwrap
def test_the_budget_caps_the_harness_turns(tmp_path, minimal, backend):
    name = sorted(load_suite(FIXTURE_SUITE).tasks)[0]
    suite = load_suite(subset(tmp_path, f"tasks_from: {FIXTURE_SUITE}\nmax_turns: 2\nsplits:\n  train: [{name}]\n"))
    assert minimal.runtime.max_turns > 2
    trace = run_episode(suite.tasks[name], minimal, GarbageModel(), backend)
    assert trace.stop_reason == "max_turns" and len(trace.turns) == 2
