"""The validator's racing on its own (actors/validator.py), driven by an evaluator that plays scripted
outcomes as real Traces: a candidate stops after the stage that makes its acceptance impossible and the
pairs it did not run are never run; a winner is accepted by the paper rule; ties are rejected; without
racing every pair runs. Also `valid_pairs` and `merge`."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from actors.records import ABResult, Audit, Proposal
from actors.stats import split_result
from actors.validator import SPLITS, AcceptanceConfig, Candidate, Validator, hash_key, valid_pairs
from harnesses.edits import AddRule, apply_all
from harnesses.trace import Trace

try:  # `merge` moves from the validator to actors/promotion.py
    from actors.promotion import merge
except ImportError:
    from actors.validator import merge

TASKS = {"train": [f"a{i:02d}" for i in range(24)], "val": [f"b{i:02d}" for i in range(12)]}
PARENT_FAILED = {"train": TASKS["train"][:8], "val": TASKS["val"][:4]}
"""The parent fails 8 of 24 train pairs and 4 of 12 val pairs (one attempt each)."""
PARENT_PASSED = {s: [t for t in TASKS[s] if t not in PARENT_FAILED[s]] for s in SPLITS}
CHUNK_ENDS = {"train": [3, 6, 8, 11, 14, 16], "val": [2, 3, 4, 6, 7, 8]}
"""How many of the parent-passed pairs have run after each of the 6 chunks: ceil(n * (c + 1) / 6)."""
ALL = sum(len(TASKS[s]) for s in SPLITS)
AUDIT = Audit(target_cluster="c0001", hypothesis="h", expected_effect="e", regression_risk="r")
CONFIG = AcceptanceConfig(bootstrap_samples=100)  # racing on, paper rule, 6 chunks, min 6 targets
OFF = AcceptanceConfig(bootstrap_samples=100, racing=False)


def trace(task: str, split: str, harness_id: str, passed: bool, seed: int, infra: str | None = None) -> Trace:
    return Trace(task=task, harness_id=harness_id, model="sim/test", attempt=0, seed=seed, split=split,
                 reward=None if infra else float(passed), infra_error=infra,
                 stop_reason="infra_error" if infra else "completed")


def parent_traces(infra: set[tuple[str, str]] = frozenset()) -> dict[str, dict[tuple[str, int], Trace]]:
    """Every parent episode, seeded 100 + its index (the candidate's episode must carry the same seed)."""
    return {s: {(t, 0): trace(t, s, "parent", t not in PARENT_FAILED[s], 100 + i,
                              "sandbox: gone" if (s, t) in infra else None)
                for i, t in enumerate(TASKS[s])} for s in SPLITS}


def hash_order(split: str) -> list[str]:
    """The order racing runs the parent-passed pairs of a split in (seed 0)."""
    return sorted(PARENT_PASSED[split], key=lambda t: hash_key((t, 0), 0))


@dataclass
class Ask:
    label: str
    harness_id: str
    split: str
    tasks: list[str]


class ScriptedEvaluator:
    """The Evaluator's interface over a script: harness id -> {(split, task): True (passed), False (failed)
    or 'infra'}; a pair not in the script ends as the parent's did (a tie). Records every request, checks
    each candidate episode is paired with the parent's seed and is asked for at most once."""

    def __init__(self, parents, script: dict[str, dict[tuple[str, str], bool | str]]):
        self.parents, self.script = parents, script
        self.asked: list[Ask] = []
        self.ran: set[tuple[str, str, str]] = set()

    def evaluate(self, requests, desc: str = "episodes") -> list[dict[tuple[str, int], Trace]]:
        out = []
        for harness, specs in requests:
            (split,) = {s.split for s in specs}
            self.asked.append(Ask(desc.removeprefix("validate "), harness.id, split, [s.task for s in specs]))
            got = {}
            for s in specs:
                parent = self.parents[s.split][(s.task, s.attempt)]
                assert s.seed == parent.seed, "paired by (task, attempt, seed)"
                assert (harness.id, s.split, s.task) not in self.ran, f"asked twice for {s}"
                self.ran.add((harness.id, s.split, s.task))
                outcome = self.script.get(harness.id, {}).get((s.split, s.task), parent.passed)
                got[(s.task, s.attempt)] = trace(s.task, s.split, harness.id, outcome is True, s.seed,
                                                 "sandbox: gone" if outcome == "infra" else None)
            out.append(got)
        return out

    def stages(self, harness_id: str) -> list[str]:
        return list(dict.fromkeys(a.label for a in self.asked if a.harness_id == harness_id))

    def tasks(self, harness_id: str, split: str) -> set[str]:
        return {t for a in self.asked if a.harness_id == harness_id and a.split == split for t in a.tasks}


def candidate(minimal, n: int, targets: list[str] = ()) -> Candidate:
    edits = [AddRule(section="execution", text=f"Rule {n}: check the output before completing.")]
    harness = apply_all(minimal, edits)
    proposal = Proposal(id=f"r1p{n}", round=1, surface="prompt.execution", edits=edits, audit=AUDIT,
                        candidate_id=harness.id)
    return Candidate(proposal, harness, [(t, 0) for t in targets])


def validate(minimal, cands: list[Candidate], script: dict[int, dict], config=CONFIG, parents=None):
    parents = parents or parent_traces()
    evaluator = ScriptedEvaluator(parents, {cands[n].harness.id: s for n, s in script.items()})
    return Validator(evaluator, config).validate(cands, minimal, parents), evaluator


def gains(split: str, *tasks: str) -> dict:
    return {(split, t): True for t in tasks}


def losses(split: str, *tasks: str) -> dict:
    return {(split, t): False for t in tasks}


# -- stopping what cannot pass ------------------------------------------------------------------------------


def test_a_candidate_that_loses_early_stops_after_the_stage_that_rules_it_out(minimal):
    """One gain on train, then one loss in the second chunk of parent-passed pairs: train +0, val +0 can
    no longer pass, so nothing after stage 4 runs for it; its twin without the loss runs to the end."""
    order, val_order = hash_order("train"), hash_order("val")
    loss = order[4]  # in the second chunk (pairs 3..5 of the order)
    cands = [candidate(minimal, 1), candidate(minimal, 2)]
    (loser, twin), ev = validate(minimal, cands, {0: gains("train", "a00") | losses("train", loss),
                                                  1: gains("train", "a00")})
    lid = cands[0].harness.id
    assert ev.stages(lid) == ["stage 2 (parent-failed pairs)", "stage 3 (parent-passed pairs, shard 1/6)",
                              "stage 4 (parent-passed pairs, shard 2/6)"]
    assert ev.tasks(lid, "train") == set(PARENT_FAILED["train"]) | set(order[:6])
    assert ev.tasks(lid, "val") == set(PARENT_FAILED["val"]) | set(val_order[:3])
    assert not ev.tasks(lid, "train") & set(order[6:]) and not ev.tasks(lid, "val") & set(val_order[3:])
    assert not loser.accepted and loser.stopped_early and not loser.settled_early
    assert loser.reason == "stopped early: cannot pass (losses outweigh gains: train +0, val +0)"
    assert loser.episodes == 8 + 6 + 4 + 3
    train = loser.splits["train"]
    assert (train.pairs, train.evaluated, train.gains, train.losses, train.delta) == (24, 14, 1, 1, 0)
    # the twin ran every stage and every pair, and wins
    assert ev.stages(cands[1].harness.id)[-1] == "stage 8 (parent-passed pairs, shard 6/6)"
    assert twin.accepted and twin.episodes == ALL and twin.reason == "train +1, val +0"


@pytest.mark.parametrize("split,where", [("train", "train -1, val +0"), ("val", "train +1, val -2")])
def test_a_loss_that_cannot_be_made_up_stops_at_once(minimal, split, where):
    """One gain on train, two losses in the first chunk of a split: a split below 0 is final once every
    gain is in."""
    cands = [candidate(minimal, 1)]
    (ab,), ev = validate(minimal, cands, {0: gains("train", "a03") | losses(split, *hash_order(split)[:2])})
    assert ev.stages(cands[0].harness.id)[-1] == "stage 3 (parent-passed pairs, shard 1/6)"
    assert not ab.accepted and ab.stopped_early
    assert ab.reason == f"stopped early: cannot pass (losses outweigh gains: {where})"


def test_ties_everywhere_are_rejected_without_running_the_parent_passed_pairs(minimal):
    cands = [candidate(minimal, 1)]
    (ab,), ev = validate(minimal, cands, {0: {}})
    cid = cands[0].harness.id
    assert ev.stages(cid) == ["stage 2 (parent-failed pairs)"]
    assert ev.tasks(cid, "train") == set(PARENT_FAILED["train"]) and ev.tasks(cid, "val") == set(PARENT_FAILED["val"])
    assert not ab.accepted and ab.stopped_early
    assert ab.reason == "stopped early: cannot pass (no gain on the pairs the parent failed)"
    assert ab.episodes == 12 and all(ab.splits[s].delta == 0 for s in SPLITS)


def test_ties_everywhere_are_rejected_by_the_rule_without_racing(minimal):
    cands = [candidate(minimal, 1)]
    (ab,), _ = validate(minimal, cands, {0: {}}, config=OFF)
    assert not ab.accepted and not ab.stopped_early and ab.episodes == ALL
    assert ab.reason == "no improvement on either split"
    assert [(s, ab.splits[s].gains, ab.splits[s].losses, ab.splits[s].p_value) for s in SPLITS] == \
        [("train", 0, 0, 1.0), ("val", 0, 0, 1.0)]


def test_a_candidate_that_fixes_none_of_its_targets_stops_after_stage_1(minimal):
    """At least racing_min_targets targets and no gain on any: stopped (a heuristic: its gain on a failure it
    did not target is never seen)."""
    targets = PARENT_FAILED["train"][:6]
    cands = [candidate(minimal, 1, targets)]
    (ab,), ev = validate(minimal, cands, {0: gains("train", "a07")})
    cid = cands[0].harness.id
    assert ev.stages(cid) == ["stage 1 (targeted failures, up to 6)"]
    assert ev.tasks(cid, "train") == set(targets) and ev.tasks(cid, "val") == set()
    assert not ab.accepted and ab.stopped_early and ab.episodes == 6
    assert ab.reason == "stopped early: no gain on the 6 failures it targets"


def test_too_few_targets_is_weak_evidence_and_the_candidate_goes_on(minimal):
    targets = PARENT_FAILED["train"][:3]  # fewer than racing_min_targets
    cands = [candidate(minimal, 1, targets)]
    (ab,), ev = validate(minimal, cands, {0: gains("train", "a07")})
    assert ev.stages(cands[0].harness.id)[:2] == ["stage 1 (targeted failures, up to 6)",
                                                  "stage 2 (parent-failed pairs)"]
    assert ab.accepted and ab.episodes == ALL and ab.reason == "train +1, val +0"


def test_a_targeted_gain_then_losses_runs_the_other_failures_before_stopping(minimal):
    """A gain in stage 1 skips stage 2; losses in the first chunk bring back the other parent-failed pairs
    (they alone can add gains), and only when those add none is the candidate stopped."""
    targets = PARENT_FAILED["train"][:6]
    cands = [candidate(minimal, 1, targets)]
    (ab,), ev = validate(minimal, cands, {0: gains("train", "a00") | losses("train", *hash_order("train")[:2])})
    cid = cands[0].harness.id
    assert ev.stages(cid) == ["stage 1 (targeted failures, up to 6)", "stage 3 (parent-passed pairs, shard 1/6)",
                              "stage 3b (parent-failed pairs of losing candidates)"]
    assert ev.tasks(cid, "val") == set(PARENT_FAILED["val"]) | set(hash_order("val")[:2])
    assert not ab.accepted and ab.stopped_early
    assert ab.reason == "stopped early: cannot pass (losses outweigh gains: train -1, val +0)"


# -- accepting winners ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", [CONFIG, OFF], ids=["racing", "no-racing"])
@pytest.mark.parametrize("script,reason", [
    (gains("train", "a00", "a01"), "train +2, val +0"),
    (gains("val", "b02"), "train +0, val +1"),
    (gains("train", "a05", "a06") | losses("train", "a10"), "train +1, val +0"),  # a loss, outweighed
])
def test_a_winner_is_accepted_by_the_paper_rule(minimal, config, script, reason):
    cands = [candidate(minimal, 1)]
    (ab,), _ = validate(minimal, cands, {0: script}, config=config)
    assert ab.accepted and ab.reason == reason
    assert not ab.stopped_early and not ab.settled_early and ab.episodes == ALL
    d = {s: ab.splits[s].delta for s in SPLITS}
    assert d["train"] >= 0 and d["val"] >= 0 and max(d.values()) > 0


def test_a_winner_on_train_that_regresses_val_is_rejected(minimal):
    cands = [candidate(minimal, 1)]
    (ab,), _ = validate(minimal, cands, {0: gains("train", "a00", "a01", "a02") | losses("val", "b11")},
                        config=OFF)
    assert not ab.accepted and ab.reason == "regresses val (-1)"


def test_a_strong_winner_settles_before_the_last_pairs(minimal):
    """Every parent failure fixed, no loss: the unrun parent-passed pairs are unlikely to turn it, so it is
    accepted before the last chunk and those pairs are never run."""
    cands = [candidate(minimal, 1)]
    script = gains("train", *PARENT_FAILED["train"]) | gains("val", *PARENT_FAILED["val"])
    (ab,), ev = validate(minimal, cands, {0: script})
    cid = cands[0].harness.id
    assert ab.accepted and ab.settled_early and not ab.stopped_early
    assert ab.reason.startswith("settled early: train +8, val +4; the unrun pairs turn it with p=")
    assert "stage 8 (parent-passed pairs, shard 6/6)" not in ev.stages(cid) and ab.episodes < ALL
    assert len(ev.tasks(cid, "train")) + len(ev.tasks(cid, "val")) == ab.episodes
    # the strict rule never settles early: it needs every pair for its sign test
    (strict,), ev = validate(minimal, cands, {0: script}, config=AcceptanceConfig(bootstrap_samples=100, rule="strict"))
    assert strict.accepted and not strict.settled_early and strict.episodes == ALL
    assert strict.reason == "train +8, val +4, pooled sign test p=0.000"


def test_a_winner_whose_every_pair_ran_is_not_settled_early(minimal):
    """With one parent-passed pair per split, the first shard runs them all: nothing is left unrun, so the
    paper rule decides and the result does not claim to have settled early."""
    full = parent_traces()
    keep = {s: PARENT_FAILED[s] + [PARENT_PASSED[s][0]] for s in SPLITS}
    parents = {s: {k: t for k, t in full[s].items() if k[0] in keep[s]} for s in SPLITS}
    cands = [candidate(minimal, 1)]
    script = gains("train", *PARENT_FAILED["train"]) | gains("val", *PARENT_FAILED["val"])
    (ab,), ev = validate(minimal, cands, {0: script}, parents=parents)
    assert ab.accepted and not ab.settled_early and "settled early" not in ab.reason
    assert ab.episodes == sum(len(keep[s]) for s in SPLITS)


def test_the_strict_rule_rejects_a_small_win(minimal):
    cands = [candidate(minimal, 1)]
    (ab,), _ = validate(minimal, cands, {0: gains("train", "a00", "a01")},
                        config=AcceptanceConfig(bootstrap_samples=100, rule="strict"))
    assert not ab.accepted
    assert ab.reason == "train +2, val +0, but not significant (pooled sign test p=0.500 >= 0.05)"


def test_a_targeted_winner_says_its_gains_are_lower_bounds(minimal):
    """Its first target fixed in stage 1, it never runs the other parent-failed pairs (they could only add
    gains), so the reason says the gains it reports are lower bounds."""
    targets = PARENT_FAILED["train"][:6]
    cands = [candidate(minimal, 1, targets)]
    (ab,), ev = validate(minimal, cands, {0: gains("train", "a00", "a07") | gains("val", "b00")})
    cid = cands[0].harness.id
    assert "stage 2 (parent-failed pairs)" not in ev.stages(cid)
    assert "a07" not in ev.tasks(cid, "train") and not ev.tasks(cid, "val") & set(PARENT_FAILED["val"])
    assert ab.accepted and ab.splits["train"].gains == 1 and ab.splits["val"].gains == 0
    assert ab.reason == "train +1, val +0 (gains are lower bounds: racing skipped pairs that could only add gains)"
    assert ab.episodes == ALL - 2 - 4


# -- without racing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("script,accepted", [
    ({}, False),                                                      # ties
    (gains("train", "a00") | losses("train", *hash_order("train")[:2]), False),  # an early loser
    (losses("train", *PARENT_PASSED["train"]), False),                # loses everything
    (gains("train", *PARENT_FAILED["train"]) | gains("val", *PARENT_FAILED["val"]), True),  # would settle
])
def test_without_racing_every_pair_runs_once_in_one_stage(minimal, script, accepted):
    cands = [candidate(minimal, 1, PARENT_FAILED["train"][:6]), candidate(minimal, 2)]
    results, ev = validate(minimal, cands, {0: script, 1: script}, config=OFF)
    for c, ab in zip(cands, results):
        assert ev.stages(c.harness.id) == ["all pairs"]
        assert all(ev.tasks(c.harness.id, s) == set(TASKS[s]) for s in SPLITS)
        assert ab.episodes == ALL and not ab.stopped_early and not ab.settled_early
        assert ab.accepted is accepted
        assert all(ab.splits[s].evaluated == ab.splits[s].pairs == len(TASKS[s]) for s in SPLITS)
    assert len(ev.asked) == 2 * len(SPLITS)  # one batch: a request per candidate and split


