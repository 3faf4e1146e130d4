"""`selfharness tasks calibrate` on Ray with the sim: harnesses in order, a solved task not tried again, the
subset suite written (tasks_from, max_turns) with its evidence, and a second call that runs nothing."""

from __future__ import annotations

import json

import msgspec

import pytest
import yaml

from actors.model.config import SimModelConfig
from actors.run_dir import CALIBRATION, RunStore
from actors.records import CalibrationTask
from cluster.calibrate import CalibrateConfig, calibrate, choose, format_calibration
from harnesses.spec import load_harness
from harnesses.tasks import load_suite
from harnesses.trace import load_trace
from tests.conftest import ROOT, needs_bwrap

CORE = ROOT / "benchmarks" / "suites" / "core"
PICK = {"train": ["c-compile-greeter", "config-sed-rewrite", "csv-join-customers-orders"],
        "val": ["shell-env-profile", "log-unique-ips"], "test": ["py-conf-parser", "csv-sales-summary"]}


def test_choose_keeps_solved_tasks_headroom_first_then_fastest():
    row = lambda name, first, second, s: CalibrationTask(task=name, split="train", passed={"minimal": first, **(  # noqa: E731
        {"ref": second} if second is not None else {})}, attempts=1, seconds=s)
    rows = [row("a", 1, None, 5.0), row("b", 0, 1, 50.0), row("c", 0, 1, 20.0), row("d", 0, 0, 1.0)]
    assert choose(rows, {"train": 3}, "minimal") == ({"train": ["c", "b", "a"]}, {})
    assert choose(rows, {"train": 5}, "minimal") == ({"train": ["c", "b", "a"]}, {"train": 2})


def test_resplit_deals_every_solved_task_to_the_split_furthest_from_its_share():
    row = lambda name, split, first, s: CalibrationTask(task=name, split=split, passed={"minimal": first, "ref": 1},  # noqa: E731
                                                        attempts=1, seconds=s)
    rows = [row("a", "train", 0, 3.0), row("b", "train", 0, 1.0), row("c", "train", 1, 2.0), row("d", "test", 0, 9.0),
            row("e", "val", 0, 5.0)] + [CalibrationTask(task="x", split="val", passed={"minimal": 0}, attempts=1, seconds=1.0)]
    want = {"train": 4, "val": 2, "test": 2}
    assert choose(rows, want, "minimal")[0] == {"train": ["b", "a", "c"], "val": ["e"], "test": ["d"]}
    splits, short = choose(rows, want, "minimal", resplit=True)
    # headroom first (b, a, e, d: minimal failed them, fastest first; then c), each to the emptiest share
    assert splits == {"train": ["b", "d", "c"], "val": ["a"], "test": ["e"]}
    assert short == {"train": 1, "val": 1, "test": 1}
    assert choose(rows, {"train": 1, "val": 1, "test": 1}, "minimal", resplit=True) == (
        {"train": ["b"], "val": ["a"], "test": ["e"]}, {})


def test_fill_tops_up_a_split_with_its_own_unsolved_tasks_fastest_first():
    row = lambda name, split, passed, s: CalibrationTask(task=name, split=split, passed={"minimal": 0, "ref": passed},  # noqa: E731
                                                         attempts=1, seconds=s)
    rows = [row("a", "train", 1, 9.0), row("b", "train", 0, 5.0), row("c", "train", 0, 2.0), row("d", "val", 0, 1.0),
            row("e", "test", 0, 3.0), row("f", "test", 0, 4.0)]
    want = {"train": 2, "val": 2, "test": 1}
    assert choose(rows, want, "minimal") == ({"train": ["a"], "val": [], "test": []}, {"train": 1, "val": 2, "test": 1})
    assert choose(rows, want, "minimal", fill=True) == ({"train": ["a", "c"], "val": ["d"], "test": ["e"]}, {"val": 1})


