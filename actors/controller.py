"""The loop: rounds of rollout -> mine -> propose -> validate -> merge -> promote, then the
sealed test split once.

Every step writes its result to the run directory before the next starts, and every
step first looks there: running the controller again on the same directory (resume)
redoes nothing that finished (episodes come from the evaluator's store, mining,
proposals and decisions from their files) and so reaches the same decisions.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from actors import metrics
from actors.approval_gate import ApprovalGate
from actors.approvals import ApprovalConfig, needs_approval, now
from actors.config import Config
from actors.evaluator import Evaluator, Key
from actors.miner import MiningConfig
from actors.mining.brief import build_brief
from actors.promotion import Accepted, promote
from actors.records import (ABResult, Decision, EditHistory, FinalReport, LineageEntry, MiningReport, NoiseFloor,
                            Proposal, ProposalsFile, Refusal, RoundRecord, RunState, SplitScore)
from actors.rollout import EpisodeSpec
from actors.run_dir import (AB, BRIEF, DECISION, EPISODES, FINAL, HARNESS, LINEAGE, MINER_STATE, MINING, NOISE,
                            PROPOSALS, ROUND, STATE, RunStore)
from actors.stats import split_result
from actors.validator import AcceptanceConfig, Candidate, Validator, valid_pairs
from harnesses.edits import apply_all, summarize_edits
from harnesses.spec import HarnessSpec, diff
from harnesses.trace import Trace
from harnesses.vocabulary import ACCEPTANCE_SPLITS, NOISE_SEED_OFFSET, noise_split, parse_episode_id


class LoopConfig(Config):
    """What the loop itself decides by: a run's config (cluster/config.py RunConfig.loop()) without its backends."""

    rounds: int = 3
    k: int = 4
    seed: int = 0
    acceptance: AcceptanceConfig = AcceptanceConfig()
    approval: ApprovalConfig = ApprovalConfig()
    mining: MiningConfig = MiningConfig()


class Miner(Protocol):
    def mine(self, traces: list[Trace], *, round: int, harness_id: str) -> MiningReport: ...
    def state(self) -> dict: ...


class ProposerLike(Protocol):
    def propose(self, harness: HarnessSpec, brief, *, seed: int,
                rejected_before: set[str]) -> tuple[list[Proposal], list[Refusal], str]: ...


def score(split: str, harness_id: str, traces: dict[Key, Trace]) -> SplitScore:
    counted = [t for t in traces.values() if t.infra_error is None]
    return SplitScore(split=split, harness_id=harness_id, passed=sum(t.passed for t in counted),
                      episodes=len(counted), infra_errors=len(traces) - len(counted))


def failure_keys(cluster) -> list[Key]:
    """(task, attempt) of a cluster's failures, from their episode ids."""
    if cluster is None:
        return []
    return sorted({(k.task, k.attempt) for k in map(parse_episode_id, cluster.failures)})


