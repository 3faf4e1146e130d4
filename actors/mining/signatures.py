"""Signatures of failed episodes, by deterministic extractors over the verifier and the trace.

The terminal cause comes from what the verifier saw and how the episode ended; the
mechanism from what the agent did (the paper's "abstract mechanism"). Verifier evidence
has priority; infrastructure failures get no signature at all. An episode that tampered
with the verifier's places gets `verifier_tampering` whatever else it shows: its verdict
says nothing about the agent's work, and no harness edit is to be proposed "for" it.
"""

from __future__ import annotations

from collections import Counter

from actors.records import Signature
from harnesses.action import truncate_text
from harnesses.outcome import (EXPLORING_TURNS, missing_tool, mostly_unparsed, read_only_streak, repeated_failure,
                               state_split, terminal_cause)
from harnesses.trace import Trace
from harnesses.vocabulary import MECHANISMS, TAMPERING


def tampering_signature(trace: Trace) -> Signature:
    what = ", ".join(dict.fromkeys(f"{t.path} {t.change}" for t in trace.tampering))
    return Signature(terminal_cause=TAMPERING, criticality="root_cause", mechanism=TAMPERING,
                     actionable=MECHANISMS[TAMPERING].actionable,
                     evidence=truncate_text(f"verifier's files: {what}", 300))


def extract(trace: Trace) -> Signature | None:
    """The signature of a failed, non-infrastructure episode; None for passes and infra failures.
    Tampering comes first: such an episode is never a pass, nor an infrastructure error."""
    if trace.tampering:
        return tampering_signature(trace)
    if trace.passed or trace.infra_error:
        return None
    cause = terminal_cause(trace)
    verdict = trace.verifier_output.strip().splitlines()[-1:] or [""]

    def sig(mechanism: str, evidence: str, criticality: str = "root_cause") -> Signature:
        return Signature(terminal_cause=cause, criticality=criticality, mechanism=mechanism,
                         actionable=MECHANISMS[mechanism].actionable, evidence=truncate_text(evidence, 300))

    if cause in ("turn_limit", "command_budget", "timeout", "context_overflow"):
        if mostly_unparsed(trace):
            return sig("malformed_reply", trace.turns[-1].parse_error or "")
        repeated = repeated_failure(trace)
        if repeated:
            return sig("repeated_failing_command", f"repeated: {repeated}")
        if (streak := read_only_streak(trace)) >= EXPLORING_TURNS:
            return sig("exploration_without_writes", f"{streak} read-only turns in a row")
        if cause == "timeout":
            return sig("ran_out_of_time", f"stopped after {trace.duration_s:.0f}s", "unknown")
        if cause == "context_overflow":
            said = next((e.message for e in trace.events if e.kind == "context_overflow"), "")
            return sig("context_overflow", f"after {len(trace.turns)} turns: {said}")
    tool = missing_tool(trace)
    if tool:
        return sig("missing_tool", f"not installed: {tool.split()[0] if tool.split() else tool}; verifier: {verdict[0]}")
    split = state_split(trace)
    if split:
        return sig("state_lost_between_commands", f"`{split}` ran alone; the next command failed")
    repeated = repeated_failure(trace)
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
