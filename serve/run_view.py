"""What a person reviewing a run sees, as typed values read from its run directory (no Ray).

The review app's JSON API and the CLI answer from these functions. They reuse the report's
tolerant loader (cluster/report.py), so a run that is still going, or stopped half-way,
reads as far as it got. Ids are checked by serve/run_paths.py before anything is read.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import msgspec

from actors.approvals import ApprovalStore, Pending, Verdict
from actors.records import ABResult, Audit, Cluster, Decision, Proposal, SplitResult
from actors.stats import wilson_interval
from cluster.report import Round, Run, load_run, status
from cluster.tampering import TamperedEpisode, count, round_count
from harnesses.edits import apply_all, decode_edits, summarize_edits
from harnesses.outcome import failure_cause
from harnesses.spec import HarnessSpec, diff, load_harness, yaml_diff
from harnesses.trace import Trace, load_trace
from serve.run_paths import NotFound, check_proposal_id, parse_episode_id, trace_path

STAGES = ("rollout", "mine", "propose", "validate", "merge", "approval")


class Score(msgspec.Struct, kw_only=True):
    split: str
    harness_id: str
    passed: int
    episodes: int
    rate: float
    low: float
    high: float
    """95% Wilson interval."""
    partial: bool = False
    """Counted from the episodes finished so far (the round is still running)."""


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


class RunSummary(msgspec.Struct, kw_only=True):
    id: str
    round: int = 0
    phase: str = ""
    done: bool = False
    harness_id: str = ""
    rounds_planned: int | None = None
    model: str = ""
    suite: str = ""
    pending: int = 0


class LineageEntry(msgspec.Struct, kw_only=True):
    id: str
    parent: str | None = None
    round: int = 0
    proposals: list[str] = []
    diff: str = ""
    promoted: bool = True


class FinalView(msgspec.Struct, kw_only=True):
    initial: Score
    final: Score
    paired: SplitResult


class RunDetail(msgspec.Struct, kw_only=True):
    summary: RunSummary
    rounds: list[RoundRow]
    pending: list[Pending]
    verdicts: list[Verdict]
    lineage: list[LineageEntry]
    final: FinalView | None = None
    problems: list[str] = []


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
    refusals: list[dict]
    decision: Decision | None = None


class PairRow(msgspec.Struct, kw_only=True):
    task: str
    attempt: int
    seed: int
    parent: bool | None
    """Passed, failed, or None when the episode did not run (racing stopped it, or an infra error)."""
    candidate: bool | None
    parent_trace: str = ""
    candidate_trace: str = ""
    parent_tampered: bool = False
    candidate_tampered: bool = False


class ProposalDetail(msgspec.Struct, kw_only=True):
    id: str
    round: int
    surface: str
    edits: list[dict]
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


class TraceView(msgspec.Struct, kw_only=True):
    episode_id: str
    split: str
    passed: bool
    trace: Trace
    cause: str = ""
    """Why it failed (harnesses/outcome.py): 'verifier_tampering' when it left changes where the verifier lives."""


# ---------------------------------------------------------------- helpers


def score(split: str, harness_id: str, passed: int, episodes: int, partial: bool = False) -> Score:
    lo, hi = wilson_interval(passed, episodes)
    return Score(split=split, harness_id=harness_id, passed=passed, episodes=episodes,
                 rate=passed / episodes if episodes else 0.0, low=lo, high=hi, partial=partial)


def episodes(run_dir: Path) -> list[dict]:
    """episodes.jsonl, skipping a torn last line."""
    path = run_dir / "episodes.jsonl"
    out = []
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict) and isinstance(item.get("group"), str):
                out.append(item)
    return out


def group_counts(eps: list[dict]) -> dict[str, tuple[int, int]]:
    """group ('<harness>/<split>') -> (counted episodes, passed); infra errors are not counted."""
    out: dict[str, tuple[int, int]] = {}
    for e in eps:
        if e.get("infra"):
            continue
        n, p = out.get(e["group"], (0, 0))
        out[e["group"]] = (n + 1, p + bool(e.get("passed")))
    return out


@lru_cache(maxsize=16)
def _split_sizes(suite: str, limit: int | None) -> dict[str, int]:
    from cluster.config import resolve_suite
    from harnesses.tasks import load_suite

    s = load_suite(resolve_suite(suite))
    return {name: len(s.split(name)[:limit] if limit else s.split(name)) for name in ("train", "val", "test")}


def planned(run: Run) -> dict[str, int]:
    """Episodes per split one harness runs: tasks x attempts ({} when the suite cannot be read)."""
    cfg = run.config
    try:
        sizes = _split_sizes(str(cfg.get("suite", "core")), cfg.get("limit"))
    except Exception:  # a suite that moved: progress shows counts without totals
        return {}
    return {k: v * int(cfg.get("attempts", 1)) for k, v in sizes.items()}


def _model(cfg: dict) -> str:
    m = cfg.get("model")
    if isinstance(m, dict):
        return "/".join(str(x) for x in (m.get("kind"), m.get("profile") or m.get("model")) if x)
    return str(m or "")


def summary(run_id: str, run_dir: Path) -> RunSummary:
    try:
        state = json.loads((run_dir / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    try:
        import yaml

        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    except Exception:  # missing or unreadable: the run is listed without it
        cfg = {}
    cfg = cfg if isinstance(cfg, dict) else {}
    return RunSummary(id=run_id, round=int(state.get("round", 0) or 0), phase=str(state.get("phase", "")),
                      done=bool(state.get("done")), harness_id=str(state.get("harness_id", "")),
                      rounds_planned=cfg.get("rounds"), model=_model(cfg), suite=str(cfg.get("suite", "")),
                      pending=len(ApprovalStore(run_dir).pending()))


def _stages(run: Run, r: Round, harness_id: str, counts: dict, plan: dict) -> list[Stage]:
    if r.record is not None:
        return [Stage(name=s, status="done") for s in STAGES if s != "approval" or (r.decision and r.decision.approval)]
    phase = run.state.get("phase", "") if run.state.get("round") == r.n else ""
    current = STAGES.index(phase) if phase in STAGES else 0
    out = []
    for i, name in enumerate(STAGES):
        st = "done" if i < current else "current" if i == current else "todo"
        done, total = 0, None
        if name == "rollout":
            done = sum(counts.get(f"{harness_id}/{s}", (0, 0))[0] for s in ("train", "val"))
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
    if not hid and run.state.get("round") == r.n:
        hid = run.state.get("harness_id", "")
    row = RoundRow(n=r.n, harness_id=hid, finished=rec is not None)
    if rec:
        row.train = score("train", hid, rec.train.passed, rec.train.episodes)
        row.val = score("val", hid, rec.val.passed, rec.val.episodes)
        row.accepted, row.promoted_id, row.stopped = rec.accepted, rec.promoted_id, rec.stopped
    else:
        for s in ("train", "val"):
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


def _rounds(run: Run) -> list[Round]:
    """The rounds on disk, plus the one the state says is starting (no files yet)."""
    rounds = list(run.rounds)
    cur = run.state.get("round")
    if isinstance(cur, int) and cur > 0 and not run.state.get("done") and cur not in {r.n for r in rounds}:
        rounds.append(Round(cur))
    return rounds


# ---------------------------------------------------------------- views


def run_detail(run_id: str, run_dir: Path) -> RunDetail:
    run = load_run(run_dir)
    counts, plan = group_counts(episodes(run_dir)), planned(run)
    store = ApprovalStore(run_dir)
    from cluster.export import chain

    promoted = {hid for _, _, hid, _ in chain(run)}
    lineage = [LineageEntry(id=str(e.get("id", "")), parent=e.get("parent"), round=int(e.get("round") or 0),
                            proposals=list(e.get("proposals") or []), diff=str(e.get("diff") or ""),
                            promoted=e.get("id") in promoted) for e in run.lineage]
    final = None
    if run.final:
        f = run.final
        final = FinalView(initial=score("test", f.initial.harness_id, f.initial.passed, f.initial.episodes),
                          final=score("test", f.final.harness_id, f.final.passed, f.final.episodes), paired=f.paired)
    return RunDetail(summary=summary(run_id, run_dir), rounds=[round_row(run, r, counts, plan) for r in _rounds(run)],
                     pending=store.pending(), verdicts=store.verdicts(), lineage=lineage, final=final,
                     problems=[p for p in run.problems if "missing" not in p or "round" not in p])


def _round(run: Run, n: int) -> Round:
    for r in run.rounds:
        if r.n == n:
            return r
    raise NotFound(f"round {n}: not in this run")


def awaiting(run_dir: Path) -> dict[str, Pending]:
    """Proposal id -> the pending winner that waits for a verdict on it. A winner whose round was
    decided without one (timed out) waits no more; one the run carried on without still does."""
    out = {}
    for p in ApprovalStore(run_dir).pending():
        path = run_dir / "rounds" / str(p.round) / "decision.json"
        try:
            decision = msgspec.json.decode(path.read_bytes(), type=Decision) if path.exists() else None
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            continue
        if decision is None or decision.approval == "awaiting approval":
            out.update({pid: p for pid in p.proposals})
    return out


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
    if "merge" in r.ab:
        ab, mid = r.ab["merge"], f"r{r.n}merge"
        st = status(ab) + (" -> promoted" if promoted and ab.candidate_id == promoted else "")
        rows.append(ProposalRow(id=mid, surface="(merge)", status=st, candidate_id=ab.candidate_id,
                                summary="the accepted proposals together", awaiting=mid in waiting,
                                tampered=count(tampered, ab.candidate_id)))
    return rows


def round_detail(run_dir: Path, n: int) -> RoundDetail:
    run = load_run(run_dir)
    r = _round(run, n)
    counts, plan = group_counts(episodes(run_dir)), planned(run)
    return RoundDetail(n=n, row=round_row(run, r, counts, plan),
                       clusters=sorted(r.mining.clusters, key=lambda c: -c.score) if r.mining else [],
                       proposals=_proposal_rows(r, awaiting(run_dir), run.tampered),
                       refusals=[msgspec.to_builtins(x) for x in r.proposals.refusals] if r.proposals else [],
                       decision=r.decision)


def _merge_parts(r: Round) -> list[Proposal]:
    """The proposals a round's merge combined: the decision's list, else every accepted one (merge() order)."""
    props = {p.id: p for p in (r.proposals.proposals if r.proposals else [])}
    ids = (r.decision.merged if r.decision and len(r.decision.merged) > 1 else
           [pid for pid, ab in r.ab.items() if pid != "merge" and ab.accepted])
    return [props[i] for i in ids if i in props]


def _candidate(run: Run, rnd: int, parent: HarnessSpec | None, edits: list[dict], candidate_id: str,
               parts: list[tuple[Proposal, ABResult | None]] | None = None) -> HarnessSpec | None:
    """The candidate harness: saved when it was promoted, else rebuilt from its edits (checked by id)."""
    saved = run.harness(candidate_id)
    if saved or parent is None:
        return saved
    waiting = run.root / "rounds" / str(rnd) / "candidate.yaml"  # the controller keeps a pending winner here
    try:
        cand = load_harness(waiting) if waiting.exists() else None
        if cand is not None and cand.id == candidate_id:
            return cand
    except ValueError:
        pass
    try:
        if parts is not None:
            from actors.validator import merge

            if any(ab is None for _, ab in parts):
                return None
            cand, _ = merge(parent, parts)
        else:
            cand = apply_all(parent, decode_edits(msgspec.json.encode(edits)))
    except ValueError:
        return None
    return cand if cand is not None and cand.id == candidate_id else None


def pairs(run_dir: Path, parent_id: str, candidate_id: str) -> dict[str, list[PairRow]]:
    """The paired A/B table: each (task, attempt, seed) on train and val, parent vs candidate, tampering marked."""
    by_group: dict[str, dict[tuple, tuple[bool | None, str, bool]]] = {}
    for e in episodes(run_dir):
        try:
            k = parse_episode_id(str(e.get("episode_id", "")))
        except ValueError:
            continue
        by_group.setdefault(e["group"], {})[(k["task"], k["attempt"], k["seed"])] = (
            None if e.get("infra") else bool(e.get("passed")), e["episode_id"], bool(e.get("tampered")))
    out, none = {}, (None, "", False)
    for split in ("train", "val"):
        a, b = by_group.get(f"{parent_id}/{split}", {}), by_group.get(f"{candidate_id}/{split}", {})
        out[split] = [PairRow(task=k[0], attempt=k[1], seed=k[2], parent=pa, candidate=ca, parent_trace=pt,
                              candidate_trace=ct, parent_tampered=px, candidate_tampered=cx)
                      for k in sorted(set(a) | set(b)) for (pa, pt, px), (ca, ct, cx) in [(a.get(k, none), b.get(k, none))]]
    return out


def proposal_detail(run_dir: Path, proposal_id: str) -> ProposalDetail:
    n, local = check_proposal_id(proposal_id)
    run = load_run(run_dir)
    r = _round(run, n)
    props = {p.id: p for p in (r.proposals.proposals if r.proposals else [])}
    ab = r.ab.get(local)
    parts: list[Proposal] | None = None
    if local == "merge":
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
    bad = [e for e in run.tampered if e.harness_id in (parent_id, p.candidate_id) and e.split in ("train", "val")]
    d = r.decision
    st = status(ab)
    if d and d.promoted_id != d.parent_id and (p.candidate_id == d.promoted_id or local in d.merged):
        st += " -> promoted"
    return ProposalDetail(
        id=proposal_id, round=n, surface=p.surface, edits=p.edits, summary=summarize_edits(p.edits),
        audit=None if local == "merge" else p.audit, parent_id=parent_id, candidate_id=p.candidate_id,
        diff=diff(parent, cand) if parent and cand else "(the parent or candidate harness is not on disk)",
        yaml_diff=yaml_diff(parent, cand) if parent and cand else "", ab=ab, status=st,
        pairs=pairs(run_dir, parent_id, p.candidate_id), decision=d,
        awaiting=proposal_id in waiting, tampering=bad, candidate_tampered=count(bad, p.candidate_id),
        parent_tampered=count(bad, parent_id),
        pending=waiting.get(proposal_id) or _round_pending(run_dir, n), merged_from=[q.id for q in parts or []],
        verdicts=[v for v in ApprovalStore(run_dir).verdicts() if v.proposal_id == proposal_id])


def _round_pending(run_dir: Path, n: int) -> Pending | None:
    path = run_dir / "rounds" / str(n) / "pending.json"
    try:
        return msgspec.json.decode(path.read_bytes(), type=Pending) if path.exists() else None
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return None


def trace_view(run_dir: Path, episode_id: str) -> TraceView:
    path, split = trace_path(run_dir, episode_id)
    trace = load_trace(path)
    return TraceView(episode_id=episode_id, split=split, passed=trace.passed, trace=trace, cause=failure_cause(trace))

