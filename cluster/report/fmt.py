"""How the report, the export and the review app write numbers and verdicts, so that they agree.

A paired A/B split as "+x.x pp (+k/n) [lo, hi] p=…", a pass rate as "x.x% (k/n)", a candidate's
A/B as accepted / rejected / stopped early / not validated.
"""

from __future__ import annotations

from actors.records import ABResult, SplitResult


def rate_diff(s: SplitResult) -> float:
    """The paired pass-rate difference: delta over the pairs it was computed on."""
    n = s.evaluated or s.pairs
    return s.delta / n if n else 0.0


def pct(k: int, n: int) -> str:
    """k of n as a percentage with the raw count: '40.0% (4/10)', or '–' when n is 0."""
    return f"{100 * k / n:.1f}% ({k}/{n})" if n else "–"


def fmt_split(s: SplitResult | None) -> str:
    """A paired split: the difference in percentage points, the raw count, the interval and the sign-test p."""
    if s is None:
        return "–"
    n = s.evaluated or s.pairs
    return (f"{100 * rate_diff(s):+.1f} pp ({s.delta:+d}/{n}) "
            f"[{100 * s.ci_low:+.1f}, {100 * s.ci_high:+.1f}] p={s.p_value:.3g}")


def status(ab: ABResult | None) -> str:
    """A candidate's verdict from its A/B result (None: it was never validated)."""
    if ab is None:
        return "not validated"
    return "accepted" if ab.accepted else "stopped early" if ab.stopped_early else "rejected"