@needs_bwrap
def test_calibrate_writes_a_subset_a_run_can_load_and_resumes(tmp_path):
    source = tmp_path / "some"
    source.mkdir()
    (source / "suite.yaml").write_text(yaml.safe_dump({"tasks_from": str(CORE), "splits": PICK}))
    out = tmp_path / "calibrated"
    config = CalibrateConfig(suite=str(source), model=SimModelConfig(profile="minimax"), max_turns=8,
                             want={"train": 2, "val": 1, "test": 1}, out=str(out), concurrency=2, workers=1,
                             progress=False)
    store = RunStore(tmp_path / "run")
    report = calibrate(config, store, log=lambda *_: None)
    assert RunStore(tmp_path / "run", create=False).read(CALIBRATION) == report
    assert report.harnesses == ["minimal", "reference-qwen"] and report.max_turns == 8
    rows = {t.task: t for t in report.tasks}
    assert set(rows) == {n for names in PICK.values() for n in names}
    ids = {h.name: h.id for h in map(load_harness, [ROOT / "harnesses" / "minimal.yaml",
                                                     ROOT / "harnesses" / "reference" / "qwen.yaml"])}
    for t in rows.values():  # what the report says is what the traces on disk say
        for name, passed in t.passed.items():
            (path,) = (tmp_path / "run" / "traces" / ids[name] / t.split).glob(f"{t.task}__*.json")
            assert load_trace(path).passed == bool(passed)
        if t.passed.get("minimal"):
            assert "reference-qwen" not in t.passed, "a task the first harness solved is not tried again"
            assert not list((tmp_path / "run" / "traces" / ids["reference-qwen"]).glob(f"*/{t.task}__*"))
    for split, names in report.splits.items():
        assert all(any(rows[n].passed.values()) and rows[n].kept for n in names)
        assert len(names) + report.short.get(split, 0) == config.want[split]
    suite = load_suite(out)
    assert suite.splits == report.splits and {t.max_turns for t in suite.tasks.values()} == {8}
    assert json.loads((out / "calibration.json").read_text())["splits"] == report.splits
    assert "kept" in format_calibration(report)
    lines = (tmp_path / "run" / "episodes.jsonl").read_text().count("\n")
    again = calibrate(config, RunStore(tmp_path / "run"), log=lambda *_: None)
    assert (tmp_path / "run" / "episodes.jsonl").read_text().count("\n") == lines, "nothing ran twice"
    assert again.splits == report.splits


def test_a_calibration_that_solved_nothing_in_a_split_writes_no_subset(tmp_path):
    from cluster.calibrate import write_subset
    from cluster.config import ConfigError
    from actors.records import CalibrationReport

    report = CalibrationReport(suite="core", model="sim/x", harnesses=["minimal"], max_turns=None, tasks=[],
                               splits={"train": ["a"], "val": []}, short={"val": 1})
    with pytest.raises(ConfigError, match=r"no task of split\(s\) \['val'\] was solved"):
        write_subset(tmp_path / "out", CORE, report)
    assert not (tmp_path / "out").exists()


def test_a_calibration_run_directory_refuses_another_config(tmp_path, capsys):
    from cluster.cli import main
    from cluster.config import load_config, save_run_config

    first, other = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("max_turns: 8\n")
    other.write_text("max_turns: 6\n")
    save_run_config(RunStore(tmp_path / "run"), load_config(first, CalibrateConfig))
    assert main(["tasks", "calibrate", "--config", str(other), "--run-dir", str(tmp_path / "run")]) == 2
    assert "was calibrated with another max_turns" in capsys.readouterr().err


@needs_bwrap
def test_a_screen_runs_on_every_task_and_the_harnesses_only_on_what_it_solved(tmp_path):
    source = tmp_path / "some"
    source.mkdir()
    (source / "suite.yaml").write_text(yaml.safe_dump({"tasks_from": str(CORE), "splits": PICK}))
    config = CalibrateConfig(suite=str(source), model=SimModelConfig(profile="minimax"), max_turns=8,
                             screen="harnesses/reference/qwen.yaml", want={"train": 2, "val": 1, "test": 1},
                             concurrency=2, workers=1, progress=False)
    report = calibrate(config, RunStore(tmp_path / "run"), log=lambda *_: None)
    assert report.screen == "reference-qwen" and report.harnesses == ["minimal", "reference-qwen"]
    rows = {t.task: t for t in report.tasks}
    solved = {n for n, t in rows.items() if t.passed.get("reference-qwen")}
    assert set(rows) == {n for names in PICK.values() for n in names}
    assert all("reference-qwen" in t.passed for t in rows.values()), "the screen runs on every task"
    assert {n for n, t in rows.items() if "minimal" in t.passed} == solved, "the others only where it solved"
    lines = (tmp_path / "run" / "episodes.jsonl").read_text().count("\n")
    assert lines == len(rows) + len(solved), "the screen's episodes are not run again as a harness's"
    for split, names in report.splits.items():  # headroom first: the tasks minimal failed
        heads = [rows[n].passed["minimal"] == 0 for n in names]
        assert heads == sorted(heads, reverse=True)


def test_difficulties_keep_only_those_tasks_and_a_split_left_empty_is_named(tmp_path):
    from cluster.config import ConfigError

    source = tmp_path / "some"
    source.mkdir()
    (source / "suite.yaml").write_text(yaml.safe_dump({"tasks_from": str(CORE), "splits": PICK}))
    config = CalibrateConfig(suite=str(source), model=SimModelConfig(profile="minimax"), max_turns=8,
                             difficulties=["easy"], want={"train": 1, "val": 1, "test": 1}, progress=False)
    report = calibrate(config, RunStore(tmp_path / "run"), log=lambda *_: None)
    easy = {"c-compile-greeter", "shell-env-profile", "log-unique-ips", "csv-sales-summary"}  # their task.toml
    assert {t.task for t in report.tasks} == easy and report.difficulties == ["easy"]
    with pytest.raises(ConfigError, match=r"difficulties: split\(s\) \['train', 'val', 'test'\] .* no task of \['hard'\]"):
        calibrate(msgspec.structs.replace(config, difficulties=["hard"]), RunStore(tmp_path / "run2"))
