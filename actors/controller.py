"""The loop: rounds of rollout -> mine -> propose -> validate -> merge -> promote, then the
sealed test split once.

Every step writes its result to the run directory before the next starts, and every
step first looks there: running the controller again on the same directory (resume)
redoes nothing that finished (episodes come from the evaluator's store, mining,
proposals and decisions from their files) and so reaches the same decisions.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Protocol

import msgspec

from actors import metrics
from actors.approvals import ApprovalConfig, ApprovalStore, Pending, needs_approval, now
from actors.config import Config
from actors.evaluator import Evaluator, Key
from actors.miner import MiningConfig
from actors.mining.brief import build_brief
from actors.records import (ABResult, Decision, EditHistory, FinalReport, MiningReport, Proposal, Refusal, RoundRecord,
                            SplitScore)
from actors.run_dir import RunStore
from actors.stats import split_result
from actors.validator import AcceptanceConfig, Candidate, Validator, merge, valid_pairs
from harnesses.edits import apply_all, decode_edits, summarize_edits
from harnesses.spec import HarnessSpec, diff, load_harness, save_harness
from harnesses.trace import Trace


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
    keys = []
    for episode_id in cluster.failures:
        task, _, attempt, _ = episode_id.rsplit("__", 3)
        keys.append((task, int(attempt[1:])))
    return sorted(set(keys))


class Controller:
    def __init__(self, config: LoopConfig, store: RunStore, evaluator: Evaluator, miner_factory, proposer: ProposerLike,
                 initial: HarnessSpec, log=print):
        self.config, self.store, self.evaluator = config, store, evaluator
        self.miner_factory, self.proposer, self.initial, self.log = miner_factory, proposer, initial, log
        self.validator = Validator(evaluator, config.acceptance, seed=config.seed)
        self.approvals = ApprovalStore(store.root)

    # -- the run directory -------------------------------------------------------------------

    def _round_dir(self, r: int) -> Path:
        return self.store.root / "rounds" / str(r)

    def _read(self, path: Path, typ: Any):
        return msgspec.json.decode(path.read_bytes(), type=typ) if path.exists() else None

    def _write(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.format(msgspec.json.encode(data), indent=2))
        tmp.replace(path)

    def _save_harness(self, spec: HarnessSpec, round: int, proposals: list[str], parent: HarnessSpec | None) -> None:
        path = self.store.root / "harnesses" / f"{spec.id}.yaml"
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        save_harness(spec, path)
        self.store.append_jsonl("lineage.jsonl", {"id": spec.id, "parent": parent.id if parent else None,
                                                  "round": round, "proposals": proposals,
                                                  "diff": diff(parent, spec) if parent else ""})

    def _harness(self, harness_id: str) -> HarnessSpec:
        return load_harness(self.store.root / "harnesses" / f"{harness_id}.yaml")

    def _state(self, **kw) -> None:
        path = self.store.root / "state.json"
        state = json.loads(path.read_text()) if path.exists() else {}
        state.update(kw)
        self._write(path, state)
        if "round" in kw:
            metrics.set_gauge("selfharness_round", kw["round"])
        if "phase" in kw:
            metrics.record_stage(kw["phase"])

    def history(self, before: int) -> tuple[list[EditHistory], set[str]]:
        """What earlier rounds proposed and what became of it; and the candidates rejected."""
        history, rejected = [], set()
        for r in range(1, before):
            d = self._round_dir(r)
            props = self._read(d / "proposals.json", dict) or {}
            for p in props.get("proposals", []):
                p = msgspec.convert(p, Proposal)
                ab = self._read(d / "ab" / f"{p.id}.json", ABResult)
                outcome = "accepted" if ab and ab.accepted else ("stopped" if ab and ab.stopped_early else "rejected")
                person = self.approvals.latest().get(p.id)
                if person is not None and person.verdict == "reject":  # a person said no: never again
                    outcome = f"rejected by {person.by}"
                if outcome != "accepted":
                    rejected.add(p.candidate_id)
                history.append(EditHistory(round=r, proposal_id=p.id, surface=p.surface,
                                           summary=summarize_edits(p.edits), outcome=outcome,
                                           reason=(person.comment if person is not None and person.verdict ==
                                                   "reject" else "") or (ab.reason if ab else "")))
            for f in props.get("refusals", []):
                history.append(EditHistory(round=r, proposal_id=f"r{r}x{f['index']}", surface="", summary="",
                                           outcome="refused", reason=f["reason"]))
        return history, rejected

    # -- one round ---------------------------------------------------------------------------

    def round(self, r: int, harness: HarnessSpec, miner: Miner) -> tuple[RoundRecord, HarnessSpec]:
        d = self._round_dir(r)
        done = self._read(d / "round.json", RoundRecord)
        if done is not None:
            return done, self._harness(done.promoted_id)
        harness = self._adopt(r, harness)
        self._state(round=r, phase="rollout", harness_id=harness.id)
        train, val = self.evaluator.evaluate(
            [(harness, self.evaluator.specs("train")), (harness, self.evaluator.specs("val"))],
            f"round {r} rollout")
        rec = RoundRecord(round=r, harness_id=harness.id, train=score("train", harness.id, train),
                          val=score("val", harness.id, val), promoted_id=harness.id)
        self.log(f"round {r}: {harness.id} train {rec.train.pass_rate:.1%} val {rec.val.pass_rate:.1%}")

        self._state(phase="mine")
        report = self._read(d / "mining.json", MiningReport)
        if report is None:
            report = miner.mine(list(train.values()), round=r, harness_id=harness.id)
            self._write(d / "miner_state.json", miner.state())
            self._write(d / "mining.json", report)
        rec.clusters = len(report.clusters)
        rec.eligible_clusters = sum(c.eligible for c in report.clusters)
        if not rec.eligible_clusters:
            rec.stopped = (f"nothing to fix: no actionable cluster with >= {self.config.mining.min_failures} "
                           f"failures on >= {self.config.mining.min_tasks} tasks")
            return self._finish_round(r, rec, harness, harness, [], [], "nothing to fix"), harness

        self._state(phase="propose")
        history, rejected_before = self.history(r)
        props = self._read(d / "proposals.json", dict)
        if props is None:
            brief = build_brief(round=r, harness=harness, report=report, train=list(train.values()),
                                history=history, k=self.config.k)
            self._write(d / "brief.json", brief)
            proposals, refusals, raw = self.proposer.propose(harness, brief, seed=self.config.seed * 1000 + r,
                                                             rejected_before=rejected_before)
            props = {"proposals": proposals, "refusals": refusals, "raw": raw}
            self._write(d / "proposals.json", props)
            props = self._read(d / "proposals.json", dict)
        proposals = [msgspec.convert(p, Proposal) for p in props["proposals"]]
        refusals = [msgspec.convert(f, Refusal) for f in props["refusals"]]
        rec.proposals, rec.refused = len(proposals), len(refusals)
        for f in refusals:
            self.log(f"  refused proposal {f.index}: {f.reason}")
        if not proposals:
            return self._finish_round(r, rec, harness, harness, [], [], "no valid proposal"), harness

        self._state(phase="validate")
        parents = {"train": train, "val": val}
        clusters = {c.id: c for c in report.clusters}
        candidates = [Candidate(p, apply_all(harness, decode_edits(msgspec.json.encode(p.edits))),
                                targets=failure_keys(clusters.get(p.audit.target_cluster)))
                      for p in proposals]
        results = self._validated(d, candidates, harness, parents, f"round {r}")
        accepted = [(c.proposal, ab) for c, ab in zip(candidates, results) if ab.accepted]
        rec.accepted = len(accepted)
        for c, ab in zip(candidates, results):
            self.log(f"  {c.proposal.id} {c.proposal.surface:<20} {'ACCEPT' if ab.accepted else 'reject'}: {ab.reason}")

        self._state(phase="merge")
        promoted, used, reason = harness, [], "no proposal passed the acceptance rule"
        if accepted:
            best = max(accepted, key=lambda pa: (pa[1].splits["train"].delta + pa[1].splits["val"].delta,
                                                 -int(pa[0].id.split("p")[-1])))
            promoted, used = candidates[proposals.index(best[0])].harness, [best[0].id]
            reason = f"best single proposal {best[0].id}"
            merged, merged_ids = merge(harness, accepted) if self.config.acceptance.merge else (None, [])
            if merged is not None:
                mp = Proposal(id="merge", round=r, surface="+".join(sorted({p.surface for p, _ in accepted
                                                                           if p.id in merged_ids})),
                              edits=[e for p, _ in accepted if p.id in merged_ids for e in p.edits],
                              audit=best[0].audit, candidate_id=merged.id)
                targets = sorted({k for c in candidates if c.proposal.id in merged_ids for k in c.targets})
                mab = self._validated(d, [Candidate(mp, merged, targets)], harness, parents, f"round {r} merge")[0]
                if mab.accepted:
                    promoted, used = merged, merged_ids
                    reason = f"merge of {', '.join(merged_ids)} ({mab.reason})"
                else:
                    reason += f"; the merge of {', '.join(merged_ids)} failed validation ({mab.reason})"
        decided = {}
        if promoted.id != harness.id:
            surfaces = sorted({p.surface for p in proposals if p.id in used})
            if needs_approval(self.config.approval, surfaces):
                promoted, reason, decided = self._await_approval(r, harness, promoted, used, surfaces, reason)
        return self._finish_round(r, rec, harness, promoted, [p.id for p, _ in accepted], used, reason,
                                  rejected=[p.id for p in proposals if p.id not in {a.id for a, _ in accepted}],
                                  **decided), promoted

    def _validated(self, d: Path, candidates: list[Candidate], parent: HarnessSpec, parents,
                   desc: str) -> list[ABResult]:
        results = self.validator.validate(candidates, parent, parents, desc)
        for c, ab in zip(candidates, results):
            self._write(d / "ab" / f"{c.proposal.id}.json", ab)
        return results

    def _finish_round(self, r: int, rec: RoundRecord, parent: HarnessSpec, promoted: HarnessSpec,
                      accepted: list[str], merged: list[str], reason: str, rejected: list[str] = (),
                      decided_by: str = "rule", approval: str = "") -> RoundRecord:
        d = self._round_dir(r)
        self._save_harness(promoted, r, merged, parent)
        rec.promoted_id = promoted.id
        log = self.store.root / "episodes.jsonl"
        rec.episodes = sum(1 for _ in log.open()) if log.exists() else 0
        self._write(d / "decision.json", Decision(round=r, parent_id=parent.id, promoted_id=promoted.id,
                                                  accepted=accepted, rejected=list(rejected), merged=merged,
                                                  reason=reason, decided_by=decided_by, decided_at=now(),
                                                  approval=approval))
        self._write(d / "round.json", rec)
        metrics.record_decisions(len(accepted), len(rejected), rec.refused)
        self.log(f"round {r}: promoted {promoted.id} ({reason})" if promoted.id != parent.id
                 else f"round {r}: kept {parent.id} ({rec.stopped or reason})")
        return rec

    # -- approval ----------------------------------------------------------------------------

    def _await_approval(self, r: int, parent: HarnessSpec, winner: HarnessSpec, used: list[str],
                        surfaces: list[str], reason: str) -> tuple[HarnessSpec, str, dict]:
        """The winner waits for a person: promoted on approval, the parent kept on rejection, on a
        timeout, or meanwhile (`while_waiting: continue`; a later round may adopt it)."""
        d, policy = self._round_dir(r), self.config.approval
        pending = Pending(round=r, parent_id=parent.id, candidate_id=winner.id, proposals=used,
                          surfaces=surfaces, reason=reason, since=now())
        if not (d / "pending.json").exists():
            save_harness(winner, d / "candidate.yaml")
            self._write(d / "pending.json", pending)
        self._state(phase="approval", pending=used)
        self.log(f"  {winner.id} ({', '.join(used)}) waits for approval: selfharness approve {self.store.root} "
                 f"{used[0]}")
        start = time.monotonic()
        while True:
            verdict, given = self.approvals.verdict_on(used)
            if verdict != "waiting" or policy.while_waiting == "continue":
                break
            if policy.wait_timeout_s is not None and time.monotonic() - start > policy.wait_timeout_s:
                verdict = "timed out"
                break
            time.sleep(policy.poll_s)
        self._state(pending=[])
        who = ", ".join(sorted({v.by for v in given})) or "approval policy"
        if verdict == "approve":
            return winner, f"{reason}; approved by {who}", dict(decided_by=who, approval="approved")
        if verdict == "reject":
            notes = "; ".join(v.comment for v in given if v.comment)
            return parent, f"{reason}; rejected by {who}" + (f": {notes}" if notes else ""), \
                dict(decided_by=who, approval="rejected")
        if verdict == "timed out":
            return parent, f"{reason}; no verdict within {policy.wait_timeout_s:g}s", \
                dict(decided_by="approval policy", approval="timed out")
        return parent, f"{reason}; awaiting approval (the run carries on from the parent)", \
            dict(decided_by="approval policy", approval="awaiting approval")

    def _adopt(self, r: int, harness: HarnessSpec) -> HarnessSpec:
        """`while_waiting: continue`: a winner of an earlier round approved since is adopted now, if
        the harness it was validated against is still the current one."""
        path = self._round_dir(r) / "adopted.json"
        if path.exists():
            return self._harness(json.loads(path.read_text())["candidate_id"])
        if self.config.approval.while_waiting != "continue":
            return harness
        for prev in range(r - 1, 0, -1):
            pending = self._read(self._round_dir(prev) / "pending.json", Pending)
            decision = self._read(self._round_dir(prev) / "decision.json", Decision)
            if pending is None or decision is None or decision.approval != "awaiting approval":
                continue
            verdict, given = self.approvals.verdict_on(pending.proposals)
            if verdict == "approve" and pending.parent_id == harness.id:
                winner = load_harness(self._round_dir(prev) / "candidate.yaml")
                self._save_harness(winner, r, pending.proposals, harness)
                self._write(path, {"candidate_id": winner.id, "from_round": prev, "proposals": pending.proposals,
                                   "approved_by": ", ".join(sorted({v.by for v in given})), "at": now()})
                self.log(f"round {r}: adopted {winner.id} from round {prev}, approved since")
                return winner
        return harness

    # -- the run -----------------------------------------------------------------------------

    def run(self) -> FinalReport:
        self._save_harness(self.initial, 0, [], None)
        harness, state = self.initial, None
        for r in range(1, self.config.rounds + 1):
            prev = self._round_dir(r - 1) / "miner_state.json"
            miner = self.miner_factory(json.loads(prev.read_text()) if r > 1 and prev.exists() else state)
            rec, harness = self.round(r, harness, miner)
            state = miner.state()
            if rec.stopped:
                self.log(f"stopping after round {r}: {rec.stopped}")
                break
        return self.final(harness)

    def final(self, final: HarnessSpec) -> FinalReport:
        path = self.store.root / "final.json"
        if path.exists():
            return self._read(path, FinalReport)
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
        self._write(path, report)
        self._state(phase="done", done=True, harness_id=final.id)
        self.log(f"test (sealed, once): initial {report.initial.pass_rate:.1%} -> final {report.final.pass_rate:.1%}")
        return report
