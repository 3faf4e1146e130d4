"""What waits for a person: the proposals a validated winner holds back until they have a verdict.

The rounds' and proposals' pages mark them, and a verdict (serve/verdicts.py) is taken only on one.
"""

from __future__ import annotations

from pathlib import Path

from actors.approvals import ApprovalStore
from actors.records import Pending
from actors.run_dir import DECISION, PENDING
from serve.run_view.files import UNREADABLE, read_round_record


def awaiting(run_dir: Path) -> dict[str, Pending]:
    """Proposal id -> the pending winner that waits for a verdict on it. A winner whose round was
    decided without one (timed out) waits no more; one the run carried on without still does."""
    out = {}
    for p in ApprovalStore(run_dir).pending():
        try:
            decision = read_round_record(run_dir, p.round, DECISION)
        except UNREADABLE:
            continue
        if decision is None or decision.approval == "awaiting approval":
            out.update({pid: p for pid in p.proposals})
    return out


def round_pending(run_dir: Path, n: int) -> Pending | None:
    """The winner round n left waiting (rounds/<n>/pending.json), None when there is none or it is unreadable."""
    try:
        return read_round_record(run_dir, n, PENDING)
    except UNREADABLE:
        return None
