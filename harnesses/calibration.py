"""The calibration agents: `oracle` runs the task's solution, `noop` does nothing.

They bound what any harness can reach on a suite (oracle: 100%, noop: 0%) and check that
a suite's tests measure the work, not its absence.
"""

from __future__ import annotations

import time

from harnesses.action import truncate_text
from harnesses.agent import verify_into
from harnesses.sandbox import Limits, SandboxBackend, SandboxError
from harnesses.tasks import Task, run_oracle
from harnesses.trace import CommandRecord, Trace

AGENTS = ("oracle", "noop")


def run_calibration_episode(kind: str, task: Task, backend: SandboxBackend, *, attempt: int = 0, seed: int = 0,
                            split: str = "") -> Trace:
    if kind not in AGENTS:
        raise ValueError(f"unknown calibration agent {kind!r} (known: {', '.join(AGENTS)})")
    trace = Trace(task=task.name, harness_id=kind, model=kind, attempt=attempt, seed=seed, split=split)
    start = time.monotonic()
    sandbox = None
    try:
        sandbox = backend.open(task, Limits(memory_mb=max(512, task.environment.memory_mb)))
        if kind == "oracle":
            result = run_oracle(sandbox, task)
            trace.commands.append(CommandRecord(turn=0, command="bash /solution/solve.sh", exit_code=result.exit_code,
                                                output=truncate_text(result.output, 10000),
                                                duration_s=result.duration_s, timed_out=result.timed_out,
                                                killed_by=result.killed_by))
        trace.completed, trace.stop_reason = True, "completed"
        verify_into(trace, sandbox, task)
    except SandboxError as e:
        trace.infra_error, trace.stop_reason = f"sandbox: {e}", "infra_error"
    finally:
        if sandbox is not None:
            sandbox.close()
        trace.duration_s = time.monotonic() - start
    return trace
