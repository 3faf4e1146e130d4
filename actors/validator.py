"""Paired A/B validation of candidates against their parent on `train` and `val`.

All candidates are fanned out at once. With racing, each candidate first runs the pairs
its parent failed (the only pairs that can show a gain); a candidate with no gain there
can no longer pass the paper's rule and stops. Survivors run the pairs the parent passed
(the only ones that can show a loss) in chunks, and stop once their losses rule them out.
Racing is exact for the paper's rule: it never changes an accept/reject decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import msgspec

from actors.evaluator import Evaluator, Key
from actors.records import ABResult, Proposal, SplitResult
from actors.rollout import EpisodeSpec
from actors.stats import can_still_pass, paper_rule, split_result, strict_rule
from harnesses.edits import EditError, apply_all, decode_edits
from harnesses.spec import HarnessSpec
from harnesses.trace import Trace

SPLITS = ("train", "val")


class AcceptanceConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """How candidates are judged."""

    rule: Literal["paper", "strict"] = "paper"
    """paper: d_train >= 0 and d_val >= 0 and one > 0. strict: that, and a significant pooled sign test."""
    alpha: float = 0.05
    bootstrap_samples: int = 2000
    racing: bool = True
    """Stop candidates that can no longer pass (exact for the paper's rule; saves episodes)."""
    racing_chunks: int = 2
    """The parent-passed pairs are run in this many chunks, checking for a stop after each."""
    merge: bool = True
    """Merge compatible accepted proposals and re-validate the merge against the parent."""


@dataclass
class Candidate:
    proposal: Proposal
    harness: HarnessSpec


def valid_pairs(parent: dict[Key, Trace]) -> list[Key]:
    """Pairs whose parent episode is usable (infrastructure failures pair with nothing)."""
    return sorted(k for k, t in parent.items() if t.infra_error is None)


def _spec(key: Key, split: str, parent: dict[Key, Trace]) -> EpisodeSpec:
    t = parent[key]
    return EpisodeSpec(task=key[0], attempt=key[1], seed=t.seed, split=split)


class Validator:
    def __init__(self, evaluator: Evaluator, config: AcceptanceConfig, seed: int = 0):
        self.evaluator, self.config, self.seed = evaluator, config, seed

    def _judge(self, cand: Candidate, parent: HarnessSpec, parents: dict[str, dict[Key, Trace]],
               got: dict[str, dict[Key, Trace]], stopped: str | None) -> ABResult:
        splits: dict[str, SplitResult] = {}
        episodes = 0
        for split in SPLITS:
            keys = valid_pairs(parents[split])
            pairs = [(parents[split][k].passed, got[split][k].passed) for k in keys
                     if k in got[split] and got[split][k].infra_error is None]
            episodes += sum(1 for k in keys if k in got[split])
            splits[split] = split_result(split, pairs, len(keys), samples=self.config.bootstrap_samples,
                                         seed=self.seed)
        if stopped:
            accepted, reason = False, stopped
        elif self.config.rule == "strict":
            accepted, reason = strict_rule(splits["train"], splits["val"], self.config.alpha)
        else:
            accepted, reason = paper_rule(splits["train"], splits["val"])
        return ABResult(proposal_id=cand.proposal.id, candidate_id=cand.harness.id, parent_id=parent.id,
                        splits=splits, accepted=accepted, reason=reason, stopped_early=stopped is not None,
                        episodes=episodes)

    def validate(self, candidates: list[Candidate], parent: HarnessSpec,
                 parents: dict[str, dict[Key, Trace]], desc: str = "validate") -> list[ABResult]:
        """Every candidate against the parent, paired by (task, attempt, seed)."""
        got: list[dict[str, dict[Key, Trace]]] = [{s: {} for s in SPLITS} for _ in candidates]
        stopped: list[str | None] = [None] * len(candidates)

        def run(stage: list[dict[str, list[Key]]], label: str) -> None:
            requests, owners = [], []
            for i, cand in enumerate(candidates):
                if stopped[i] is not None:
                    continue
                for split in SPLITS:
                    keys = stage[i][split]
                    if keys:
                        requests.append((cand.harness, [_spec(k, split, parents[split]) for k in keys]))
                        owners.append((i, split))
            for (i, split), traces in zip(owners, self.evaluator.evaluate(requests, f"{desc} {label}")):
                got[i][split].update(traces)

        failed = {s: [k for k in valid_pairs(parents[s]) if not parents[s][k].passed] for s in SPLITS}
        passed = {s: [k for k in valid_pairs(parents[s]) if parents[s][k].passed] for s in SPLITS}
        if not self.config.racing:
            run([{s: failed[s] + passed[s] for s in SPLITS} for _ in candidates], "all pairs")
        else:
            run([failed for _ in candidates], "stage 1 (parent-failed pairs)")
            self._stop_hopeless(got, parents, stopped)
            chunks = max(1, self.config.racing_chunks)
            for c in range(chunks):
                part = {s: passed[s][c::chunks] for s in SPLITS}
                run([part for _ in candidates], f"stage {c + 2} (parent-passed pairs)")
                self._stop_hopeless(got, parents, stopped)
        return [self._judge(cand, parent, parents, got[i], stopped[i]) for i, cand in enumerate(candidates)]

    @staticmethod
    def _stop_hopeless(got, parents, stopped) -> None:
        """After stage 1 only parent-passed pairs remain open, and they can only add losses."""
        for i, g in enumerate(got):
            if stopped[i] is not None:
                continue
            gains = {s: sum(1 for k, t in g[s].items() if t.passed and not parents[s][k].passed) for s in SPLITS}
            losses = {s: sum(1 for k, t in g[s].items() if not t.passed and parents[s][k].passed) for s in SPLITS}
            if not can_still_pass(gains, losses, {s: 0 for s in SPLITS}):
                where = "no gain on the pairs the parent failed" if all(v == 0 for v in gains.values()) \
                    else "losses outweigh gains: " + ", ".join(f"{s} {gains[s] - losses[s]:+d}" for s in SPLITS)
                stopped[i] = f"stopped early: cannot pass ({where})"


def merge(parent: HarnessSpec, accepted: list[tuple[Proposal, ABResult]]) -> tuple[HarnessSpec | None, list[str]]:
    """Apply compatible accepted proposals together, best first; those that conflict are left out."""
    order = sorted(accepted, key=lambda pa: -(pa[1].splits["train"].delta + pa[1].splits["val"].delta))
    edits, used = [], []
    for proposal, _ in order:
        trial = edits + decode_edits(msgspec.json.encode(proposal.edits))
        try:
            apply_all(parent, trial)
        except EditError:
            continue
        edits, used = trial, used + [proposal.id]
    if len(used) < 2:
        return None, used
    return apply_all(parent, edits), used