# -- valid pairs ---------------------------------------------------------------------------------------------


def test_valid_pairs_leave_out_the_parents_infrastructure_failures():
    parents = parent_traces(infra={("train", "a09"), ("train", "a02")})
    keys = valid_pairs(parents["train"])
    assert keys == sorted(keys) and len(keys) == 22
    assert ("a09", 0) not in keys and ("a02", 0) not in keys
    assert valid_pairs(parents["val"]) == [(t, 0) for t in TASKS["val"]]
    assert valid_pairs({}) == []


def test_infrastructure_failures_pair_with_nothing(minimal):
    """The parent's infra errors are never asked for; the candidate's are run but not compared."""
    parents = parent_traces(infra={("train", "a09")})
    cands = [candidate(minimal, 1)]
    (ab,), ev = validate(minimal, cands, {0: gains("train", "a00") | {("train", "a10"): "infra"}}, config=OFF,
                         parents=parents)
    assert "a09" not in ev.tasks(cands[0].harness.id, "train")
    train = ab.splits["train"]
    assert (train.pairs, train.evaluated, train.gains, train.losses) == (23, 22, 1, 0)  # a10 is no loss
    assert ab.episodes == ALL - 1 and ab.accepted


# -- merging accepted proposals ------------------------------------------------------------------------------


