"""A folder of tasks shaped like Terminal-Bench 2.0 as published (no suite.yaml, COPY --from, multi-stage
builds, files outside /app) loads, says what it places where, and gets fixed derived splits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harnesses.splits import DEAL, derive_splits
from harnesses.tasks import TaskError, load_suite, load_task
from harnesses.vocabulary import SPLITS
from tests.conftest import FIXTURE_SUITE, ROOT, needs_bwrap

TB2 = ROOT / "tests" / "fixtures" / "tb2-shapes"
NAMES = ["build-stage-tool", "csv-column-sum", "etc-config-port", "log-error-count", "measurements-mean",
         "settings-stage-inherit"]


@pytest.fixture(scope="module")
def suite():
    return load_suite(TB2)


def test_every_task_loads_without_a_suite_yaml(suite):
    assert not (TB2 / "suite.yaml").exists()
    assert suite.errors == [] and sorted(suite.tasks) == NAMES
    assert suite.splits_source == "derived" and suite.name == "tb2-shapes"


def test_published_task_toml_fields(suite):
    for task in suite.tasks.values():
        assert task.environment.docker_image == f"example/{task.name}:20251031"
        assert task.environment.storage_mb >= 10240
    log = suite.tasks["log-error-count"]
    assert log.environment.memory_mb == 4096 and log.environment.storage_mb == 20480  # the *_mb variant
    tool = suite.tasks["build-stage-tool"]
    assert tool.environment.cpus == 2 and tool.environment.memory_mb == 4096
    assert tool.agent_timeout_s == 900 and tool.verifier_timeout_s == 180
    assert (tool.difficulty, tool.category) == ("medium", "software-engineering") and "multi-stage" in tool.tags


EXPECTED = {
    "csv-column-sum": (("data/", "/data/"),),
    "etc-config-port": (("service.conf", "/etc/service.conf"),),
    "build-stage-tool": (("app/", "/app/"),),
    "log-error-count": (("logs/service.log", "/app/logs/"),),
    "settings-stage-inherit": (("repo/", "/app/repo/"), ("check.sh", "/app/check.sh")),
    "measurements-mean": (("measurements.csv", "/app/data/"), ("helpers/", "/app/helpers/"),
                          ("SENSORS.md", "/app/docs/")),
}


@pytest.mark.parametrize("name", NAMES)
def test_app_files_are_the_final_stages_local_copies(suite, name):
    task = suite.tasks[name]
    assert task.app_files == EXPECTED[name]
    assert task.workdir == "/app"
    for src, dest in task.app_files:
        assert dest.startswith("/") and (task.environment_dir / src).exists()


def test_what_only_an_image_build_gets_is_named(suite):
    uv = suite.tasks["csv-column-sum"].build_only
    assert len(uv) == 1 and "--from=ghcr.io/astral-sh/uv:0.9.5 /uv /uvx /bin/" in uv[0] and uv[0].startswith("line ")
    assert all(src not in ("uv", "/uv", "uvx") for src, _ in suite.tasks["csv-column-sum"].app_files)
    tool = suite.tasks["build-stage-tool"].build_only
    assert len(tool) == 1 and "--from=build /out/tool /usr/local/bin/tool" in tool[0]
    assert any("https://example.com/fixtures/extra-rules.txt" in b for b in suite.tasks["log-error-count"].build_only)
    assert any("WEIGHTS_URL" in b for b in suite.tasks["measurements-mean"].build_only)
    assert suite.tasks["etc-config-port"].build_only == ()


def test_an_earlier_stages_sources_must_exist(tmp_path):
    root = tmp_path / "build-stage-tool"
    shutil.copytree(TB2 / "build-stage-tool", root)
    shutil.rmtree(root / "environment" / "src")  # only the build stage copies it
    with pytest.raises(TaskError) as err:
        load_task(root)
    assert err.value.file == str(root / "environment" / "Dockerfile")
    assert err.value.field == "line 5" and "'src/'" in err.value.message


def test_derived_splits_cover_every_task_once(suite):
    named = [n for s in SPLITS for n in suite.splits[s]]
    assert sorted(named) == NAMES and len(set(named)) == len(named)
    assert all(suite.splits[s] for s in SPLITS)
    assert len(suite.splits["train"]) >= max(len(suite.splits["val"]), len(suite.splits["test"]))
    assert [t.name for t in suite.split("all")] == NAMES
    assert {t.name for t in suite.split("train")} == set(suite.splits["train"])


def test_every_difficulty_with_two_tasks_is_trained_on(suite):
    train = {suite.tasks[n].difficulty for n in suite.splits["train"]}
    assert train == {"easy", "medium", "hard"}  # two tasks of each


def test_derived_splits_are_the_same_in_every_process(suite):
    assert load_suite(TB2).splits == suite.splits
    code = ("import json, sys; from harnesses.tasks import load_suite; "
            f"print(json.dumps(load_suite({str(TB2)!r}).splits))")
    for seed in ("1", "4242"):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed})
        assert json.loads(out.stdout) == suite.splits


class T:
    def __init__(self, name: str, difficulty: str, category: str):
        self.name, self.difficulty, self.category = name, difficulty, category


def test_each_stratum_gets_its_share_and_leftovers_balance_the_totals():
    sizes = {("easy", "data"): 9, ("easy", "sys"): 3, ("medium", "data"): 13, ("medium", "web"): 2,
             ("hard", "ml"): 1, ("hard", "sec"): 1, ("hard", "sys"): 1, ("hard", "web"): 6}
    tasks = [T(f"{d}-{c}-{i:02d}", d, c) for (d, c), n in sizes.items() for i in range(n)]
    splits = derive_splits(tasks)
    share = {s: DEAL.count(s) / len(DEAL) for s in SPLITS}
    where = {n: s for s, names in splits.items() for n in names}
    assert sorted(where) == sorted(t.name for t in tasks)
    for (d, c), n in sizes.items():
        got = {s: sum(1 for t in tasks if (t.difficulty, t.category) == (d, c) and where[t.name] == s) for s in SPLITS}
        assert all(abs(got[s] - n * share[s]) < 1 for s in SPLITS), ((d, c), got)
    total = len(tasks)
    assert all(abs(len(splits[s]) - total * share[s]) < 1 for s in SPLITS), {s: len(v) for s, v in splits.items()}
    for d in ("easy", "medium", "hard"):
        assert any(where[t.name] == "train" for t in tasks if t.difficulty == d)
    assert derive_splits(list(reversed(tasks))) == splits  # the order tasks come in does not matter


def test_three_tasks_make_three_splits():
    splits = derive_splits([T(f"t{i}", "easy", "x") for i in range(3)])
    assert all(len(splits[s]) == 1 for s in SPLITS)


def test_a_suite_yaml_with_splits_keeps_them():
    suite = load_suite(FIXTURE_SUITE)
    assert suite.splits_source == "suite.yaml"


def test_a_broken_task_is_an_error_and_the_others_load(tmp_path):
    shutil.copytree(TB2, tmp_path / "tb2")
    bad = tmp_path / "tb2" / "zz-broken"
    shutil.copytree(TB2 / "etc-config-port", bad)
    (bad / "task.toml").write_text('version = "1.0"\n[metadata\ndifficulty = "easy"\n')
    suite = load_suite(tmp_path / "tb2")
    assert sorted(suite.tasks) == NAMES
    assert len(suite.errors) == 1 and str(bad / "task.toml") in suite.errors[0] and "not valid TOML" in suite.errors[0]
    assert sorted(n for names in suite.splits.values() for n in names) == NAMES


@needs_bwrap
def test_tasks_the_local_backend_can_place_pass_their_oracle(suite):
    from actors.sandbox.local import LocalSandboxBackend
    from benchmarks.check import check_task

    backend = LocalSandboxBackend()
    for name in ("log-error-count", "settings-stage-inherit", "measurements-mean"):
        check = check_task(suite.tasks[name], "train", backend)
        assert check.ok, (name, check.problems)
        assert check.oracle_reward == 1.0 and check.noop_reward == 0.0
