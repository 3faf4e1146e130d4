"""The one interface every sandbox backend implements (local bubblewrap, kubernetes).

An episode gets a `Sandbox` from a backend's `open()`, runs commands in it and always
closes it. Paths inside a sandbox follow Harbor: the agent works in `/app`, tests are
uploaded to `/tests`, the verifier writes to `/logs/verifier`, the oracle's files are
in `/solution`.

The verifier runs through `Sandbox.run_verifier`, never through `exec`: each backend gives it a
clean context (fresh `/tests` and `/logs/verifier`, its base environment, no process of the
agent's where it can stop them) and reports what the agent left there as `Tampering`
(actors/sandbox/integrity.py holds what the backends share).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import msgspec

from harnesses.trace import Tampering

TESTS_DIR = "/tests"
LOGS_DIR = "/logs"
VERIFIER_DIR = "/logs/verifier"
REWARD_FILES = ("reward.json", "reward.txt")
"""Harbor's reward files, in the order they are read."""
VERIFIER_ENV = {"PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
"""Added to a backend's base environment for the verifier: Python's user site-packages (under the
agent's $HOME) never runs in the verifier's interpreter, and the verifier writes no bytecode next to
the tests. Terminal-Bench's tests run in a uv-made venv, where both hold anyway."""


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the agent's command): an infrastructure failure."""


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Resource limits applied to every command run in a sandbox."""

    cpu_seconds: int = 60
    """RLIMIT_CPU per command: CPU time before SIGKILL."""
    memory_mb: int = 2048
    """RLIMIT_AS per command (address space)."""
    max_processes: int = 256
    """RLIMIT_NPROC: stops fork bombs."""
    max_file_mb: int = 256
    """RLIMIT_FSIZE: the largest single file a command may write."""
    disk_mb: int = 1024
    """Size of the writable scratch filesystems where the backend can bound it."""
    max_output_bytes: int = 16384
    """Output kept per command (head and tail); the rest is counted and dropped."""


class ExecResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one command did. `output` is stdout and stderr interleaved, truncated."""

    exit_code: int
    output: str
    duration_s: float
    timed_out: bool = False
    truncated: bool = False
    output_bytes: int = 0
    """Total bytes the command printed, before truncation."""
    killed_by: str | None = None
    """Why the command was stopped, when it was: 'timeout', 'cpu', 'memory', 'file_size', 'signal N'."""


class VerifierRun(msgspec.Struct, frozen=True, kw_only=True):
    """What one verifier run did in its clean context."""

    result: ExecResult
    rewards: dict[str, bytes] = {}
    """The reward files (REWARD_FILES) that this verifier run wrote, as regular files; nothing else."""
    tampering: tuple[Tampering, ...] = ()
    notes: tuple[str, ...] = ()
    """What the backend did on the way, for the trace (e.g. the agent's processes it stopped)."""


@runtime_checkable
class Sandbox(Protocol):
    """One isolated environment for one episode."""

    def exec(self, command: str, *, timeout_s: float, cwd: str = "/app",
             env: dict[str, str] | None = None) -> ExecResult:
        """Run `command` with `bash -c` in a fresh process; never raises for the command's own failure."""
        ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def read_file(self, path: str) -> bytes: ...

    def upload_dir(self, local_dir: Path, sandbox_path: str) -> None:
        """Copy a local directory's contents to `sandbox_path` (e.g. tests to /tests)."""
        ...

    def run_verifier(self, tests_dir: Path, command: str, *, timeout_s: float, cwd: str,
                     keep_processes: bool = False) -> VerifierRun:
        """Run the verifier `command` on a fresh copy of `tests_dir` at /tests and an empty
        /logs/verifier, from the backend's base environment; record what the agent left there.
        `keep_processes`: the task needs the agent's processes (a server it started) during the tests."""
        ...

    def close(self) -> None:
        """Release everything; safe to call twice."""
        ...


@runtime_checkable
class SandboxBackend(Protocol):
    """Makes sandboxes for tasks."""

    def open(self, task: "Task", limits: Limits) -> Sandbox:  # noqa: F821
        """A new sandbox whose /app holds the task's environment files."""
        ...
