"""Paired A/B validation of candidates against their parent on `train` and `val`.

All candidates are fanned out at once, stage by stage. With racing, a candidate first
runs the train failures it targets (a fix that fixes none of them stops: a heuristic),
then every other pair its parent failed (the only pairs that can show a gain; no gain
at all and it can no longer pass: exact), then the pairs its parent passed (the only
ones that can show a loss) in shards, stopping once losses rule it out (exact) or once
the unrun pairs are unlikely to overturn its acceptance (statistical, `racing_risk`).
Each shard is one batch: every live candidate's pairs of it run at once, pulled by all the
workers of the cluster, and racing decides between shards.
`benchmarks/loop_bench.py` measures how many decisions racing changes.

A candidate with any episode that tampered with the verifier (`Trace.tampering`) is rejected,
whatever its pass rate, and with racing it runs no stage after the one that showed it: a harness
that forges its verdict is not an improvement, and its other episodes prove nothing. The parent's
own tampering episodes are plain failures (a candidate that removes a forging hook can gain on them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import msgspec

from actors.config import Config
from actors.evaluator import Evaluator, Key
from actors.records import ABResult, Proposal, SplitResult
from actors.rollout import EpisodeSpec
from actors.stats import can_still_pass, more_losses_prob, paper_rule, split_result, strict_rule
from harnesses.spec import HarnessSpec
from harnesses.trace import Trace
from harnesses.vocabulary import ACCEPTANCE_SPLITS as SPLITS


class AcceptanceConfig(Config):
    """How candidates are judged."""

    rule: Literal["paper", "strict"] = "paper"
    """paper: d_train >= 0 and d_val >= 0 and one > 0. strict: that, and a significant pooled sign test."""
    alpha: float = 0.05
    bootstrap_samples: int = 2000
    racing: bool = True
    """Evaluate in stages and stop candidates early: those that fix none of the failures they target,
    those that can no longer pass (exact), and those whose acceptance the unrun pairs are unlikely to
    overturn (`racing_risk`)."""
    racing_min_targets: int = 6
    """A candidate is stopped for fixing none of the failures it targets only when it targets at least this
    many (fewer is weak evidence: a rule that halves a failure misses 3 of 3 one time in 8)."""
    racing_chunks: int = 6
    """The parent-passed pairs are run in this many chunks, checking for a stop after each."""
    racing_risk: float = 0.05
    """Accept early when the unrun pairs would turn the decision around with less than this probability."""
    merge: bool = True
    """Merge compatible accepted proposals and re-validate the merge against the parent."""
    noise_check: bool | None = None
    """Each round, before validating, rerun the parent on its train and val pairs with fresh seeds (an A/A
    check): the pairs that flip are the noise floor shown next to every delta. None: on for a real model
    (every backend but the sim), off for the sim, as in the paper."""
    beyond_noise: bool | None = None
    """Accept only a candidate whose net gain (train + val) exceeds the round's A/A flips, on top of `rule`.
    None: on for a real model; it needs `noise_check`."""

    def resolved(self, real_model: bool) -> "AcceptanceConfig":
        """The config with its defaults for this model decided (what the loop and the report read)."""
        check = real_model if self.noise_check is None else self.noise_check
        beyond = (real_model and check) if self.beyond_noise is None else self.beyond_noise
        if beyond and not check:
            raise ValueError("acceptance.beyond_noise needs acceptance.noise_check")
        return msgspec.structs.replace(self, noise_check=check, beyond_noise=beyond)


@dataclass
class Candidate:
    proposal: Proposal
    harness: HarnessSpec
    targets: list[Key] = field(default_factory=list)
    """The train failures (task, attempt) of the cluster the proposal targets: run first when racing."""


def valid_pairs(parent: dict[Key, Trace]) -> list[Key]:
    """Pairs whose parent episode is usable (infrastructure failures pair with nothing)."""
    return sorted(k for k, t in parent.items() if t.infra_error is None)


def tampering_reason(got: dict[str, dict[Key, Trace]], limit: int = 3) -> str | None:
    """Why a candidate with tampering episodes is rejected (None when it has none): how many, on which
    tasks, and what was left in the verifier's places."""
    bad = [t for split in SPLITS for _, t in sorted(got.get(split, {}).items()) if t.tampering]
    if not bad:
        return None
    tasks = list(dict.fromkeys(t.task for t in bad))
    what = list(dict.fromkeys(f"{x.path} {x.change}" for t in bad for x in t.tampering))
    more = lambda items: f", +{len(items) - limit} more" if len(items) > limit else ""  # noqa: E731
    return (f"rejected: verifier tampering in {len(bad)} episode{'s' if len(bad) != 1 else ''} "
            f"({', '.join(tasks[:limit])}{more(tasks)}): {', '.join(what[:limit])}{more(what)}")


