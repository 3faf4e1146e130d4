"""What a trace shows: the failure families visible in it and its main cause.

Deterministic readings of the trace and the verifier's output, not opinions. The rollout
table uses `failure_cause`; the miner builds its signatures on `families`.
"""

from __future__ import annotations

import re
from collections import Counter

from harnesses.middleware.explore_budget import is_read_only
from harnesses.trace import Trace

FAMILIES = ("premature_complete", "split_state", "repeat_failing", "missing_tool", "malformed_json", "explore_long")

_STATE_CMD = re.compile(r"^\s*(cd|export)\s+\S+\s*$")
_NOT_FOUND = re.compile(r"command not found|No such file or directory.*(bin|exec)|not installed", re.IGNORECASE)


def families(trace: Trace) -> set[str]:
    """The model failure families this trace shows, whether or not the episode passed."""
    seen: set[str] = set()
    if any(t.parse_error for t in trace.turns):
        seen.add("malformed_json")
    if any(e.name == "output_repair" and e.kind == "repair" for e in trace.events):
        seen.add("malformed_json")
    failed = Counter(c.command.strip() for c in trace.commands if c.exit_code not in (0, None))
    blocked = any(c.blocked_by for c in trace.commands)
    if blocked or any(n >= 2 for n in failed.values()):
        seen.add("repeat_failing")
    if any(c.exit_code == 127 or (c.exit_code and _NOT_FOUND.search(c.output[-300:] or "")) for c in trace.commands):
        seen.add("missing_tool")
    by_turn: dict[int, list[str]] = {}
    for c in trace.commands:
        by_turn.setdefault(c.turn, []).append(c.command)
    if any(len(cmds) > 1 and _STATE_CMD.match(cmds[0]) for cmds in by_turn.values()):
        seen.add("split_state")
    rejected = any(e.kind == "reject_completion" or e.name == "hook:before_complete" for e in trace.events)
    early_done = trace.completed and trace.reward is not None and trace.reward < 1 and "missing" in \
        trace.verifier_output.lower()
    if rejected or early_done:
        seen.add("premature_complete")
    streak = best = 0
    for t in trace.turns:
        cmds = [c.get("keystrokes", "") for c in (t.action or {}).get("commands", [])]
        streak = streak + 1 if cmds and all(is_read_only(c) for c in cmds) else 0
        best = max(best, streak)
    if best >= 6 or any(e.name == "explore_budget" for e in trace.events):
        seen.add("explore_long")
    return seen


def failure_cause(trace: Trace) -> str:
    """One word for why an episode failed ('' when it passed)."""
    if trace.tampering:
        return "verifier_tampering"
    if trace.infra_error:
        return "infra"
    if trace.passed:
        return ""
    if trace.stop_reason == "max_turns":
        if trace.turns and sum(1 for t in trace.turns if t.parse_error) * 2 >= len(trace.turns):
            return "parse_error"
        fams = families(trace)
        if "repeat_failing" in fams:
            return "loop"
        if "explore_long" in fams:
            return "exploration"
        return "turn_limit"
    if trace.stop_reason == "agent_timeout":
        return "timeout"
    if trace.stop_reason == "max_total_commands":
        return "command_budget"
    out = trace.verifier_output.lower()
    if "missing" in out or "no such file" in out or "does not exist" in out:
        return "missing_artifact"
    return "wrong_output"