class Controller:
    def __init__(self, config: LoopConfig, store: RunStore, evaluator: Evaluator, miner_factory, proposer: ProposerLike,
                 initial: HarnessSpec, log=print):
        self.config, self.store, self.evaluator = config, store, evaluator
        self.miner_factory, self.proposer, self.initial, self.log = miner_factory, proposer, initial, log
        self.validator = Validator(evaluator, config.acceptance, seed=config.seed)
        self.gate = ApprovalGate(store, config.approval, set_state=self._state, save_harness=self._save_harness,
                                 log=log)
        self.approvals = self.gate.approvals

    # -- the run directory -------------------------------------------------------------------

    def _save_harness(self, spec: HarnessSpec, round: int, proposals: list[str], parent: HarnessSpec | None) -> None:
        if self.store.exists(HARNESS, harness=spec.id):
            return
        self.store.write(HARNESS, spec, harness=spec.id)
        self.store.append(LINEAGE, LineageEntry(id=spec.id, parent=parent.id if parent else None, round=round,
                                                proposals=proposals, diff=diff(parent, spec) if parent else ""))

    def _state(self, **kw) -> None:
        state = self.store.read(STATE) or RunState()
        self.store.write(STATE, msgspec.structs.replace(state, **kw))
        if "round" in kw:
            metrics.set_gauge("selfharness_round", kw["round"])
        if "phase" in kw:
            metrics.record_stage(kw["phase"])

    def history(self, before: int) -> tuple[list[EditHistory], set[str]]:
        """What earlier rounds proposed and what became of it; and the candidates rejected."""
        history, rejected = [], set()
        latest = self.approvals.latest()
        for r in range(1, before):
            props = self.store.read(PROPOSALS, round=r) or ProposalsFile()
            for p in props.proposals:
                ab = self.store.read(AB, round=r, proposal=p.id)
                outcome = "accepted" if ab and ab.accepted else ("stopped" if ab and ab.stopped_early else "rejected")
                person = latest.get(p.id)
                said_no = person is not None and person.verdict == "reject"  # a person said no: never again
                if said_no:
                    outcome = f"rejected by {person.by}"
                if outcome != "accepted":
                    rejected.add(p.candidate_id)
                history.append(EditHistory(round=r, proposal_id=p.id, surface=p.surface,
                                           summary=summarize_edits(p.edits), outcome=outcome,
                                           reason=(person.comment if said_no else "") or (ab.reason if ab else "")))
            for f in props.refusals:
                history.append(EditHistory(round=r, proposal_id=f"r{r}x{f.index}", surface="", summary="",
                                           outcome="refused", reason=f.reason))
        return history, rejected

    # -- one round, stage by stage -----------------------------------------------------------

    def round(self, r: int, harness: HarnessSpec, miner: Miner) -> tuple[RoundRecord, HarnessSpec]:
        done = self.store.read(ROUND, round=r)
        if done is not None:
            return done, self.store.read(HARNESS, harness=done.promoted_id)
        harness = self.gate.adopt(r, harness)
        rec, parents = self._rollout(r, harness)
        report = self._mine(r, harness, miner, parents["train"], rec)
        if not rec.eligible_clusters:
            rec.stopped = (f"nothing to fix: no actionable cluster with >= {self.config.mining.min_failures} "
                           f"failures on >= {self.config.mining.min_tasks} tasks")
            return self._finish_round(r, rec, harness, harness, [], [], "nothing to fix"), harness
        proposals = self._propose(r, harness, report, parents["train"], rec)
        if not proposals:
            return self._finish_round(r, rec, harness, harness, [], [], "no valid proposal"), harness
        candidates, accepted = self._validate(r, harness, proposals, report, parents, rec)
        self._state(phase="merge")
        promoted, used, reason = promote(r, harness, candidates, accepted, merging=self.config.acceptance.merge,
                                         validate=lambda c: self._validated(r, [c], harness, parents,
                                                                            f"round {r} merge")[0])
        decided: dict[str, str] = {}
        if promoted.id != harness.id:
            surfaces = sorted({p.surface for p in proposals if p.id in used})
            if needs_approval(self.config.approval, surfaces):
                promoted, reason, decided = self.gate.wait(r, harness, promoted, used, surfaces, reason)
        return self._finish_round(r, rec, harness, promoted, [p.id for p, _ in accepted], used, reason,
                                  rejected=[p.id for p in proposals if p.id not in {a.id for a, _ in accepted}],
                                  **decided), promoted

    def _rollout(self, r: int, harness: HarnessSpec) -> tuple[RoundRecord, dict[str, dict[Key, Trace]]]:
        self._state(round=r, phase="rollout", harness_id=harness.id)
        train, val = self.evaluator.evaluate(
            [(harness, self.evaluator.specs("train")), (harness, self.evaluator.specs("val"))],
            f"round {r} rollout")
        rec = RoundRecord(round=r, harness_id=harness.id, train=score("train", harness.id, train),
                          val=score("val", harness.id, val), promoted_id=harness.id)
        self.log(f"round {r}: {harness.id} train {rec.train.pass_rate:.1%} val {rec.val.pass_rate:.1%}")
        return rec, {"train": train, "val": val}

    def _mine(self, r: int, harness: HarnessSpec, miner: Miner, train: dict[Key, Trace],
              rec: RoundRecord) -> MiningReport:
        self._state(phase="mine")
        report = self.store.read(MINING, round=r)
        if report is None:
            report = miner.mine(list(train.values()), round=r, harness_id=harness.id)
            self.store.write(MINER_STATE, miner.state(), round=r)
            self.store.write(MINING, report, round=r)
        rec.clusters = len(report.clusters)
        rec.eligible_clusters = sum(c.eligible for c in report.clusters)
        return report

    def _propose(self, r: int, harness: HarnessSpec, report: MiningReport, train: dict[Key, Trace],
                 rec: RoundRecord) -> list[Proposal]:
        self._state(phase="propose")
        history, rejected_before = self.history(r)
        props = self.store.read(PROPOSALS, round=r)
        if props is None:
            brief = build_brief(round=r, harness=harness, report=report, train=list(train.values()),
                                history=history, k=self.config.k)
            self.store.write(BRIEF, brief, round=r)
            proposals, refusals, raw = self.proposer.propose(harness, brief, seed=self.config.seed * 1000 + r,
                                                             rejected_before=rejected_before)
            self.store.write(PROPOSALS, ProposalsFile(proposals=proposals, refusals=refusals, raw=raw), round=r)
            props = self.store.read(PROPOSALS, round=r)  # what a resume would read
        rec.proposals, rec.refused = len(props.proposals), len(props.refusals)
        for f in props.refusals:
            self.log(f"  refused proposal {f.index}: {f.reason}")
        return props.proposals

    def _validate(self, r: int, harness: HarnessSpec, proposals: list[Proposal], report: MiningReport,
                  parents: dict[str, dict[Key, Trace]], rec: RoundRecord) -> tuple[list[Candidate], Accepted]:
        self._state(phase="validate")
        self.validator.live = {}
        floor = self._noise(r, harness, parents)
        self.validator.noise = floor.flips if floor is not None else None
        clusters = {c.id: c for c in report.clusters}
        candidates = [Candidate(p, apply_all(harness, p.edits),
                                targets=failure_keys(clusters.get(p.audit.target_cluster))) for p in proposals]
        results = self._validated(r, candidates, harness, parents, f"round {r}")
        accepted = [(c.proposal, ab) for c, ab in zip(candidates, results) if ab.accepted]
        rec.accepted = len(accepted)
        for c, ab in zip(candidates, results):
            self.log(f"  {c.proposal.id} {c.proposal.surface:<20} {'ACCEPT' if ab.accepted else 'reject'}: {ab.reason}")
        return candidates, accepted

    def _noise(self, r: int, harness: HarnessSpec, parents: dict[str, dict[Key, Trace]]) -> NoiseFloor | None:
        """The round's A/A check (`acceptance.noise_check`): the parent again on its valid train and val pairs,
        each with a fresh seed; the pairs that flip are what sampling alone does to an outcome."""
        if not self.config.acceptance.noise_check:
            return None
        floor = self.store.read(NOISE, round=r)
        if floor is not None:
            return floor
        keys = {s: valid_pairs(parents[s]) for s in ACCEPTANCE_SPLITS}
        again = self.evaluator.evaluate(
            [(harness, [EpisodeSpec(task=k[0], attempt=k[1], seed=parents[s][k].seed + NOISE_SEED_OFFSET,
                                    split=noise_split(s)) for k in keys[s]]) for s in ACCEPTANCE_SPLITS],
            f"round {r} A/A check")
        splits = {s: split_result(s, [(parents[s][k].passed, got[k].passed) for k in keys[s]
                                      if k in got and got[k].infra_error is None], len(keys[s]))
                  for s, got in zip(ACCEPTANCE_SPLITS, again)}
        floor = NoiseFloor(round=r, harness_id=harness.id, splits=splits)
        self.store.write(NOISE, floor, round=r)
        self.log(f"  A/A check: {floor.flips} pair(s) flipped by sampling alone ("
                 + ", ".join(f"{s} +{x.gains}/-{x.losses} of {x.evaluated}" for s, x in splits.items()) + ")")
        return floor

    def _validated(self, r: int, candidates: list[Candidate], parent: HarnessSpec, parents,
                   desc: str) -> list[ABResult]:
        results = self.validator.validate(candidates, parent, parents, desc)
        for c, ab in zip(candidates, results):
            self.store.write(AB, ab, round=r, proposal=c.proposal.id)
        return results

    def _finish_round(self, r: int, rec: RoundRecord, parent: HarnessSpec, promoted: HarnessSpec,
                      accepted: list[str], merged: list[str], reason: str, rejected: list[str] = (),
                      decided_by: str = "rule", approval: str = "") -> RoundRecord:
        self._save_harness(promoted, r, merged, parent)
        rec.promoted_id = promoted.id
        rec.episodes = self.store.count_lines(EPISODES)
        self.store.write(DECISION, Decision(round=r, parent_id=parent.id, promoted_id=promoted.id, accepted=accepted,
                                            rejected=list(rejected), merged=merged, reason=reason,
                                            decided_by=decided_by, decided_at=now(), approval=approval), round=r)
        self.store.write(ROUND, rec, round=r)
        metrics.record_decisions(len(accepted), len(rejected), rec.refused)
        self.log(f"round {r}: promoted {promoted.id} ({reason})" if promoted.id != parent.id
                 else f"round {r}: kept {parent.id} ({rec.stopped or reason})")
        return rec

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> FinalReport:
        self._save_harness(self.initial, 0, [], None)
        harness, state = self.initial, None
        for r in range(1, self.config.rounds + 1):
            miner = self.miner_factory(self.store.read(MINER_STATE, round=r - 1) if r > 1 else state)
            rec, harness = self.round(r, harness, miner)
            state = miner.state()
            if rec.stopped:
                self.log(f"stopping after round {r}: {rec.stopped}")
                break
        return self.final(harness)

    def final(self, final: HarnessSpec) -> FinalReport:
        done = self.store.read(FINAL)
        if done is not None:
            return done
        self._state(phase="test")
        initial, last = self.evaluator.evaluate(
            [(self.initial, self.evaluator.specs("test")), (final, self.evaluator.specs("test"))], "sealed test")
        keys = valid_pairs(initial)
        pairs = [(initial[k].passed, last[k].passed) for k in keys if last[k].infra_error is None]
        report = FinalReport(initial_id=self.initial.id, final_id=final.id,
                             initial=score("test", self.initial.id, initial), final=score("test", final.id, last),
                             paired=split_result("test", pairs, len(keys),
                                                 samples=self.config.acceptance.bootstrap_samples,
                                                 seed=self.config.seed))
        self.store.write(FINAL, report)
        self._state(phase="done", done=True, harness_id=final.id)
        self.log(f"test (sealed, once): initial {report.initial.pass_rate:.1%} -> final {report.final.pass_rate:.1%}")
        return report
