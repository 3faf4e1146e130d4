"""Loading Harbor / TB2 tasks: published fields, and clear errors that name the file and field."""

import shutil
from pathlib import Path

import pytest

from harnesses.tasks import TaskError, load_suite, load_task, named_paths, parse_size_mb
from tests.conftest import CORE_SUITE, FIXTURE_SUITE

TB2_TOML = '''version = "1.0"

[metadata]
author_name = "someone"
difficulty = "medium"
category = "software-engineering"
tags = ["git"]

[verifier]
timeout_sec = 900.0

[agent]
timeout_sec = 1800.0

[environment]
build_timeout_sec = 600.0
docker_image = "alexgshaw/fix-git:20251031"
cpus = 1
memory = "2G"
storage = "10G"
'''


def make_task(tmp_path: Path, toml: str = TB2_TOML, name: str = "t") -> Path:
    root = tmp_path / name
    shutil.copytree(FIXTURE_SUITE / "word-report", root)
    (root / "task.toml").write_text(toml)
    return root


def test_loads_a_tb2_task_toml(tmp_path):
    task = load_task(make_task(tmp_path))
    assert task.environment.docker_image == "alexgshaw/fix-git:20251031"
    assert task.environment.memory_mb == 2048 and task.environment.storage_mb == 10240
    assert task.agent_timeout_s == 1800 and task.verifier_timeout_s == 900
    assert task.app_files == (("app/", "/app/"),) and task.workdir == "/app"


def test_memory_mb_variant(tmp_path):
    toml = TB2_TOML.replace('memory = "2G"', "memory_mb = 4096").replace('storage = "10G"', "storage_mb = 20480")
    task = load_task(make_task(tmp_path, toml))
    assert task.environment.memory_mb == 4096 and task.environment.storage_mb == 20480


@pytest.mark.parametrize("mutate,field", [
    (lambda s: s.replace("timeout_sec = 1800.0", 'timeout_sec = "long"'), "[agent].timeout_sec"),
    (lambda s: s.replace('memory = "2G"', 'memory = "lots"'), "[environment].memory"),
    (lambda s: s.replace('tags = ["git"]', "tags = 3"), "[metadata].tags"),
    (lambda s: s + "\n[[broken", "not valid TOML"),
    (lambda s: s.replace("cpus = 1", "cpus = -2"), "[environment].cpus"),
])
def test_malformed_task_toml_names_file_and_field(tmp_path, mutate, field):
    root = make_task(tmp_path, mutate(TB2_TOML))
    with pytest.raises(TaskError) as err:
        load_task(root)
    assert str(root / "task.toml") in str(err.value) and field in str(err.value)


def test_missing_parts_name_the_file(tmp_path):
    root = make_task(tmp_path)
    (root / "tests" / "test.sh").unlink()
    with pytest.raises(TaskError, match="tests/test.sh"):
        load_task(root)
    root = make_task(tmp_path, name="u")
    (root / "instruction.md").write_text("  \n")
    with pytest.raises(TaskError, match="instruction.md"):
        load_task(root)


def test_a_broken_task_does_not_stop_the_suite(tmp_path):
    make_task(tmp_path, name="good")
    make_task(tmp_path, TB2_TOML.replace("cpus = 1", 'cpus = "x"'), name="bad")
    suite = load_suite(tmp_path)
    assert list(suite.tasks) == ["good"]
    assert len(suite.errors) == 1 and "bad/task.toml" in suite.errors[0]


def test_sizes():
    assert parse_size_mb("2G", Path("f"), "x") == 2048
    assert parse_size_mb("512M", Path("f"), "x") == 512
    assert parse_size_mb("10Gi", Path("f"), "x") == 10240


def test_named_paths():
    text = "Read `/app/in.csv` and write `/app/out/report.txt`; see `/app/<name>.txt` and `README`."
    assert named_paths(text) == ["/app/in.csv", "/app/out/report.txt"]


def test_core_suite_is_large_and_split():
    suite = load_suite(CORE_SUITE)
    assert suite.errors == []
    assert len(suite.tasks) >= 48
    sizes = {k: len(v) for k, v in suite.splits.items()}
    assert set(sizes) == {"train", "val", "test"}
    assert sum(sizes.values()) == len(suite.tasks)
    assert sizes["train"] >= 0.4 * len(suite.tasks) and min(sizes["val"], sizes["test"]) >= 0.2 * len(suite.tasks)
