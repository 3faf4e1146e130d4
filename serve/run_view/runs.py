"""A run as the review app shows it: its line in the runs list, and its page (the rounds, what
waits for a verdict, the verdicts given, the lineage of versions, the sealed test result)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from actors.approvals import ApprovalStore
from actors.model.config import model_label
from actors.records import Pending, SplitResult, Verdict
from cluster.report import Round, Run, load_run
from serve.run_view.files import read_config, read_episodes, read_state
from serve.run_view.rounds import RoundRow, round_row
from serve.run_view.scores import Score, group_counts, planned, score


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


class LineageView(msgspec.Struct, kw_only=True):
    """A lineage.jsonl entry as the run page shows it: marked when it is on the promoted chain."""

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
    lineage: list[LineageView]
    final: FinalView | None = None
    problems: list[str] = []


def summary(run_id: str, run_dir: Path) -> RunSummary:
    state, cfg = read_state(run_dir), read_config(run_dir)
    return RunSummary(id=run_id, round=state.round, phase=state.phase, done=state.done, harness_id=state.harness_id,
                      rounds_planned=cfg.rounds if cfg else None, model=model_label(cfg.model) if cfg else "",
                      suite=cfg.suite if cfg else "",
                      pending=len(ApprovalStore(run_dir).pending()))


def _rounds(run: Run) -> list[Round]:
    """The rounds on disk, plus the one the state says is starting (no files yet)."""
    rounds = list(run.rounds)
    cur = run.state.round
    if cur > 0 and not run.state.done and cur not in {r.n for r in rounds}:
        rounds.append(Round(cur))
    return rounds


def run_detail(run_id: str, run_dir: Path) -> RunDetail:
    run = load_run(run_dir)
    counts, plan = group_counts(read_episodes(run_dir)), planned(run)
    store = ApprovalStore(run_dir)
    from cluster.export import chain

    promoted = {hid for _, _, hid, _ in chain(run)}
    lineage = [LineageView(id=e.id, parent=e.parent, round=e.round, proposals=e.proposals, diff=e.diff,
                           promoted=e.id in promoted) for e in run.lineage]
    final = None
    if run.final:
        f = run.final
        final = FinalView(initial=score("test", f.initial.harness_id, f.initial.passed, f.initial.episodes),
                          final=score("test", f.final.harness_id, f.final.passed, f.final.episodes), paired=f.paired)
    return RunDetail(summary=summary(run_id, run_dir), rounds=[round_row(run, r, counts, plan) for r in _rounds(run)],
                     pending=store.pending(), verdicts=store.verdicts(), lineage=lineage, final=final,
                     problems=[p for p in run.problems if "missing" not in p or "round" not in p])
