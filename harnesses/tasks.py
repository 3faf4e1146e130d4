"""Harbor / Terminal-Bench 2.0 tasks: load them, check them, run their verifier.

A task folder holds `task.toml`, `instruction.md`, `environment/` (a Dockerfile and the
files it copies), `tests/test.sh` and `solution/solve.sh`. The verifier runs the way
Harbor runs it: tests uploaded to `/tests`, `bash /tests/test.sh`, the reward read
from `/logs/verifier/reward.json` or `reward.txt`; but in a context the agent cannot forge
(`Sandbox.run_verifier`): fresh `/tests` and `/logs/verifier`, the reward only from what
that run wrote, and whatever the agent left there recorded as tampering.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from harnesses.dockerfile import DockerfileError, DockerfilePlan, plan_dockerfile
from harnesses.sandbox import REWARD_FILES, VERIFIER_DIR, ExecResult, Sandbox
from harnesses.splits import derive_splits
from harnesses.trace import Tampering


class TaskError(ValueError):
    """A malformed task or suite: names the file and the field."""

    def __init__(self, file: Path | str, field: str, message: str):
        self.file, self.field, self.message = str(file), field, message
        super().__init__(f"{file}: {field}: {message}" if field else f"{file}: {message}")


class EnvironmentSpec(msgspec.Struct, frozen=True, kw_only=True):
    """`[environment]` of task.toml: where the task runs."""

    docker_image: str | None = None
    cpus: float = 1.0
    memory_mb: int = 2048
    storage_mb: int = 10240
    build_timeout_s: float = 600.0
    allow_internet: bool = False


class Task(msgspec.Struct, frozen=True, kw_only=True):
    """One task as loaded from its folder."""

    name: str
    path: str
    instruction: str
    difficulty: str = "unknown"
    category: str = "unknown"
    tags: tuple[str, ...] = ()
    agent_timeout_s: float = 600.0
    verifier_timeout_s: float = 600.0
    keep_processes: bool = False
    """`[verifier] keep_processes = true`: the tests need what the agent left running (a server it
    started), so backends where processes outlive a command do not stop them before the verifier
    (a weaker guarantee: see actors/sandbox/container_verify.py)."""
    environment: EnvironmentSpec = EnvironmentSpec()
    app_files: tuple[tuple[str, str], ...] = ()
    """(source under environment/, absolute sandbox destination) of the final build stage's local COPY/ADD
    lines; destinations outside /app are kept (a backend that builds the image puts them there)."""
    build_only: tuple[str, ...] = ()
    """'line N: why' for the final stage's COPY/ADD lines whose files only an image build gets (`--from` another
    image or stage, a URL, an unresolved $VAR): a backend that places app_files instead lacks them."""
    workdir: str = "/app"
    max_turns: int | None = None
    """The suite's turn budget (suite.yaml `max_turns`, not a task.toml field): an episode stops at the lower
    of it and its harness's runtime.max_turns, so a harness cannot buy itself more compute than the suite
    grants (a CPU model's budget)."""

    @property
    def root(self) -> Path:
        return Path(self.path)

    @property
    def tests_dir(self) -> Path:
        return self.root / "tests"

    @property
    def solution_dir(self) -> Path:
        return self.root / "solution"

    @property
    def environment_dir(self) -> Path:
        return self.root / "environment"


class VerifierResult(msgspec.Struct, frozen=True, kw_only=True):
    """What the verifier said. `reward` is None when it produced none (a verifier failure)."""

    reward: float | None
    output: str
    exit_code: int
    timed_out: bool = False
    error: str | None = None
    tampering: tuple[Tampering, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.reward is not None and self.reward >= 1.0 and not self.tampering


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_UNIT_MB = {"": 1 / (1024 * 1024), "b": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1, "g": 1024, "t": 1024 * 1024}


def parse_size_mb(value: Any, file: Path, field: str) -> int:
    """'2G', '512M', '10Gi' or a number of bytes -> MiB."""
    if isinstance(value, bool):
        raise TaskError(file, field, f"expected a size like '2G', got {value!r}")
    if isinstance(value, (int, float)):
        return max(1, int(value / (1024 * 1024)))
    m = _SIZE.match(str(value))
    if not m:
        raise TaskError(file, field, f"expected a size like '2G' or '512M', got {value!r}")
    unit = (m.group(2) or "").lower()[:1]
    return max(1, int(float(m.group(1)) * _UNIT_MB[unit]))


def _number(table: dict, key: str, default: float, file: Path, section: str) -> float:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise TaskError(file, f"[{section}].{key}", f"expected a positive number, got {value!r}")
    return float(value)


def _table(data: dict, key: str, file: Path) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise TaskError(file, f"[{key}]", f"expected a table, got {type(value).__name__}")
    return value


def _environment(env: dict, file: Path) -> EnvironmentSpec:
    f = "[environment]"
    image = env.get("docker_image")
    if image is not None and not isinstance(image, str):
        raise TaskError(file, f"{f}.docker_image", f"expected a string, got {image!r}")
    if "memory_mb" in env:
        memory = int(_number(env, "memory_mb", 2048, file, "environment"))
    else:
        memory = parse_size_mb(env.get("memory", "2G"), file, f"{f}.memory")
    if "storage_mb" in env:
        storage = int(_number(env, "storage_mb", 10240, file, "environment"))
    else:
        storage = parse_size_mb(env.get("storage", "10G"), file, f"{f}.storage")
    internet = env.get("allow_internet", env.get("internet", False))
    if not isinstance(internet, bool):
        raise TaskError(file, f"{f}.allow_internet", f"expected true or false, got {internet!r}")
    return EnvironmentSpec(
        docker_image=image,
        cpus=_number(env, "cpus", 1, file, "environment"),
        memory_mb=memory,
        storage_mb=storage,
        build_timeout_s=_number(env, "build_timeout_sec", 600, file, "environment"),
        allow_internet=internet,
    )


def parse_dockerfile_copies(dockerfile: Path) -> DockerfilePlan:
    """The final stage's local COPY/ADD files, WORKDIR and the lines only an image build reproduces.

    The local backend cannot build images; it places these files and ignores RUN lines (a task that needs
    them runs on a backend that builds or pulls its image). harnesses/dockerfile.py says what is read how.
    """
    try:
        return plan_dockerfile(dockerfile)
    except DockerfileError as e:
        raise TaskError(dockerfile, f"line {e.line}", e.message) from None


def load_task(path: Path | str) -> Task:
    """Load one task folder; raises TaskError naming the file and field that is wrong."""
    root = Path(path).resolve()
    toml_file = root / "task.toml"
    if not toml_file.is_file():
        raise TaskError(toml_file, "", "missing (every task needs task.toml)")
    try:
        data = tomllib.loads(toml_file.read_text())
    except tomllib.TOMLDecodeError as e:
        raise TaskError(toml_file, "", f"not valid TOML: {e}") from None
    meta = _table(data, "metadata", toml_file)
    agent = _table(data, "agent", toml_file)
    verifier = _table(data, "verifier", toml_file)
    env = _table(data, "environment", toml_file)
    instruction_file = root / "instruction.md"
    if not instruction_file.is_file():
        raise TaskError(instruction_file, "", "missing (every task needs an instruction)")
    instruction = instruction_file.read_text().strip()
    if not instruction:
        raise TaskError(instruction_file, "", "is empty")
    test_sh = root / "tests" / "test.sh"
    if not test_sh.is_file():
        raise TaskError(test_sh, "", "missing (the verifier runs tests/test.sh)")
    keep = verifier.get("keep_processes", False)
    if not isinstance(keep, bool):
        raise TaskError(toml_file, "[verifier].keep_processes", f"expected true or false, got {keep!r}")
    tags = meta.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise TaskError(toml_file, "[metadata].tags", f"expected a list of strings, got {tags!r}")
    plan = parse_dockerfile_copies(root / "environment" / "Dockerfile")
    return Task(
        name=root.name,
        path=str(root),
        instruction=instruction,
        difficulty=str(meta.get("difficulty", "unknown")),
        category=str(meta.get("category", "unknown")),
        tags=tuple(tags),
        agent_timeout_s=_number(agent, "timeout_sec", 600, toml_file, "agent"),
        verifier_timeout_s=_number(verifier, "timeout_sec", 600, toml_file, "verifier"),
        keep_processes=keep,
        environment=_environment(env, toml_file),
        app_files=plan.app_files,
        workdir=plan.workdir,
        build_only=plan.build_only,
    )


class Suite(msgspec.Struct, frozen=True, kw_only=True):
    """A folder of tasks with fixed splits. Tasks that fail to load are kept as errors."""

    name: str
    root: str
    tasks: dict[str, Task]
    splits: dict[str, list[str]]
    errors: list[str] = []
    splits_source: Literal["suite.yaml", "derived"] = "suite.yaml"
    """`derived`: suite.yaml names no splits, so harnesses/splits.py dealt them (a run keeps its copy)."""

    def split(self, name: str) -> list[Task]:
        if name == "all":
            return [self.tasks[n] for n in sorted(self.tasks)]
        if name not in self.splits:
            raise KeyError(f"suite {self.name!r} has no split {name!r}; it has {sorted(self.splits)} and 'all'")
        return [self.tasks[n] for n in self.splits[name] if n in self.tasks]


def load_suite(path: Path | str) -> Suite:
    """Load every task below `path` and the splits of its `suite.yaml`, or derived ones (harnesses/splits.py)
    when it has none or there is no suite.yaml (Terminal-Bench 2.0 as published).

    A `suite.yaml` may take its tasks from another folder (`tasks_from`, relative to it: a subset of a
    suite, such as a calibrated one) and grant every episode at most `max_turns` turns.
    A broken task is recorded in `errors` and left out; the others still load.
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise TaskError(root, "", "is not a directory")
    meta_file = root / "suite.yaml"
    meta = _suite_meta(meta_file) if meta_file.is_file() else {}
    source = root
    if meta.get("tasks_from") is not None:
        source = (root / str(meta["tasks_from"])).resolve()
        if not source.is_dir():
            raise TaskError(meta_file, "tasks_from", f"{source} is not a directory")
    budget = meta.get("max_turns")
    if budget is not None and (not isinstance(budget, int) or isinstance(budget, bool) or budget < 1):
        raise TaskError(meta_file, "max_turns", f"expected a positive whole number, got {budget!r}")
    raw = meta.get("splits", {}) or {}
    if not isinstance(raw, dict):
        raise TaskError(meta_file, "splits", "expected a mapping of split name to task names")
    named = {n for names in raw.values() if isinstance(names, list) for n in names}
    tasks: dict[str, Task] = {}
    errors: list[str] = []
    for child in sorted(p for p in source.iterdir() if p.is_dir() and (p / "task.toml").exists()):
        if source != root and child.name not in named:
            continue  # a subset holds only the tasks it names
        try:
            task = load_task(child)
            tasks[child.name] = task if budget is None else msgspec.structs.replace(task, max_turns=budget)
        except TaskError as e:
            errors.append(str(e))
    splits: dict[str, list[str]] = {}
    seen: dict[str, str] = {}
    for split, names in raw.items():
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise TaskError(meta_file, f"splits.{split}", "expected a list of task names")
        for n in names:
            if n in seen:
                raise TaskError(meta_file, f"splits.{split}", f"task {n!r} is also in split {seen[n]!r}")
            seen[n] = split
            if n not in tasks and not any(e.startswith(str(source / n) + "/") for e in errors):
                raise TaskError(meta_file, f"splits.{split}", f"no task folder named {n!r} in {source}")
        splits[str(split)] = list(names)
    source_of_splits: Literal["suite.yaml", "derived"] = "suite.yaml" if splits else "derived"
    if not splits:
        splits = derive_splits(tasks.values())
    return Suite(name=str(meta.get("name", root.name)), root=str(root), tasks=tasks, splits=splits, errors=errors,
                 splits_source=source_of_splits)


def _suite_meta(meta_file: Path) -> dict:
    try:
        meta = yaml.safe_load(meta_file.read_text()) or {}
    except yaml.YAMLError as e:
        raise TaskError(meta_file, "", f"not valid YAML: {e}") from None
    if not isinstance(meta, dict):
        raise TaskError(meta_file, "", "expected a mapping")
    return meta


def read_reward(files: dict[str, bytes]) -> tuple[float | None, str | None]:
    """Harbor's reward files, as the verifier run wrote them: reward.json ({"reward": x} or one
    number) first, then reward.txt."""
    for fname in REWARD_FILES:
        if fname not in files:
            continue
        raw = files[fname].decode(errors="replace").strip()
        try:
            value = json.loads(raw) if fname.endswith(".json") else float(raw.split()[0])
            if isinstance(value, dict):
                value = value.get("reward", next(iter(value.values()), None))
            return float(value), None
        except (ValueError, TypeError, IndexError, StopIteration, json.JSONDecodeError):
            return None, f"{VERIFIER_DIR}/{fname} holds no number: {raw[:200]!r}"
    return None, f"the verifier wrote neither {VERIFIER_DIR}/reward.json nor reward.txt"


_NAMED_PATH = re.compile(r"`(/(?:app|root|tmp|srv|opt|home|var|data)/[^`\s<>*?{}$]*)`")


def named_paths(instruction: str) -> list[str]:
    """Absolute paths the instruction names in backticks, in order, once each (inputs and outputs)."""
    return list(dict.fromkeys(m.group(1).rstrip("/.,") or "/" for m in _NAMED_PATH.finditer(instruction)))


def run_verifier(sandbox: Sandbox, task: Task) -> VerifierResult:
    """Run the task's tests as Harbor does, in the backend's clean context; never raises for a failing test."""
    run = sandbox.run_verifier(task.tests_dir, "bash /tests/test.sh", timeout_s=task.verifier_timeout_s,
                               cwd=task.workdir, keep_processes=task.keep_processes)
    result: ExecResult = run.result
    reward, error = read_reward(run.rewards)
    if result.timed_out:
        error = f"verifier timed out after {task.verifier_timeout_s:.0f}s"
    return VerifierResult(reward=reward, output=result.output, exit_code=result.exit_code,
                          timed_out=result.timed_out, error=error, tampering=run.tampering, notes=run.notes)


def run_oracle(sandbox: Sandbox, task: Task) -> ExecResult:
    """The oracle agent: run solution/solve.sh with bash (37 TB2 solutions start with a comment)."""
    sandbox.upload_dir(task.solution_dir, "/solution")
    return sandbox.exec("bash /solution/solve.sh", timeout_s=task.agent_timeout_s, cwd=task.workdir)
