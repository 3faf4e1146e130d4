"""actors/stats.py on its own: paired deltas, bootstrap intervals, exact sign tests and the acceptance
rules, against values worked out by hand (binomial coefficients, the rule of succession)."""

from __future__ import annotations

from fractions import Fraction
from itertools import pairwise
from math import comb

import pytest

from actors.stats import (
    bootstrap_ci,
    can_still_pass,
    more_losses_prob,
    paper_rule,
    sign_test_p,
    split_result,
    strict_rule,
    wilson_interval,
)

GAIN, LOSS, BOTH_PASS, BOTH_FAIL = (False, True), (True, False), (True, True), (False, False)
"""(parent passed, candidate passed) of one pair."""


def result(split: str, gains: int = 0, losses: int = 0, both_pass: int = 0, both_fail: int = 0):
    return split_result(split, [GAIN] * gains + [LOSS] * losses + [BOTH_PASS] * both_pass + [BOTH_FAIL] * both_fail,
                        samples=200)


# -- the exact sign test ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gains,losses,expected", [
    (5, 0, Fraction(2, 2 ** 5)),                      # 2 * C(5,0) / 2^5 = 1/16
    (10, 0, Fraction(2, 2 ** 10)),                    # 2 / 1024
    (8, 2, Fraction(2 * (1 + 10 + 45), 2 ** 10)),     # 2 * (C(10,0)+C(10,1)+C(10,2)) / 2^10 = 112/1024
    (6, 1, Fraction(2 * (1 + 7), 2 ** 7)),            # 16/128 = 1/8
    (3, 1, Fraction(2 * (1 + 4), 2 ** 4)),            # 10/16
    (15, 5, Fraction(2 * sum(comb(20, i) for i in range(6)), 2 ** 20)),
])
def test_sign_test_p_is_the_exact_two_sided_binomial_tail(gains, losses, expected):
    assert sign_test_p(gains, losses) == pytest.approx(float(expected), rel=1e-12)
    assert sign_test_p(losses, gains) == sign_test_p(gains, losses)  # two-sided: symmetric


@pytest.mark.parametrize("gains,losses", [(0, 0), (1, 0), (0, 1), (3, 3), (4, 5), (50, 50)])
def test_sign_test_p_is_one_without_evidence_and_never_above_one(gains, losses):
    # no discordant pair, a single one, or a balanced split: twice the tail is >= 1, capped at 1
    assert sign_test_p(gains, losses) == 1.0


def test_sign_test_p_falls_as_one_sided_evidence_grows():
    ps = [sign_test_p(g, 0) for g in range(1, 12)]
    assert all(a > b for a, b in pairwise(ps))
    assert sign_test_p(5, 0) > 0.05 > sign_test_p(6, 0)  # 1/16 = 0.0625 vs 1/32 = 0.03125


# -- the bootstrap interval of the mean paired difference --------------------------------------------------


def test_bootstrap_of_no_pairs_is_zero():
    assert bootstrap_ci([]) == (0.0, 0.0)


@pytest.mark.parametrize("diffs,value", [([0] * 7, 0.0), ([1] * 5, 1.0), ([-1] * 3, -1.0), ([1], 1.0)])
def test_bootstrap_of_constant_differences_is_that_value(diffs, value):
    assert bootstrap_ci(diffs, seed=3) == (value, value)


def test_bootstrap_contains_the_observed_mean_and_is_reproducible():
    diffs = [1] * 6 + [0] * 3 + [-1]  # mean 0.5
    low, high = bootstrap_ci(diffs, samples=2000, seed=7)
    assert -1.0 <= low < 0.5 < high <= 1.0
    assert bootstrap_ci(diffs, samples=2000, seed=7) == (low, high)  # same seed, same interval
    # the same resampled means: a lower level's quantiles lie inside the higher level's
    low50, high50 = bootstrap_ci(diffs, samples=2000, level=0.5, seed=7)
    assert low <= low50 <= 0.5 <= high50 <= high


def test_bootstrap_is_a_function_of_its_seed():
    """Few resamples of many pairs, so that intervals of different seeds differ: each seed's is reproduced."""
    diffs = [1] * 9 + [0] * 14 + [-1] * 7
    by_seed = {seed: bootstrap_ci(diffs, samples=15, seed=seed) for seed in range(6)}
    assert all(bootstrap_ci(diffs, samples=15, seed=seed) == ci for seed, ci in by_seed.items())
    assert len(set(by_seed.values())) > 1


def test_bootstrap_percentiles_of_two_pairs_by_hand():
    """Two pairs, differences 0 and 1: a resample's mean is 0 (p 1/4), 0.5 (p 1/2) or 1 (p 1/4), so the
    2.5% and 97.5% percentiles are 0 and 1, and the 30% and 70% ones are both 0.5."""
    assert bootstrap_ci([0, 1], samples=4000, seed=0) == (0.0, 1.0)
    assert bootstrap_ci([0, 1], samples=4000, level=0.4, seed=0) == (0.5, 0.5)


