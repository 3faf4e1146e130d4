"""Paired statistics for A/B validation: deltas, bootstrap intervals, exact sign tests, and
the acceptance rules.

Episodes are paired by (task, attempt, seed): parent and candidate saw the same task
with the same seed, so a pair's outcomes differ only through the harness.
"""

from __future__ import annotations

import math

import numpy as np

from actors.records import SplitResult


def sign_test_p(gains: int, losses: int) -> float:
    """Exact two-sided McNemar (binomial sign) test on the discordant pairs."""
    n = gains + losses
    if n == 0:
        return 1.0
    k = min(gains, losses)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def bootstrap_ci(diffs: list[int], *, samples: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean paired difference (candidate - parent, per pair)."""
    if not diffs:
        return 0.0, 0.0
    arr = np.asarray(diffs, dtype=np.float64)
    if np.all(arr == arr[0]):
        return float(arr[0]), float(arr[0])
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, len(arr), size=(samples, len(arr)))].mean(axis=1)
    alpha = (1 - level) / 2
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1 - alpha))


def wilson_interval(passed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a pass rate."""
    if n == 0:
        return 0.0, 0.0
    p = passed / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def split_result(split: str, pairs: list[tuple[bool, bool]], total_pairs: int | None = None,
                 *, samples: int = 2000, seed: int = 0) -> SplitResult:
    """Summarise (parent passed, candidate passed) pairs of one split."""
    gains = sum(1 for p, c in pairs if c and not p)
    losses = sum(1 for p, c in pairs if p and not c)
    low, high = bootstrap_ci([int(c) - int(p) for p, c in pairs], samples=samples, seed=seed)
    return SplitResult(
        split=split, pairs=total_pairs if total_pairs is not None else len(pairs), evaluated=len(pairs),
        parent_passed=sum(p for p, _ in pairs), candidate_passed=sum(c for _, c in pairs),
        gains=gains, losses=losses, delta=gains - losses, ci_low=low, ci_high=high,
        p_value=sign_test_p(gains, losses))


def paper_rule(train: SplitResult, val: SplitResult) -> tuple[bool, str]:
    """Self-Harness: accept iff d_train >= 0 and d_val >= 0 and max(d_train, d_val) > 0."""
    if train.delta < 0:
        return False, f"regresses train ({train.delta:+d})"
    if val.delta < 0:
        return False, f"regresses val ({val.delta:+d})"
    if max(train.delta, val.delta) <= 0:
        return False, "no improvement on either split"
    return True, f"train {train.delta:+d}, val {val.delta:+d}"


def strict_rule(train: SplitResult, val: SplitResult, alpha: float) -> tuple[bool, str]:
    """The paper's rule, and the pooled sign test over both splits is significant at `alpha`."""
    ok, reason = paper_rule(train, val)
    if not ok:
        return ok, reason
    p = sign_test_p(train.gains + val.gains, train.losses + val.losses)
    if p >= alpha:
        return False, f"{reason}, but not significant (pooled sign test p={p:.3f} >= {alpha})"
    return True, f"{reason}, pooled sign test p={p:.3f}"


def can_still_pass(gains: dict[str, int], losses: dict[str, int], open_gains: dict[str, int]) -> bool:
    """Whether the paper's rule can still hold, given the pairs that could still go either way.

    `open_gains[split]` counts unevaluated pairs the parent failed (the only ones that can
    still add a gain); unevaluated pairs the parent passed can only add losses.
    """
    best = {s: gains[s] - losses[s] + open_gains[s] for s in gains}
    return all(d >= 0 for d in best.values()) and max(best.values()) > 0


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def more_losses_prob(seen: int, lost: int, remaining: int, at_least: int) -> float:
    """P(at least `at_least` losses among `remaining` unseen pairs), having seen `lost` in `seen`.

    Beta-binomial predictive with a uniform prior on the loss rate: how likely the pairs not
    yet run would still turn a decision around.
    """
    if at_least <= 0:
        return 1.0
    if at_least > remaining:
        return 0.0
    a, b = lost + 1, seen - lost + 1
    below = 0.0
    for x in range(at_least):
        below += math.exp(math.lgamma(remaining + 1) - math.lgamma(x + 1) - math.lgamma(remaining - x + 1)
                          + _log_beta(x + a, remaining - x + b) - _log_beta(a, b))
    return max(0.0, 1.0 - below)
