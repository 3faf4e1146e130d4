"""What a trace shows, read deterministically from the trace and the verifier's output: the
failure families visible in it, what ended it, and one cause word for the rollout table.

The miner's signatures (actors/mining/signatures.py) are built on the same readings, so the
rollout table and the clusters never disagree on what a trace shows.
"""

from __future__ import annotations

import re

from harnesses.middleware.explore_budget import is_read_only
from harnesses.trace import Trace
from harnesses.vocabulary import INFRA, TAMPERING, Family, FailureCause, TerminalCause

STATE_COMMAND = re.compile(r"^\s*(cd|export|source)\s+\S+(\s+\S+)*\s*$")
"""A command that only sets shell state (lost when the next command runs in a fresh shell)."""
MISSING = re.compile(r"missing|no such file|does not exist|not found|was not built|not created", re.IGNORECASE)
"""A verifier's words for an artifact that is not there."""
EXPLORING_TURNS = 6
"""Read-only turns in a row that count as exploring too long."""


def parse_errors(trace: Trace) -> int:
    return sum(1 for t in trace.turns if t.parse_error)


def mostly_unparsed(trace: Trace) -> bool:
    return bool(trace.turns) and parse_errors(trace) * 2 >= len(trace.turns)


def repeated_failure(trace: Trace) -> str | None:
    """A failing command run again verbatim with nothing succeeding in between (or blocked as such)."""
    last_failed: str | None = None
    for c in trace.commands:
        if c.blocked_by:
            return c.command
        if c.exit_code == 0:
            last_failed = None
        elif c.exit_code is not None:
            if c.command.strip() == last_failed:
                return c.command
            last_failed = c.command.strip()
    return None


def state_split(trace: Trace, *, failed_after: bool = True) -> str | None:
    """A turn that ran a lone cd/export/source and then another command (that failed, by default)."""
    by_turn: dict[int, list] = {}
    for c in trace.commands:
        by_turn.setdefault(c.turn, []).append(c)
    for cmds in by_turn.values():
        for i, c in enumerate(cmds[:-1]):
            if STATE_COMMAND.match(c.command) and (
                    not failed_after or any(d.exit_code not in (0, None) for d in cmds[i + 1:])):
                return c.command
    return None


def missing_tool(trace: Trace) -> str | None:
    """A command that was not found (exit 127, or the shell's words)."""
    for c in trace.commands:
        if c.exit_code == 127 or (c.exit_code and "command not found" in c.output[-300:]):
            return c.command
    return None


def read_only_streak(trace: Trace) -> int:
    """The longest run of turns whose every command only looks."""
    streak = best = 0
    for t in trace.turns:
        cmds = [c.keystrokes for c in t.action.commands] if t.action is not None else []
        streak = streak + 1 if cmds and all(is_read_only(c) for c in cmds) else 0
        best = max(best, streak)
    return best


def families(trace: Trace) -> set[Family]:
    """The model failure families this trace shows, whether or not the episode passed."""
    seen: set[Family] = set()
    if parse_errors(trace) or any(e.name == "output_repair" and e.kind == "repair" for e in trace.events):
        seen.add("malformed_json")
    if repeated_failure(trace):
        seen.add("repeat_failing")
    if missing_tool(trace):
        seen.add("missing_tool")
    if state_split(trace, failed_after=False):
        seen.add("split_state")
    rejected = any(e.kind == "reject_completion" or e.name == "hook:before_complete" for e in trace.events)
    if rejected or (trace.completed and trace.reward is not None and trace.reward < 1
                    and MISSING.search(trace.verifier_output[-1500:])):
        seen.add("premature_complete")
    if read_only_streak(trace) >= EXPLORING_TURNS or any(e.name == "explore_budget" for e in trace.events):
        seen.add("explore_long")
    return seen


def terminal_cause(trace: Trace) -> TerminalCause:
    """What ended the episode as a failure, from the stop reason and the verifier's words."""
    if trace.tampering:
        return TAMPERING
    if trace.stop_reason == "max_turns":
        return "turn_limit"
    if trace.stop_reason == "agent_timeout":
        return "timeout"
    if trace.stop_reason == "max_total_commands":
        return "command_budget"
    if trace.stop_reason == "context_overflow":
        return "context_overflow"
    if MISSING.search(trace.verifier_output[-1500:]):
        return "missing_artifact"
    return "wrong_output"


def failure_cause(trace: Trace) -> FailureCause:
    """One word for why an episode failed ('' when it passed): the terminal cause, and for an episode
    that ran out of turns what it spent them on."""
    if trace.tampering:
        return TAMPERING
    if trace.infra_error:
        return INFRA
    if trace.passed:
        return ""
    cause = terminal_cause(trace)
    if cause == "turn_limit":
        if mostly_unparsed(trace):
            return "parse_error"
        if repeated_failure(trace):
            return "loop"
        if read_only_streak(trace) >= EXPLORING_TURNS:
            return "exploration"
    return cause