def accepted_result(proposal: Proposal, train: int, val: int = 0) -> tuple[Proposal, ABResult]:
    splits = {"train": split_result("train", [(False, True)] * train, samples=10),
              "val": split_result("val", [(False, True)] * val, samples=10)}
    return proposal, ABResult(proposal_id=proposal.id, candidate_id=proposal.candidate_id, parent_id="p",
                              splits=splits, accepted=True, reason="")


def proposal(pid: str, *rules: str) -> Proposal:
    return Proposal(id=pid, round=1, surface="prompt.execution", audit=AUDIT,
                    edits=[AddRule(section="execution", text=r) for r in rules])


def test_merge_applies_compatible_proposals_best_first(minimal):
    a, b = proposal("r1p1", "Rule A."), proposal("r1p2", "Rule B.")
    merged, used = merge(minimal, [accepted_result(a, 1), accepted_result(b, 2, 1)])
    assert used == ["r1p2", "r1p1"]  # b's train + val delta (3) is larger
    assert merged.prompt.execution.rules == ("Rule B.", "Rule A.") and merged.parent == minimal.id


def test_merge_leaves_out_a_conflicting_proposal(minimal):
    best, clash = proposal("r1p1", "Rule A."), proposal("r1p2", "Rule A.", "Rule C.")
    other = proposal("r1p3", "Rule B.")
    merged, used = merge(minimal, [accepted_result(other, 1), accepted_result(clash, 2), accepted_result(best, 4)])
    assert used == ["r1p1", "r1p3"]  # r1p2 adds a rule r1p1 already added: left out whole
    assert merged.prompt.execution.rules == ("Rule A.", "Rule B.")


def test_merge_of_fewer_than_two_usable_proposals_is_nothing(minimal):
    a, same = proposal("r1p1", "Rule A."), proposal("r1p2", "Rule A.")
    assert merge(minimal, [accepted_result(a, 1)]) == (None, ["r1p1"])
    assert merge(minimal, [accepted_result(a, 1), accepted_result(same, 3)]) == (None, ["r1p2"])
    assert merge(minimal, []) == (None, [])