def test_bootstrap_of_all_losses_but_one_is_negative():
    low, high = bootstrap_ci([-1] * 9 + [0], samples=2000, seed=1)
    assert -1.0 <= low < -0.9 < high <= -0.5


# -- the Wilson score interval ------------------------------------------------------------------------------


def test_wilson_interval_by_hand():
    # 5/10, z = 1.96: denominator 1 + 3.8416/10 = 1.38416, centre (0.5 + 0.19208) / 1.38416 = 0.5,
    # half 1.96 * sqrt(0.025 + 0.009604) / 1.38416 = 0.26341
    assert wilson_interval(5, 10) == (pytest.approx(0.23659, abs=1e-5), pytest.approx(0.76341, abs=1e-5))
    # 0/10: centre = half = 0.19208 / 1.38416, so the interval is [0, 0.38416 / 1.38416 = 0.27754]
    assert wilson_interval(0, 10) == (pytest.approx(0.0, abs=1e-12), pytest.approx(0.27754, abs=1e-5))
    assert wilson_interval(10, 10) == (pytest.approx(0.72246, abs=1e-5), pytest.approx(1.0, abs=1e-12))
    assert wilson_interval(0, 0) == (0.0, 0.0)


# -- one split's summary ------------------------------------------------------------------------------------


def test_split_result_counts_pairs_by_hand():
    pairs = [GAIN] * 3 + [LOSS] + [BOTH_PASS] * 2 + [BOTH_FAIL]
    r = split_result("train", pairs, total_pairs=10, samples=500, seed=0)
    assert (r.split, r.pairs, r.evaluated) == ("train", 10, 7)  # 3 of the 10 pairs not (yet) run
    assert (r.parent_passed, r.candidate_passed) == (3, 5)
    assert (r.gains, r.losses, r.delta) == (3, 1, 2)
    assert r.delta == r.candidate_passed - r.parent_passed
    assert r.p_value == pytest.approx(10 / 16)  # sign_test_p(3, 1)
    assert r.ci_low < 2 / 7 < r.ci_high  # the mean paired difference is 2/7
    assert split_result("train", pairs, samples=500, seed=0).pairs == 7  # default: every pair evaluated


def test_split_result_of_no_pairs():
    r = split_result("val", [], total_pairs=4)
    assert (r.pairs, r.evaluated, r.gains, r.losses, r.delta) == (4, 0, 0, 0, 0)
    assert (r.ci_low, r.ci_high, r.p_value) == (0.0, 0.0, 1.0)


def test_split_result_all_ties_all_wins_one_loss():
    ties = result("train", both_pass=4, both_fail=3)
    assert (ties.gains, ties.losses, ties.delta, ties.p_value) == (0, 0, 0, 1.0)
    assert (ties.ci_low, ties.ci_high) == (0.0, 0.0)
    wins = result("train", gains=6)
    assert (wins.delta, wins.ci_low, wins.ci_high) == (6, 1.0, 1.0)
    assert wins.p_value == pytest.approx(2 / 64)
    one_loss = result("val", losses=1, both_pass=5)
    assert (one_loss.delta, one_loss.p_value) == (-1, 1.0)
    assert one_loss.ci_low < 0 and one_loss.ci_high == 0.0  # resamples never see a gain


# -- the acceptance rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize("train,val,accepted,reason", [
    (dict(gains=1), dict(), True, "train +1, val +0"),
    (dict(), dict(gains=1), True, "train +0, val +1"),
    (dict(gains=3, losses=1), dict(gains=2, losses=2), True, "train +2, val +0"),  # net deltas, not raw losses
    (dict(gains=2, losses=2), dict(gains=1), True, "train +0, val +1"),
    (dict(), dict(), False, "no improvement on either split"),
    (dict(both_pass=5, both_fail=5), dict(both_pass=3), False, "no improvement on either split"),
    (dict(gains=2, losses=2), dict(gains=1, losses=1), False, "no improvement on either split"),
    (dict(gains=3), dict(losses=1), False, "regresses val (-1)"),
    (dict(losses=1), dict(gains=5), False, "regresses train (-1)"),
    (dict(losses=2), dict(losses=1), False, "regresses train (-2)"),  # train is checked first
])
def test_paper_rule(train, val, accepted, reason):
    assert paper_rule(result("train", **train), result("val", **val)) == (accepted, reason)


