"""Which harness a round promotes from its accepted proposals: the best single one, or the merge of
the compatible ones when the merge passes validation again against the same parent."""

from __future__ import annotations

from typing import Callable

from actors.records import ABResult, Proposal
from actors.run_dir import MERGE_ID
from actors.validator import Candidate
from harnesses.edits import EditError, apply_all
from harnesses.spec import HarnessSpec

Accepted = list[tuple[Proposal, ABResult]]


def gain(ab: ABResult) -> int:
    return ab.splits["train"].delta + ab.splits["val"].delta


def merge(parent: HarnessSpec, accepted: Accepted) -> tuple[HarnessSpec | None, list[str]]:
    """Apply compatible accepted proposals together, best first; those that conflict are left out."""
    order = sorted(accepted, key=lambda pa: -gain(pa[1]))
    edits, used = [], []
    for proposal, _ in order:
        trial = edits + list(proposal.edits)
        try:
            apply_all(parent, trial)
        except EditError:
            continue
        edits, used = trial, used + [proposal.id]
    if len(used) < 2:
        return None, used
    return apply_all(parent, edits), used


def promote(r: int, parent: HarnessSpec, candidates: list[Candidate], accepted: Accepted, *, merging: bool,
            validate: Callable[[Candidate], ABResult]) -> tuple[HarnessSpec, list[str], str]:
    """(promoted harness, the proposals it is made of, why). `validate` runs the merge's A/B."""
    if not accepted:
        return parent, [], "no proposal passed the acceptance rule"
    best = max(accepted, key=lambda pa: (gain(pa[1]), -int(pa[0].id.split("p")[-1])))
    by_id = {c.proposal.id: c for c in candidates}
    promoted, used = by_id[best[0].id].harness, [best[0].id]
    reason = f"best single proposal {best[0].id}"
    merged, merged_ids = merge(parent, accepted) if merging else (None, [])
    if merged is None:
        return promoted, used, reason
    surfaces = sorted({p.surface for p, _ in accepted if p.id in merged_ids})
    mp = Proposal(id=MERGE_ID, round=r, surface="+".join(surfaces),
                  edits=[e for p, _ in accepted if p.id in merged_ids for e in p.edits], audit=best[0].audit,
                  candidate_id=merged.id)
    targets = sorted({k for c in candidates if c.proposal.id in merged_ids for k in c.targets})
    mab = validate(Candidate(mp, merged, targets))
    if mab.accepted:
        return merged, merged_ids, f"merge of {', '.join(merged_ids)} ({mab.reason})"
    return promoted, used, reason + f"; the merge of {', '.join(merged_ids)} failed validation ({mab.reason})"
