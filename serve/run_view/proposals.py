"""A proposal as its page shows it: the edits and audit record, the candidate harness (saved,
waiting, or rebuilt from the edits) and its diff against the parent, the A/B result and pairs,
the episodes that tampered with the verifier, and what waits for a verdict on it."""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.approvals import ApprovalStore
from actors.promotion import merge
from actors.records import ABResult, Audit, Decision, Pending, Proposal, Verdict
from actors.run_dir import MERGE_ID
from cluster.report import Round, Run, load_run, status
from cluster.tampering import TamperedEpisode, count
from harnesses.edits import Edit, apply_all, summarize_edits
from harnesses.spec import HarnessSpec, diff, yaml_diff
from harnesses.vocabulary import ACCEPTANCE_SPLITS
from serve.run_paths import NotFound, check_proposal_id
from serve.run_view.files import read_candidate
from serve.run_view.pairs import PairRow, pairs
from serve.run_view.pending import awaiting, round_pending
from serve.run_view.rounds import find_round


class ProposalDetail(msgspec.Struct, kw_only=True):
    id: str
    round: int
    surface: str
    edits: list[Edit]
    summary: str
    audit: Audit | None
    parent_id: str
    candidate_id: str
    diff: str
    yaml_diff: str
    ab: ABResult | None
    status: str
    pairs: dict[str, list[PairRow]]
    decision: Decision | None
    awaiting: bool
    """A validated winner includes it and waits for a verdict on it."""
    pending: Pending | None
    verdicts: list[Verdict]
    merged_from: list[str] = []
    tampering: list[TamperedEpisode] = []
    """The candidate's and the parent's train and val episodes that tampered with the verifier."""
    candidate_tampered: int = 0
    parent_tampered: int = 0


def _merge_parts(r: Round) -> list[Proposal]:
    """The proposals a round's merge combined: the decision's list, else every accepted one (merge() order)."""
    props = {p.id: p for p in (r.proposals.proposals if r.proposals else [])}
    ids = (r.decision.merged if r.decision and len(r.decision.merged) > 1 else
           [pid for pid, ab in r.ab.items() if pid != MERGE_ID and ab.accepted])
    return [props[i] for i in ids if i in props]


def _candidate(run: Run, rnd: int, parent: HarnessSpec | None, edits: list[Edit], candidate_id: str,
               parts: list[tuple[Proposal, ABResult | None]] | None = None) -> HarnessSpec | None:
    """The candidate harness: saved when it was promoted, else rebuilt from its edits (checked by id)."""
    saved = run.harness(candidate_id)
    if saved or parent is None:
        return saved
    cand = read_candidate(run.root, rnd)  # the controller keeps a pending winner there
    if cand is not None and cand.id == candidate_id:
        return cand
    try:
        if parts is not None:
            if any(ab is None for _, ab in parts):
                return None
            cand, _ = merge(parent, parts)
        else:
            cand = apply_all(parent, edits)
    except ValueError:
        return None
    return cand if cand is not None and cand.id == candidate_id else None


def proposal_detail(run_dir: Path, proposal_id: str) -> ProposalDetail:
    n, local = check_proposal_id(proposal_id)
    run = load_run(run_dir)
    r = find_round(run, n)
    props = {p.id: p for p in (r.proposals.proposals if r.proposals else [])}
    ab = r.ab.get(local)
    parts: list[Proposal] | None = None
    if local == MERGE_ID:
        if ab is None:
            raise NotFound(f"proposal {proposal_id!r}: round {n} has no merge")
        parts = _merge_parts(r)
        edits = [e for p in parts for e in p.edits]
        p = Proposal(id=proposal_id, round=n, surface="+".join(sorted({q.surface for q in parts})), edits=edits,
                     audit=parts[0].audit if parts else Audit(target_cluster="", hypothesis="", expected_effect="",
                                                              regression_risk=""), candidate_id=ab.candidate_id)
    elif local in props:
        p = props[local]
    else:
        raise NotFound(f"proposal {proposal_id!r}: not in round {n}")
    parent_id = ((ab and ab.parent_id) or (r.mining and r.mining.harness_id) or (r.decision and r.decision.parent_id)
                 or "")
    parent = run.harness(parent_id)
    cand = _candidate(run, n, parent, p.edits, p.candidate_id,
                      [(q, r.ab.get(q.id)) for q in parts] if parts is not None else None)
    waiting = awaiting(run_dir)
    bad = [e for e in run.tampered if e.harness_id in (parent_id, p.candidate_id) and e.split in ACCEPTANCE_SPLITS]
    d = r.decision
    st = status(ab)
    if d and d.promoted_id != d.parent_id and (p.candidate_id == d.promoted_id or local in d.merged):
        st += " -> promoted"
    return ProposalDetail(
        id=proposal_id, round=n, surface=p.surface, edits=p.edits, summary=summarize_edits(p.edits),
        audit=None if local == MERGE_ID else p.audit, parent_id=parent_id, candidate_id=p.candidate_id,
        diff=diff(parent, cand) if parent and cand else "(the parent or candidate harness is not on disk)",
        yaml_diff=yaml_diff(parent, cand) if parent and cand else "", ab=ab, status=st,
        pairs=pairs(run_dir, parent_id, p.candidate_id), decision=d,
        awaiting=proposal_id in waiting, tampering=bad, candidate_tampered=count(bad, p.candidate_id),
        parent_tampered=count(bad, parent_id),
        pending=waiting.get(proposal_id) or round_pending(run_dir, n), merged_from=[q.id for q in parts or []],
        verdicts=[v for v in ApprovalStore(run_dir).verdicts() if v.proposal_id == proposal_id])
