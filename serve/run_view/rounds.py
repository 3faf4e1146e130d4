"""A round as the review app shows it: its row in the run's table (scores, counts, the stages and
their progress) and its own page (clusters, proposals and their status, refusals, the decision)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.records import Cluster, Decision, Pending, Refusal
from actors.run_dir import MERGE_ID
from cluster.report import Round, Run, load_run, status
from cluster.tampering import TamperedEpisode, count, round_count
from harnesses.edits import summarize_edits
from harnesses.vocabulary import ACCEPTANCE_SPLITS
from harnesses.vocabulary import ROUND_STAGES as STAGES
from serve.run_paths import NotFound
from serve.run_view.files import read_episodes
from serve.run_view.pending import awaiting
from serve.run_view.scores import Score, group_counts, planned, score


class Stage(msgspec.Struct, kw_only=True):
    name: str
    status: str
    """done | current | todo"""
    done: int = 0
    total: int | None = None
    """Episodes finished and planned (None where the stage runs no episodes or the plan is unknown)."""


class RoundRow(msgspec.Struct, kw_only=True):
    n: int
    harness_id: str
    train: Score | None = None
    val: Score | None = None
    clusters: int | None = None
    eligible: int | None = None
    proposals: int | None = None
    refused: int | None = None
    accepted: int | None = None
    promoted_id: str = ""
    decided_by: str = ""
    approval: str = ""
    stopped: str = ""
    finished: bool = False
    stages: list[Stage] = []
    tampered: int = 0
    """The round's episodes (rollout and validation, train and val) that tampered with the verifier."""


class ProposalRow(msgspec.Struct, kw_only=True):
    id: str
    """As the approval store names it: r<round>p<n> or r<round>merge."""
    surface: str
    target_cluster: str = ""
    hypothesis: str = ""
    summary: str = ""
    status: str
    """accepted | rejected | stopped early | not validated (+ ' -> promoted')."""
    candidate_id: str = ""
    awaiting: bool = False
    tampered: int = 0


class RoundDetail(msgspec.Struct, kw_only=True):
    n: int
    row: RoundRow
    clusters: list[Cluster]
    proposals: list[ProposalRow]
    refusals: list[Refusal]
    decision: Decision | None = None


def _stages(run: Run, r: Round, harness_id: str, counts: dict, plan: dict) -> list[Stage]:
    if r.record is not None:
        return [Stage(name=s, status="done") for s in STAGES if s != "approval" or (r.decision and r.decision.approval)]
    phase = run.state.phase if run.state.round == r.n else ""
    current = STAGES.index(phase) if phase in STAGES else 0
    out = []
    for i, name in enumerate(STAGES):
        st = "done" if i < current else "current" if i == current else "todo"
        done, total = 0, None
        if name == "rollout":
            done = sum(counts.get(f"{harness_id}/{s}", (0, 0))[0] for s in ACCEPTANCE_SPLITS)
            total = (plan.get("train", 0) + plan.get("val", 0)) or None
        elif name == "validate" and r.proposals:
            cands = {p.candidate_id for p in r.proposals.proposals}
            done = sum(n for g, (n, _) in counts.items() if g.split("/")[0] in cands)
            total = len(cands) * (plan.get("train", 0) + plan.get("val", 0)) or None
        if name == "approval" and phase != "approval":
            continue
        out.append(Stage(name=name, status=st, done=done, total=total))
    return out


def round_row(run: Run, r: Round, counts: dict, plan: dict) -> RoundRow:
    rec, m, d = r.record, r.mining, r.decision
    hid = (rec and rec.harness_id) or (m and m.harness_id) or (d and d.parent_id) or ""
    if not hid and run.state.round == r.n:
        hid = run.state.harness_id
    row = RoundRow(n=r.n, harness_id=hid, finished=rec is not None)
    if rec:
        row.train = score("train", hid, rec.train.passed, rec.train.episodes)
        row.val = score("val", hid, rec.val.passed, rec.val.episodes)
        row.accepted, row.promoted_id, row.stopped = rec.accepted, rec.promoted_id, rec.stopped
    else:
        for s in ACCEPTANCE_SPLITS:
            n, p = counts.get(f"{hid}/{s}", (0, 0))
            setattr(row, s, score(s, hid, p, n, partial=True) if n else None)
    if m:
        row.clusters, row.eligible = len(m.clusters), sum(c.eligible for c in m.clusters)
    if r.proposals:
        row.proposals, row.refused = len(r.proposals.proposals), len(r.proposals.refusals)
    if d:
        row.promoted_id, row.decided_by, row.approval = d.promoted_id, d.decided_by, d.approval
        row.accepted = len(d.accepted)
    row.stages = _stages(run, r, hid, counts, plan)
    row.tampered = round_count(run.tampered, r, hid)
    return row


def find_round(run: Run, n: int) -> Round:
    for r in run.rounds:
        if r.n == n:
            return r
    raise NotFound(f"round {n}: not in this run")


def _proposal_rows(r: Round, waiting: dict[str, Pending], tampered: list[TamperedEpisode]) -> list[ProposalRow]:
    d = r.decision
    promoted = d.promoted_id if d and d.promoted_id != d.parent_id else ""
    rows = []
    for p in (r.proposals.proposals if r.proposals else []):
        ab = r.ab.get(p.id)
        st = status(ab) + (" -> promoted" if promoted and (p.candidate_id == promoted or p.id in d.merged) else "")
        rows.append(ProposalRow(id=p.id, surface=p.surface, target_cluster=p.audit.target_cluster,
                                hypothesis=p.audit.hypothesis, summary=summarize_edits(p.edits), status=st,
                                candidate_id=p.candidate_id, awaiting=p.id in waiting,
                                tampered=count(tampered, p.candidate_id)))
    if MERGE_ID in r.ab:
        ab, mid = r.ab[MERGE_ID], f"r{r.n}{MERGE_ID}"
        st = status(ab) + (" -> promoted" if promoted and ab.candidate_id == promoted else "")
        rows.append(ProposalRow(id=mid, surface="(merge)", status=st, candidate_id=ab.candidate_id,
                                summary="the accepted proposals together", awaiting=mid in waiting,
                                tampered=count(tampered, ab.candidate_id)))
    return rows


def round_detail(run_dir: Path, n: int) -> RoundDetail:
    run = load_run(run_dir)
    r = find_round(run, n)
    counts, plan = group_counts(read_episodes(run_dir)), planned(run)
    return RoundDetail(n=n, row=round_row(run, r, counts, plan),
                       clusters=sorted(r.mining.clusters, key=lambda c: -c.score) if r.mining else [],
                       proposals=_proposal_rows(r, awaiting(run_dir), run.tampered),
                       refusals=list(r.proposals.refusals) if r.proposals else [],
                       decision=r.decision)
