"""`selfharness tasks check DIR`: a suite is sound when every task loads, its oracle passes
and doing nothing fails, and neither touches the verifier's places (an oracle that writes its
own reward proves nothing about its solution). Also reports what the simulated model will find
in each plan.

A task whose oracle fails because its episode had no network (the verifier or the solution fetches
its tools: apt-get, the uv installer, pip, git clone), and whose output says the network was missing,
is `offline`, not `broken`: it needs a backend that gives it the internet, and says which command
reached for it.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import msgspec
from tqdm import tqdm

from actors.model.plan import load_plan
from harnesses.sandbox import SandboxBackend
from harnesses.tasks import Task, load_suite
from harnesses.trace import Trace


FETCHERS = re.compile(r"\b(apt-get|apt|curl|wget|pip3?|uvx?|npm|git\s+clone|cargo|go\s+(?:get|install))\b|"
                      r"^\s*(?:FROM|ADD\s+https?://)|--from=")
"""Lines of a verifier, a solution or a Dockerfile that reach for the network (a registry, a URL)."""
NO_NETWORK = re.compile(r"Temporary failure (?:in )?(?:name )?resol(?:ution|ving)|Could not resolve|Network is unreachable|"
                        r"Failed to fetch|Name or service not known|No address associated|Failed to connect|"
                        r"Connection (?:refused|timed out)|getaddrinfo|dns error|Could not connect|dial tcp|"
                        r"pull access denied|manifest unknown|i/o timeout", re.IGNORECASE)
"""What programs print when there is no network."""
HOSTS = re.compile(r"lookup ([\w.-]+)|https?://([\w.-]+)")
"""The hosts an error message says it could not reach."""


def needs_internet(task: Task, output: str) -> str | None:
    """Why a failed oracle looks like a missing network rather than a broken task (None: it does not):
    the task's own scripts fetch something, and the episode's output says the network was not there."""
    if task.environment.allow_internet:
        return None
    said = NO_NETWORK.search(output or "")
    if said is None:
        return None
    scripts = [task.tests_dir / "test.sh", task.solution_dir / "solve.sh", task.environment_dir / "Dockerfile"]
    if "did not build" in output or "could not be pulled" in output:
        scripts = scripts[2:]  # the image itself needed the network
    found = []
    for script in scripts:
        try:
            lines = script.read_text(errors="replace").splitlines()
        except OSError:
            continue
        found += [(line.lstrip().upper().startswith("FROM"), f"{script.parent.name}/{script.name}:{n}", line.strip())
                  for n, line in enumerate(lines, 1) if FETCHERS.search(line) and not line.lstrip().startswith("#")]
    if not found:
        return None
    hosts = {h for pair in HOSTS.findall(output) for h in pair if h}
    # the line naming a host the output could not reach; else any but a FROM; a FROM only when nothing else does
    _, _, where, line = min(((not any(h in f[2] for h in hosts), f[0], f[1], f[2]) for f in found),
                            key=lambda f: f[:2])
    return f"needs the internet: {where} `{line[:80]}` and the output says {said.group(0)!r}"


class TaskCheck(msgspec.Struct, kw_only=True):
    task: str
    split: str
    oracle_reward: float | None
    noop_reward: float | None
    steps: int = 0
    families: list[str] = []
    problems: list[str] = []
    offline: str | None = None
    """Why the task cannot run without the internet (its oracle failed for that alone); None: it can."""

    @property
    def ok(self) -> bool:
        return not self.problems and self.offline is None

    @property
    def status(self) -> str:
        return "offline" if self.offline and not self.problems else ("ok" if self.ok else "broken")


class SuiteCheck(msgspec.Struct, kw_only=True):
    suite: str
    tasks: list[TaskCheck]
    load_errors: list[str]
    split_sizes: dict[str, int]

    @property
    def ok(self) -> bool:
        """No task broken (a task that needs the internet is not broken, only not runnable here)."""
        return not self.load_errors and all(t.status != "broken" for t in self.tasks)

    def format(self) -> str:
        lines = [f"suite {self.suite}: {len(self.tasks)} tasks, splits "
                 + ", ".join(f"{k}={v}" for k, v in self.split_sizes.items())]
        marks = {"ok": "ok     ", "offline": "OFFLINE", "broken": "FAIL   "}
        for t in self.tasks:
            notes = [t.offline] if t.status == "offline" else t.problems
            lines.append(f"  {marks[t.status]} {t.task:<34} {t.split:<6} oracle={t.oracle_reward} "
                         f"noop={t.noop_reward} steps={t.steps} {','.join(t.families)}"
                         + "".join(f"\n       - {p}" for p in notes))
        lines += [f"  LOAD ERROR {e}" for e in self.load_errors]
        bad = sum(t.status == "broken" for t in self.tasks) + len(self.load_errors)
        offline = sum(t.status == "offline" for t in self.tasks)
        lines.append(("all tasks sound" if not bad else f"{bad} task(s) with problems")
                     + (f"; {offline} need the internet to run (offline here)" if offline else ""))
        return "\n".join(lines)


def plan_families(task: Task) -> tuple[int, list[str]]:
    plan = load_plan(task.solution_dir, task.name)
    fams = []
    if any(s.first_try for s in plan.steps):
        fams.append("first-try")
    if any(s.prefers for s in plan.steps):
        fams.append("prefers")
    if any(s.sets_state for s in plan.steps):
        fams.append("cd-export")
    if len(plan.steps) >= 6:
        fams.append("long")
    return len(plan.steps), fams


def check_task(task: Task, split: str, backend: SandboxBackend) -> TaskCheck:
    from harnesses.calibration import run_calibration_episode

    problems: list[str] = []
    try:
        steps, fams = plan_families(task)
    except (OSError, ValueError) as e:
        steps, fams = 0, []
        problems.append(f"solution/solve.sh: {e}")
    oracle = run_calibration_episode("oracle", task, backend)
    noop = run_calibration_episode("noop", task, backend)
    problems += [p for p in (_tampered("the oracle", oracle), _tampered("doing nothing", noop)) if p]
    offline = None
    if oracle.infra_error or oracle.reward is None or oracle.reward < 1.0:
        said = "\n".join([oracle.verifier_output or ""] + [c.output for c in oracle.commands])
        offline = needs_internet(task, f"{oracle.infra_error or ''}\n{said}")
        if offline is None:
            problems.append(f"oracle did not pass: reward={oracle.reward} {oracle.infra_error or ''} "
                            f"{oracle.verifier_output[-300:]}".strip())
    same_cause = offline and noop.infra_error and needs_internet(task, noop.infra_error)  # no network stopped both
    if not same_cause and (noop.infra_error or noop.reward is None or noop.reward > 0):
        problems.append(f"doing nothing did not score 0: reward={noop.reward} {noop.infra_error or ''}".strip())
    return TaskCheck(task=task.name, split=split, oracle_reward=oracle.reward, noop_reward=noop.reward,
                     steps=steps, families=fams, problems=problems, offline=offline)


def _tampered(who: str, trace: Trace) -> str:
    """A problem when an episode left changes where the verifier lives ('' when it did not)."""
    if not trace.tampering:
        return ""
    found = ", ".join(f"{t.path} ({t.change})" for t in trace.tampering)
    return f"{who} tampered with the verifier: {found}"[:1000]


def check_suite(root, *, concurrency: int = 4, progress: bool = True, backend: SandboxBackend | None = None) -> SuiteCheck:
    if backend is None:
        from actors.sandbox.local import LocalSandboxBackend

        backend = LocalSandboxBackend()
    suite = load_suite(root)
    split_of = {name: split for split, names in suite.splits.items() for name in names}
    tasks = [suite.tasks[n] for n in sorted(suite.tasks)]
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(tqdm(pool.map(lambda t: check_task(t, split_of.get(t.name, "-"), backend), tasks),
                            total=len(tasks), desc="checking tasks", disable=not progress))
    unsplit = [n for n in suite.tasks if n not in split_of]
    errors = list(suite.errors)
    if suite.splits and unsplit:
        errors.append(f"{root}/suite.yaml: splits: tasks in no split: {', '.join(sorted(unsplit))}")
    return SuiteCheck(suite=suite.name, tasks=results, load_errors=errors,
                      split_sizes={k: len(v) for k, v in suite.splits.items()})
