"""Signatures of failed episodes, by deterministic extractors over the verifier and the trace.

The terminal cause comes from what the verifier saw and how the episode ended; the
mechanism from what the agent did (the paper's "abstract mechanism"). Verifier evidence
has priority; infrastructure failures get no signature at all. An episode that tampered
with the verifier's places gets `verifier_tampering` whatever else it shows: its verdict
says nothing about the agent's work, and no harness edit is to be proposed "for" it.
"""

from __future__ import annotations

import re
from collections import Counter

from actors.records import Signature
from harnesses.action import truncate_text
from harnesses.middleware.explore_budget import is_read_only
from harnesses.trace import Trace

# mechanism -> whether a harness change could plausibly remove it
MECHANISMS: dict[str, bool] = {
    "malformed_reply": True,
    "repeated_failing_command": True,
    "state_lost_between_commands": True,
    "missing_tool": True,
    "exploration_without_writes": True,
    "premature_completion": True,
    "wrong_solution": False,
    "ran_out_of_time": False,
    "verifier_tampering": False,
}
TAMPERING = "verifier_tampering"
DETECTED_ONLY = frozenset({TAMPERING})
"""Mechanisms only a deterministic check assigns (the backends' snapshots of the verifier's places):
a model's label never overrides them, never takes their name, and the mechanism vocabulary leaves them out."""

_MISSING = re.compile(r"missing|no such file|does not exist|not found|was not built|not created", re.IGNORECASE)
_STATE_CMD = re.compile(r"^\s*(cd|export|source)\s+\S+(\s+\S+)*\s*$")


def terminal_cause(trace: Trace) -> str:
    """What ended the episode as a failure, from the stop reason and the verifier's words."""
    if trace.stop_reason == "max_turns":
        return "turn_limit"
    if trace.stop_reason == "agent_timeout":
        return "timeout"
    if trace.stop_reason == "max_total_commands":
        return "command_budget"
    if _MISSING.search(trace.verifier_output[-1500:]):
        return "missing_artifact"
    return "wrong_output"


def _parse_errors(trace: Trace) -> int:
    return sum(1 for t in trace.turns if t.parse_error)


def _repeated_failure(trace: Trace) -> str | None:
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


def _state_split(trace: Trace) -> str | None:
    """A turn that ran a lone cd/export and then a command that failed: state did not carry over."""
    by_turn: dict[int, list] = {}
    for c in trace.commands:
        by_turn.setdefault(c.turn, []).append(c)
    for cmds in by_turn.values():
        for i, c in enumerate(cmds[:-1]):
            if _STATE_CMD.match(c.command) and any(d.exit_code not in (0, None) for d in cmds[i + 1:]):
                return c.command
    return None


def _missing_tool(trace: Trace) -> str | None:
    """`command not found` and the agent carried on (the next command is a different one)."""
    for i, c in enumerate(trace.commands):
        if c.exit_code == 127 or (c.exit_code and "command not found" in c.output[-300:]):
            return c.command
    return None


def _explored(trace: Trace) -> int:
    streak = best = 0
    for t in trace.turns:
        cmds = [c.get("keystrokes", "") for c in (t.action or {}).get("commands", [])]
        streak = streak + 1 if cmds and all(is_read_only(c) for c in cmds) else 0
        best = max(best, streak)
    return best


def _tampering(trace: Trace) -> Signature:
    what = ", ".join(dict.fromkeys(f"{t.path} {t.change}" for t in trace.tampering))
    return Signature(terminal_cause=TAMPERING, criticality="root_cause", mechanism=TAMPERING,
                     actionable=MECHANISMS[TAMPERING], evidence=truncate_text(f"verifier's files: {what}", 300))


def extract(trace: Trace) -> Signature | None:
    """The signature of a failed, non-infrastructure episode; None for passes and infra failures.
    Tampering comes first: such an episode is never a pass, nor an infrastructure error."""
    if trace.tampering:
        return _tampering(trace)
    if trace.passed or trace.infra_error:
        return None
    cause = terminal_cause(trace)
    verdict = trace.verifier_output.strip().splitlines()[-1:] or [""]

    def sig(mechanism: str, evidence: str, criticality: str = "root_cause") -> Signature:
        return Signature(terminal_cause=cause, criticality=criticality, mechanism=mechanism,
                         actionable=MECHANISMS[mechanism], evidence=truncate_text(evidence, 300))

    if cause in ("turn_limit", "command_budget", "timeout"):
        if trace.turns and _parse_errors(trace) * 2 >= len(trace.turns):
            return sig("malformed_reply", trace.turns[-1].parse_error or "")
        repeated = _repeated_failure(trace)
        if repeated:
            return sig("repeated_failing_command", f"repeated: {repeated}")
        if _explored(trace) >= 6:
            return sig("exploration_without_writes", f"{_explored(trace)} read-only turns in a row")
        if cause == "timeout":
            return sig("ran_out_of_time", f"stopped after {trace.duration_s:.0f}s", "unknown")
    tool = _missing_tool(trace)
    if tool:
        return sig("missing_tool", f"not installed: {tool.split()[0] if tool.split() else tool}; verifier: {verdict[0]}")
    split = _state_split(trace)
    if split:
        return sig("state_lost_between_commands", f"`{split}` ran alone; the next command failed")
    repeated = _repeated_failure(trace)
    if repeated:
        return sig("repeated_failing_command", f"repeated: {repeated}", "contributor")
    if trace.completed and cause == "missing_artifact":
        return sig("premature_completion", f"declared complete; verifier: {verdict[0]}")
    return sig("wrong_solution", f"verifier: {verdict[0]}", "unknown")


def excerpt(trace: Trace, limit: int = 1800) -> str:
    """Raw trace lines around the failure: the last commands, middleware messages, the verifier."""
    lines: list[str] = []
    errors = Counter(t.parse_error for t in trace.turns if t.parse_error)
    for msg, n in errors.most_common(1):
        lines.append(f"[{n} unparseable replies] {msg}")
        lines.append(f"raw reply: {next(t.raw for t in trace.turns if t.parse_error)[:200]}")
    for c in trace.commands[-6:]:
        status = f"blocked: {c.blocked_by}" if c.blocked_by else f"exit {c.exit_code}"
        lines.append(f"$ {c.command[:200]}  -> {status}")
        if c.output.strip():
            lines.append("  " + c.output.strip()[-200:].replace("\n", "\n  "))
    for e in trace.events[-4:]:
        lines.append(f"[{e.name}:{e.kind}] {e.message[:200]}")
    lines.append(f"stop: {trace.stop_reason}; verifier: {trace.verifier_output.strip()[-300:]}")
    return truncate_text("\n".join(lines), limit)
