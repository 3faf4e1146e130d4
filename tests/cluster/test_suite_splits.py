"""A run on a suite without suite.yaml starts: its derived splits are written to the run directory and a
resume reads them back, even after task folders were added to the suite."""

from __future__ import annotations

import shutil

import pytest

from actors.run_dir import SUITE_SPLITS, RunStore
from actors.suite_splits import pin_splits
from cluster.compose import prepare
from cluster.config import ConfigError, RolloutConfig, RunConfig
from cluster.loop import load_splits
from harnesses.splits import RULE
from harnesses.tasks import TaskError, load_suite
from harnesses.vocabulary import SPLITS
from tests.conftest import FIXTURE_SUITE, ROOT

TB2 = ROOT / "tests" / "fixtures" / "tb2-shapes"


@pytest.fixture
def folder(tmp_path):
    shutil.copytree(TB2, tmp_path / "tb2")
    return tmp_path / "tb2"


def test_a_run_writes_the_derived_splits_and_says_where(folder, tmp_path):
    store, said = RunStore(tmp_path / "run"), []
    splits = load_splits(RunConfig(suite=str(folder)), store, said.append)
    kept = store.read(SUITE_SPLITS)
    assert kept is not None and kept.suite == "tb2" and kept.rule == RULE
    assert kept.splits == load_suite(folder).splits
    assert {s: [t.name for t in ts] for s, ts in splits.items()} == kept.splits
    assert len(said) == 1 and "derived" in said[0] and str(store.path(SUITE_SPLITS)) in said[0]


def test_a_resume_uses_the_stored_splits_after_a_task_was_added(folder, tmp_path):
    store = RunStore(tmp_path / "run")
    first = load_splits(RunConfig(suite=str(folder)), store, lambda _: None)
    for n in range(1, 4):  # new task folders that would deal some of the old ones anew
        shutil.copytree(folder / "etc-config-port", folder / f"added-{n}")
    assert load_suite(folder).splits != store.read(SUITE_SPLITS).splits
    said: list[str] = []
    again = load_splits(RunConfig(suite=str(folder)), store, said.append)
    assert {s: [t.name for t in ts] for s, ts in again.items()} == {s: [t.name for t in ts] for s, ts in first.items()}
    assert any("3 task(s) added" in line and "added-1, added-2, added-3" in line for line in said), said


def test_stored_splits_of_another_suite_are_refused(folder, tmp_path):
    store = RunStore(tmp_path / "run")
    pin_splits(store, load_suite(folder), lambda _: None)
    with pytest.raises(TaskError) as err:
        pin_splits(store, load_suite(TB2), lambda _: None)
    assert err.value.file == str(store.path(SUITE_SPLITS)) and err.value.field == "suite"


def test_a_suite_yaml_with_splits_writes_nothing(tmp_path):
    store = RunStore(tmp_path / "run")
    suite = pin_splits(store, load_suite(FIXTURE_SUITE), lambda _: None)
    assert suite.splits_source == "suite.yaml" and not store.exists(SUITE_SPLITS)


def test_a_rollout_keeps_the_same_splits(folder, tmp_path):
    store = RunStore(tmp_path / "rollout")
    _, tasks, _ = prepare(RolloutConfig(suite=str(folder), split="train", agent="oracle"), store, lambda _: None)
    assert [t.name for t in tasks] == store.read(SUITE_SPLITS).splits["train"]
    _, every, _ = prepare(RolloutConfig(suite=str(folder), split="all", agent="oracle"), store, lambda _: None)
    assert len(every) == 6


def test_a_suite_too_small_for_three_splits_says_so(tmp_path):
    shutil.copytree(TB2 / "etc-config-port", tmp_path / "tiny" / "etc-config-port")
    with pytest.raises(ConfigError, match=r"its 1 task\(s\) give no tasks in split"):
        load_splits(RunConfig(suite=str(tmp_path / "tiny")), RunStore(tmp_path / "run"), lambda _: None)
    assert set(load_suite(tmp_path / "tiny").splits) == set(SPLITS)
