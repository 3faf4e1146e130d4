"""One episode's trace as the trace viewer shows it: turns, commands, events, and why it failed."""

from __future__ import annotations

from pathlib import Path

import msgspec

from harnesses.outcome import failure_cause
from harnesses.trace import Trace, load_trace
from serve.run_paths import trace_path


class TraceView(msgspec.Struct, kw_only=True):
    episode_id: str
    split: str
    passed: bool
    trace: Trace
    cause: str = ""
    """Why it failed (harnesses/outcome.py): 'verifier_tampering' when it left changes where the verifier lives."""


def trace_view(run_dir: Path, episode_id: str) -> TraceView:
    path, split = trace_path(run_dir, episode_id)
    trace = load_trace(path)
    return TraceView(episode_id=episode_id, split=split, passed=trace.passed, trace=trace, cause=failure_cause(trace))