def _spec(key: Key, split: str, parent: dict[Key, Trace]) -> EpisodeSpec:
    t = parent[key]
    return EpisodeSpec(task=key[0], attempt=key[1], seed=t.seed, split=split)


class Validator:
    def __init__(self, evaluator: Evaluator, config: AcceptanceConfig, seed: int = 0):
        self.evaluator, self.config, self.seed = evaluator, config, seed
        self.live: dict[str, dict] = {}
        """Per proposal id: its paired tally so far (what a live status shows; CandidateTally's fields)."""
        self.noise: int | None = None
        """The round's A/A flips (None: not measured); with `beyond_noise` a net gain must exceed them."""

    def _rule(self, train: SplitResult, val: SplitResult) -> tuple[bool, str]:
        """The acceptance rule, and (with `beyond_noise`) a net gain above the round's A/A noise floor."""
        if self.config.rule == "strict":
            ok, reason = strict_rule(train, val, self.config.alpha)
        else:
            ok, reason = paper_rule(train, val)
        if ok and self.config.beyond_noise and self.noise is not None:
            net = train.delta + val.delta
            if net <= self.noise:
                return False, (f"{reason}, but within noise: net {net:+d} <= the {self.noise} pair(s) the parent "
                               "flipped against itself (A/A)")
            reason += f", beyond the A/A noise floor ({net:+d} > {self.noise})"
        return ok, reason

    def _show(self, candidates: list[Candidate], got, parents, stopped, settled) -> None:
        for i, c in enumerate(candidates):
            gains, losses, _ = self._tally(got[i], parents)
            state = "stopped" if stopped[i] else "settled" if settled[i] else "running"
            self.live[c.proposal.id] = dict(proposal_id=c.proposal.id, gains_train=gains["train"],
                                            losses_train=losses["train"], gains_val=gains["val"],
                                            losses_val=losses["val"], episodes=sum(len(g) for g in got[i].values()),
                                            state=state)

    def _judge(self, cand: Candidate, parent: HarnessSpec, parents: dict[str, dict[Key, Trace]],
               got: dict[str, dict[Key, Trace]], stopped: str | None, settled: str | None = None) -> ABResult:
        splits: dict[str, SplitResult] = {}
        episodes = 0
        for split in SPLITS:
            keys = valid_pairs(parents[split])
            pairs = [(parents[split][k].passed, got[split][k].passed) for k in keys
                     if k in got[split] and got[split][k].infra_error is None]
            episodes += sum(1 for k in keys if k in got[split])
            splits[split] = split_result(split, pairs, len(keys), samples=self.config.bootstrap_samples,
                                         seed=self.seed)
        tampered = tampering_reason(got)
        if tampered:
            total = sum(len(valid_pairs(parents[s])) for s in SPLITS)
            return ABResult(proposal_id=cand.proposal.id, candidate_id=cand.harness.id, parent_id=parent.id,
                            splits=splits, accepted=False, reason=tampered, stopped_early=episodes < total,
                            episodes=episodes, noise=self.noise)
        if stopped:
            accepted, reason = False, stopped
        elif settled:
            accepted, reason = True, settled
        else:
            accepted, reason = self._rule(splits["train"], splits["val"])
        return ABResult(proposal_id=cand.proposal.id, candidate_id=cand.harness.id, parent_id=parent.id,
                        splits=splits, accepted=accepted, reason=reason, stopped_early=stopped is not None,
                        settled_early=settled is not None, episodes=episodes, noise=self.noise)

    def validate(self, candidates: list[Candidate], parent: HarnessSpec,
                 parents: dict[str, dict[Key, Trace]], desc: str = "validate") -> list[ABResult]:
        """Every candidate against the parent, paired by (task, attempt, seed)."""
        got: list[dict[str, dict[Key, Trace]]] = [{s: {} for s in SPLITS} for _ in candidates]
        stopped: list[str | None] = [None] * len(candidates)
        settled: list[str | None] = [None] * len(candidates)

        def run(stage: list[dict[str, list[Key]]], label: str) -> None:
            requests, owners = [], []
            for i, cand in enumerate(candidates):
                if stopped[i] is not None or settled[i] is not None:
                    continue
                for split in SPLITS:
                    keys = [k for k in stage[i][split] if k not in got[i][split]]
                    if keys:
                        requests.append((cand.harness, [_spec(k, split, parents[split]) for k in keys]))
                        owners.append((i, split))
            if requests:
                for (i, split), traces in zip(owners, self.evaluator.evaluate(requests, f"{desc} {label}")):
                    got[i][split].update(traces)
                for i, _ in owners:  # a stage that shows tampering is the candidate's last
                    if stopped[i] is None:
                        stopped[i] = tampering_reason(got[i])
            self._show(candidates, got, parents, stopped, settled)

        failed = {s: [k for k in valid_pairs(parents[s]) if not parents[s][k].passed] for s in SPLITS}
        passed = {s: [k for k in valid_pairs(parents[s]) if parents[s][k].passed] for s in SPLITS}
        if not self.config.racing:
            run([{s: failed[s] + passed[s] for s in SPLITS} for _ in candidates], "all pairs")
            results = [self._judge(c, parent, parents, got[i], None) for i, c in enumerate(candidates)]
            self._decided(candidates, results)
            return results

        tally = lambda i: self._tally(got[i], parents)  # noqa: E731
        active = lambda i: stopped[i] is None and settled[i] is None  # noqa: E731
        n = len(candidates)
        # 1. the failures each candidate targets, a few at a time, until one is fixed: after a first
        #    gain only losses can change the decision. A fix that fixes none of them stops (heuristic).
        step = max(1, self.config.racing_min_targets)
        targets = [sorted((k for k in c.targets if k in set(failed["train"])), key=lambda k: hash_key(k, self.seed))
                   for c in candidates]
        upto = 0
        while any(active(i) and tally(i)[0]["train"] == 0 and len(targets[i]) > upto for i in range(n)):
            upto += step
            run([{"train": t[:upto] if tally(i)[0]["train"] == 0 else [], "val": []} for i, t in enumerate(targets)],
                f"stage 1 (targeted failures, up to {upto})")
            for i, t in enumerate(targets):
                if active(i) and len(t) >= step and tally(i)[0]["train"] == 0:
                    stopped[i] = f"stopped early: no gain on the {min(upto, len(t))} failures it targets"
        # A candidate that already gained needs the other parent-failed pairs only if it also loses:
        # gains can only come from them, losses only from the pairs the parent passed.
        gains_done = [False] * n
        none = {s: [] for s in SPLITS}

        def run_gains(which: list[int], label: str) -> None:
            run([failed if i in which else none for i in range(n)], label)
            for i in which:
                gains_done[i] = True
            self._stop_hopeless(got, parents, stopped, exact_only=gains_done)

        run_gains([i for i in range(n) if active(i) and tally(i)[0]["train"] == 0], "stage 2 (parent-failed pairs)")
        # 3. the pairs the parent passed, which can only show losses, in chunks
        order = {s: sorted(passed[s], key=lambda k: hash_key(k, self.seed)) for s in SPLITS}
        chunks = max(1, self.config.racing_chunks)
        for c in range(chunks):
            upto = {s: order[s][: -(-len(order[s]) * (c + 1) // chunks)] for s in SPLITS}
            run([upto for _ in candidates], f"stage {c + 3} (parent-passed pairs, shard {c + 1}/{chunks})")
            losing = [i for i in range(n) if active(i) and not gains_done[i]
                      and any(tally(i)[1][s] > tally(i)[0][s] for s in SPLITS)]
            if losing:
                run_gains(losing, f"stage {c + 3}b (parent-failed pairs of losing candidates)")
            self._stop_hopeless(got, parents, stopped, exact_only=gains_done)
            if c < chunks - 1 and self.config.rule == "paper" and not (self.config.beyond_noise and self.noise):
                for i in range(n):
                    if active(i):
                        settled[i] = self._settled(*tally(i), remaining={s: len(order[s]) - len(upto[s])
                                                                         for s in SPLITS})
        # a rejection on partial gains is confirmed with the rest of the parent-failed pairs
        unsure = [i for i in range(n) if active(i) and not gains_done[i]
                  and not self._rule(*[split_result(s, self._pairs(got[i], parents, s)) for s in SPLITS])[0]]
        if unsure:
            run_gains(unsure, "final (parent-failed pairs)")
        results = [self._judge(c, parent, parents, got[i], stopped[i], settled[i]) for i, c in enumerate(candidates)]
        for i, ab in enumerate(results):
            if ab.accepted and not gains_done[i]:
                ab.reason += " (gains are lower bounds: racing skipped pairs that could only add gains)"
        self._decided(candidates, results)
        return results

    def _decided(self, candidates: list[Candidate], results: list[ABResult]) -> None:
        for c, ab in zip(candidates, results):
            if c.proposal.id in self.live:
                self.live[c.proposal.id]["state"] = "accepted" if ab.accepted else "rejected"

    @staticmethod
    def _pairs(g: dict[str, dict[Key, Trace]], parents, split: str) -> list[tuple[bool, bool]]:
        return [(parents[split][k].passed, t.passed) for k, t in sorted(g[split].items()) if t.infra_error is None]

    @staticmethod
    def _tally(g: dict[str, dict[Key, Trace]], parents) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        """Gains, losses and parent-passed pairs seen so far, per split."""
        gains = {s: sum(1 for k, t in g[s].items() if t.passed and not parents[s][k].passed) for s in SPLITS}
        losses = {s: sum(1 for k, t in g[s].items() if not t.passed and parents[s][k].passed) for s in SPLITS}
        seen = {s: sum(1 for k in g[s] if parents[s][k].passed) for s in SPLITS}
        return gains, losses, seen

    def _settled(self, gains, losses, seen, remaining) -> str | None:
        """Accept before the last pairs run when they are unlikely to turn the decision around (never when
        none is left to run: then the rule decides, on every pair)."""
        if not any(remaining.values()):
            return None
        delta = {s: gains[s] - losses[s] for s in SPLITS}
        top = max(SPLITS, key=lambda s: (delta[s], s == "train"))
        if delta[top] <= 0 or any(d < 0 for d in delta.values()):
            return None
        risk = sum(more_losses_prob(seen[s], losses[s], remaining[s], delta[s] - (s == top) + 1) for s in SPLITS)
        if risk >= self.config.racing_risk:
            return None
        return (f"settled early: train {delta['train']:+d}, val {delta['val']:+d}; the unrun pairs turn it with "
                f"p={risk:.3f} < {self.config.racing_risk}")

    def _stop_hopeless(self, got, parents, stopped, exact_only: list[bool] | None = None) -> None:
        """Exact: once every parent-failed pair of a candidate ran, the rest can only add losses."""
        for i, g in enumerate(got):
            if stopped[i] is not None or (exact_only is not None and not exact_only[i]):
                continue
            gains, losses, _ = self._tally(g, parents)
            if not can_still_pass(gains, losses, {s: 0 for s in SPLITS}):
                where = "no gain on the pairs the parent failed" if all(v == 0 for v in gains.values()) \
                    else "losses outweigh gains: " + ", ".join(f"{s} {gains[s] - losses[s]:+d}" for s in SPLITS)
                stopped[i] = f"stopped early: cannot pass ({where})"


def hash_key(key: Key, seed: int) -> str:
    """A fixed pseudo-random order of pairs (no Python hash(): it changes between processes)."""
    import hashlib

    return hashlib.sha256(f"{seed}|{key[0]}|{key[1]}".encode()).hexdigest()
