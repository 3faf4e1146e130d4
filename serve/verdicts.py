"""Giving a verdict on a proposal: the one write the review app and the CLI make.

Everything is checked before `approvals.jsonl` is touched: the id's shape, the comment's
length, that the proposal exists and that a validated winner waits for a verdict on it
(a verdict on anything else would change nothing the controller reads, so it is refused
rather than silently recorded); the verdict and who gives it, by `ApprovalStore.record`.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.approvals import MAX_COMMENT, ApprovalError, ApprovalStore
from actors.records import Verdict
from actors.run_dir import AB, MERGE_ID, PROPOSALS, RunStore
from serve.run_paths import NotFound, check_proposal_id
from serve.run_view.pending import awaiting


class NotAwaiting(Exception):
    """The proposal exists but no winner waits for a verdict on it (HTTP 409)."""


class CommentTooLong(ApprovalError):
    """HTTP 413."""


def proposal_exists(run_dir: Path, proposal_id: str) -> bool:
    n, local = check_proposal_id(proposal_id)
    store = RunStore(run_dir, create=False)
    if local == MERGE_ID:
        return store.exists(AB, round=n, proposal=MERGE_ID)
    try:
        props = store.read(PROPOSALS, round=n)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return False
    return props is not None and any(p.id == local for p in props.proposals)


def give_verdict(run_dir: Path, proposal_id: str, verdict: str, by: str, comment: str = "") -> Verdict:
    check_proposal_id(proposal_id)
    if len(comment) > MAX_COMMENT:  # the store refuses it too; here it is told apart (HTTP 413)
        raise CommentTooLong(f"comment: {len(comment)} characters (at most {MAX_COMMENT})")
    if not proposal_exists(run_dir, proposal_id):
        raise NotFound(f"proposal {proposal_id!r}: no such proposal in this run")
    waiting = awaiting(run_dir)
    if proposal_id not in waiting:
        raise NotAwaiting(f"proposal {proposal_id!r}: nothing waits for a verdict on it "
                          f"(waiting: {', '.join(sorted(waiting)) or 'none'})")
    return ApprovalStore(run_dir).record(proposal_id, verdict, by, comment)
