"""Who may change the harness: the approval policy, and the approvals people give.

A harness that rewrites itself silently is a liability, so a validated winner can be made
to wait for a person: always (`mode: required`), or only when it touches surfaces the owner
guards (`always`: e.g. hooks and tools). Approvals are lines in `approvals.jsonl` in the run
directory (append-only, so concurrent writers never lose one; the last word on a proposal
counts); what waits is `rounds/<r>/pending.json`. The review app, the CLI and the
controller all go through `ApprovalStore`.
"""

from __future__ import annotations

import fcntl
import fnmatch
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import msgspec

from actors.config import Config
from actors.records import Pending, Verdict
from actors.run_dir import APPROVALS, PENDING, RunStore

MAX_COMMENT = 2000
PROPOSAL_ID = re.compile(r"^r\d{1,4}(p\d{1,3}|merge)$")


class ApprovalConfig(Config):
    """When a validated winner needs a person before it is promoted."""

    mode: Literal["auto", "required"] = "auto"
    """auto: promote what passes validation (the paper); required: every winner waits for a person."""
    always: tuple[str, ...] = ()
    """Surfaces (glob patterns, e.g. "hooks", "tools", "prompt.*") that need approval even in auto mode."""
    exempt: tuple[str, ...] = ()
    """Surfaces that never need approval in required mode (e.g. "prompt.*": prompt rules are cheap to undo)."""
    while_waiting: Literal["pause", "continue"] = "pause"
    """pause: the run waits for the verdict; continue: it carries on from the parent and adopts the winner
    at the start of a later round if it is approved by then (and the harness has not moved on)."""
    wait_timeout_s: float | None = None
    """pause: give up waiting after this long and keep the parent (None: wait for ever)."""
    poll_s: float = 2.0


def _matches(surface: str, patterns: tuple[str, ...]) -> bool:
    parts = surface.split("+")  # a merge's surface is its parts joined
    return any(fnmatch.fnmatchcase(p, pat) for p in parts for pat in patterns)


def needs_approval(policy: ApprovalConfig, surfaces: list[str]) -> bool:
    if any(_matches(s, policy.always) for s in surfaces):
        return True
    if policy.mode == "required":
        return not all(_matches(s, policy.exempt) for s in surfaces)
    return False


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ApprovalError(ValueError):
    """A verdict that cannot be recorded: names what is wrong."""


class ApprovalStore:
    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.run = RunStore(self.root, create=False)
        self.path = self.run.path(APPROVALS)

    def record(self, proposal_id: str, verdict: str, by: str, comment: str = "") -> Verdict:
        if not PROPOSAL_ID.match(proposal_id):
            raise ApprovalError(f"proposal id {proposal_id!r}: expected r<round>p<n> or r<round>merge")
        if verdict not in ("approve", "reject"):
            raise ApprovalError(f"verdict {verdict!r}: expected approve or reject")
        if len(comment) > MAX_COMMENT:
            raise ApprovalError(f"comment: {len(comment)} characters (at most {MAX_COMMENT})")
        if not by or len(by) > 100:
            raise ApprovalError("by: who decides must be named (at most 100 characters)")
        v = Verdict(proposal_id=proposal_id, verdict=verdict, by=by, at=now(), comment=comment)
        self.root.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(msgspec.json.encode(v) + b"\n")
        return v

    def verdicts(self) -> list[Verdict]:
        return self.run.lines(APPROVALS)  # a torn last line of a killed writer is skipped

    def latest(self) -> dict[str, Verdict]:
        return {v.proposal_id: v for v in self.verdicts()}

    def verdict_on(self, proposals: list[str]) -> tuple[str, list[Verdict]]:
        """'approve' when every proposal is approved, 'reject' when any is rejected, else 'waiting'."""
        latest = self.latest()
        given = [latest[p] for p in proposals if p in latest]
        if any(v.verdict == "reject" for v in given):
            return "reject", [v for v in given if v.verdict == "reject"]
        if len(given) == len(proposals):
            return "approve", given
        return "waiting", given

    def pending(self) -> list[Pending]:
        """Winners waiting for a verdict, oldest round first."""
        waiting = (self.run.read(PENDING, round=r) for r in self.run.rounds())
        return [p for p in waiting if p is not None and self.verdict_on(p.proposals)[0] == "waiting"]