def test_strict_rule_needs_a_significant_pooled_sign_test():
    # 5 gains, no loss: p = 2/32 = 0.0625, not below 0.05
    ok, reason = strict_rule(result("train", gains=5), result("val"), alpha=0.05)
    assert not ok and reason == "train +5, val +0, but not significant (pooled sign test p=0.062 >= 0.05)"
    # pooled over both splits: 3 + 3 gains, p = 2/64 = 0.03125, though each split alone has p = 0.25
    ok, reason = strict_rule(result("train", gains=3), result("val", gains=3), alpha=0.05)
    assert ok and reason == "train +3, val +3, pooled sign test p=0.031"
    # 6 gains and 1 loss: p = 2 * (1 + 7) / 128 = 0.125
    assert not strict_rule(result("train", gains=6, losses=1), result("val"), alpha=0.05)[0]
    # p equal to alpha is not significant
    assert not strict_rule(result("train", gains=5), result("val"), alpha=0.0625)[0]
    assert strict_rule(result("train", gains=5), result("val"), alpha=0.07)[0]


def test_strict_rule_rejects_what_the_paper_rule_rejects_first():
    train, val = result("train", gains=20), result("val", losses=1)
    assert strict_rule(train, val, alpha=0.05) == paper_rule(train, val) == (False, "regresses val (-1)")
    assert strict_rule(result("train"), result("val"), alpha=1.0) == (False, "no improvement on either split")


@pytest.mark.parametrize("gains,losses,open_gains,possible", [
    ({"train": 0, "val": 0}, {"train": 0, "val": 0}, {"train": 0, "val": 0}, False),  # nothing can still gain
    ({"train": 0, "val": 0}, {"train": 0, "val": 0}, {"train": 1, "val": 0}, True),   # one open parent failure
    ({"train": 1, "val": 0}, {"train": 0, "val": 0}, {"train": 0, "val": 0}, True),   # already passes
    ({"train": 1, "val": 0}, {"train": 1, "val": 0}, {"train": 0, "val": 0}, False),  # one loss: 0 and 0
    ({"train": 1, "val": 1}, {"train": 1, "val": 0}, {"train": 0, "val": 0}, True),   # train 0, val +1
    ({"train": 3, "val": 0}, {"train": 0, "val": 1}, {"train": 0, "val": 0}, False),  # val -1 for good
    ({"train": 3, "val": 0}, {"train": 0, "val": 1}, {"train": 0, "val": 1}, True),   # val can get back to 0
    ({"train": 0, "val": 0}, {"train": 2, "val": 0}, {"train": 1, "val": 5}, False),  # train at best -1
])
def test_can_still_pass(gains, losses, open_gains, possible):
    assert can_still_pass(gains, losses, open_gains) is possible


# -- the predictive probability of more losses --------------------------------------------------------------


def test_more_losses_prob_edges():
    assert more_losses_prob(seen=5, lost=5, remaining=3, at_least=0) == 1.0
    assert more_losses_prob(seen=5, lost=0, remaining=3, at_least=-2) == 1.0
    assert more_losses_prob(seen=0, lost=0, remaining=3, at_least=4) == 0.0  # more than can happen
    assert more_losses_prob(seen=0, lost=0, remaining=0, at_least=1) == 0.0


@pytest.mark.parametrize("remaining,at_least", [(4, 1), (4, 3), (4, 4), (10, 5), (1, 1)])
def test_more_losses_prob_with_nothing_seen_is_uniform(remaining, at_least):
    """A uniform prior and nothing seen: the number of losses among r is uniform on 0..r."""
    expected = (remaining + 1 - at_least) / (remaining + 1)
    assert more_losses_prob(seen=0, lost=0, remaining=remaining, at_least=at_least) == pytest.approx(expected)


@pytest.mark.parametrize("seen,lost", [(2, 0), (10, 3), (7, 7), (20, 1)])
def test_more_losses_prob_of_one_more_pair_is_the_rule_of_succession(seen, lost):
    assert more_losses_prob(seen, lost, remaining=1, at_least=1) == pytest.approx((lost + 1) / (seen + 2))


def test_more_losses_prob_of_two_more_losses_by_hand():
    # Polya urn: P(two losses in a row) = (lost+1)/(seen+2) * (lost+2)/(seen+3)
    assert more_losses_prob(3, 3, remaining=2, at_least=2) == pytest.approx(4 / 5 * 5 / 6)
    assert more_losses_prob(14, 0, remaining=2, at_least=2) == pytest.approx(1 / 16 * 2 / 17)
    assert more_losses_prob(6, 1, remaining=2, at_least=1) == pytest.approx(1 - 6 / 8 * 7 / 9)


def test_more_losses_prob_grows_with_the_losses_seen_and_the_pairs_left():
    by_lost = [more_losses_prob(10, lost, remaining=6, at_least=2) for lost in range(11)]
    assert all(a < b for a, b in pairwise(by_lost))
    by_left = [more_losses_prob(10, 1, remaining=r, at_least=2) for r in range(2, 12)]
    assert all(a < b for a, b in pairwise(by_left))
    assert all(0.0 <= p <= 1.0 for p in by_lost + by_left)
