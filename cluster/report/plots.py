"""The report's PNG plots, drawn from a loaded `Run` (load.py): pass rate per round, cluster
support, per-candidate paired deltas and proposal outcomes. Each plot function returns False
when there is nothing to draw yet; `PLOTS` is the list the report writes, with captions.
"""

from __future__ import annotations

from pathlib import Path

from actors.run_dir import MERGE_ID
from actors.stats import wilson_interval as wilson
from cluster.report.fmt import rate_diff, status
from cluster.report.load import Round, Run

COLOURS = {"accepted": "#2e7d32", "rejected": "#c62828", "stopped early": "#9e9e9e", "refused": "#f9a825",
           "train": "#1565c0", "val": "#ef6c00", "test": "#6a1b9a", "eligible": "#2e7d32", "not eligible": "#b0bec5"}


def _figure(w: float, h: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def plot_pass_rates(run: Run, path: Path) -> bool:
    rows = [r.record for r in run.rounds if r.record]
    if not rows and not run.final:
        return False
    fig = _figure(8, 4)
    ax = fig.add_subplot()
    for split, dx in (("train", -0.03), ("val", 0.03)):
        xs = [r.round for r in rows]
        scores = [getattr(r, split) for r in rows]
        ys = [s.pass_rate for s in scores]
        cis = [wilson(s.passed, s.episodes) for s in scores]
        lo, hi = [c[0] for c in cis], [c[1] for c in cis]
        err = [[y - low for y, low in zip(ys, lo)], [high - y for y, high in zip(ys, hi)]]
        ax.errorbar([x + dx for x in xs], ys, yerr=err, fmt="o-", color=COLOURS[split], capsize=3,
                    elinewidth=0.8, label=split)
        ax.fill_between(xs, lo, hi, color=COLOURS[split], alpha=0.1, linewidth=1, linestyle="--",
                        edgecolor=COLOURS[split], label=f"{split} 95% CI")
    last = max([r.round for r in rows] + [r.n for r in run.rounds] + [0])
    ticks, labels = list(range(1, last + 1)), [str(i) for i in range(1, last + 1)]
    if run.final:
        f = run.final
        xs = [1, last + 1]
        ticks.append(last + 1), labels.append("final")
        for x, s, name in zip(xs, (f.initial, f.final), ("initial", "final")):
            lo, hi = wilson(s.passed, s.episodes)
            ax.errorbar([x - 0.12], [s.pass_rate], yerr=[[s.pass_rate - lo], [hi - s.pass_rate]], fmt="D",
                        color=COLOURS["test"], capsize=4, label="test (sealed)" if name == "initial" else None)
            ax.annotate(f"test {name}\n{100 * s.pass_rate:.0f}%", (x - 0.12, s.pass_rate), xytext=(-7, 0),
                        textcoords="offset points", fontsize=8, color=COLOURS["test"], ha="right", va="center")
    ax.set_xticks(ticks, labels)
    ax.set_xlim(0.4, (ticks[-1] if ticks else 1) + 0.6)
    ax.set_ylim(-0.02, 1.02)
    ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")
    ax.set_xlabel("round (harness at the start of the round)")
    ax.set_ylabel("pass rate")
    ax.set_title("Pass rate per round, with 95% Wilson intervals")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.savefig(path)
    return True


def plot_clusters(run: Run, path: Path, top: int = 8) -> bool:
    minings = [(r.n, r.mining) for r in run.rounds if r.mining and r.mining.clusters]
    if not minings:
        return False
    from matplotlib.patches import Patch

    ranked = [sorted(m.clusters, key=lambda c: -(c.support or len(c.failures)))[:top] for _, m in minings]
    fig = _figure(8, 0.9 + sum(0.32 * len(cs) + 0.6 for cs in ranked))
    axes = fig.subplots(len(minings), 1, sharex=True, squeeze=False,
                        height_ratios=[len(cs) + 1 for cs in ranked])[:, 0]
    for ax, (n, m), cs in zip(axes, minings, ranked):
        mechs = [c.mechanism for c in cs]
        labels = [c.mechanism if mechs.count(c.mechanism) == 1 else f"{c.mechanism} ({c.terminal_cause})" for c in cs]
        support = [c.support or len(c.failures) for c in cs]
        ys = range(len(cs))
        ax.barh(ys, support, color=[COLOURS["eligible" if c.eligible else "not eligible"] for c in cs])
        for y, s, c in zip(ys, support, cs):
            ax.text(s, y, f" {s} on {len(set(c.tasks))} task(s)", va="center", fontsize=8)
        ax.set_yticks(list(ys), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(f"round {n}: {m.failures} failures in {m.episodes} episodes, "
                     f"{len(m.clusters)} clusters (top {len(cs)})", fontsize=9, loc="left")
        ax.grid(axis="x", alpha=0.3)
        ax.margins(x=0.25)
    axes[-1].set_xlabel("support (failures)")
    axes[0].legend(handles=[Patch(color=COLOURS[k], label=k) for k in ("eligible", "not eligible")],
                   fontsize=8, loc="lower right")
    fig.savefig(path)
    return True


def plot_deltas(run: Run, path: Path) -> bool:
    cands = [(r.n, pid, ab) for r in run.rounds for pid, ab in r.ab.items()]
    if not cands:
        return False
    from matplotlib.lines import Line2D

    fig = _figure(8, 1.4 + 0.45 * len(cands))
    ax = fig.add_subplot()
    for i, (n, pid, ab) in enumerate(cands):
        colour = COLOURS[status(ab)]
        for split, dy, marker in (("train", -0.15, "o"), ("val", 0.15, "s")):
            s = ab.splits.get(split)
            if s is None:
                continue
            d = rate_diff(s)
            lo, hi = min(s.ci_low, d), max(s.ci_high, d)
            ax.errorbar([d], [i + dy], xerr=[[d - lo], [hi - d]], fmt=marker, color=colour, capsize=3,
                        markerfacecolor=colour if split == "train" else "white")
        if i and cands[i - 1][0] != n:
            ax.axhline(i - 0.5, color="#999", linewidth=0.6, linestyle=":")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.margins(x=0.06)
    ax.set_yticks(range(len(cands)), [f"R{n} {pid}" for n, pid, _ in cands], fontsize=8)
    ax.set_ylim(len(cands) - 0.5, -0.5)
    ax.xaxis.set_major_formatter(lambda v, _: f"{100 * v:+.0f} pp")
    ax.set_xlabel("candidate − parent pass rate (paired), bootstrap interval")
    ax.set_title("Per-candidate deltas (● train, □ val)")
    ax.grid(axis="x", alpha=0.3)
    handles = [Line2D([], [], color=COLOURS[k], marker="o", linestyle="", label=k)
               for k in ("accepted", "rejected", "stopped early")]
    handles += [Line2D([], [], color="black", marker="o", linestyle="", label="train"),
                Line2D([], [], color="black", marker="s", markerfacecolor="white", linestyle="", label="val")]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.savefig(path)
    return True


def _counts(r: Round) -> dict[str, int]:
    abs_ = [ab for pid, ab in r.ab.items() if pid != MERGE_ID]
    return {"accepted": sum(status(a) == "accepted" for a in abs_),
            "rejected": sum(status(a) == "rejected" for a in abs_),
            "stopped early": sum(status(a) == "stopped early" for a in abs_),
            "refused": len(r.proposals.refusals) if r.proposals else 0}


def plot_outcomes(run: Run, path: Path) -> bool:
    if not run.rounds:
        return False
    fig = _figure(8, 3.2)
    ax = fig.add_subplot()
    xs = [r.n for r in run.rounds]
    bottom = [0] * len(xs)
    for kind in ("accepted", "rejected", "stopped early", "refused"):
        vals = [_counts(r)[kind] for r in run.rounds]
        ax.bar(xs, vals, bottom=bottom, color=COLOURS[kind], label=kind, width=0.6)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(0, max(bottom + [1]) + 0.5)
    ax.set_xlabel("round")
    ax.set_ylabel("proposals")
    ax.set_title("Proposal outcomes per round (merge candidates not counted)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path)
    return True


PLOTS = [("pass_rate.png", "Pass rate per round per split (test: initial and final harness, sealed)", plot_pass_rates),
         ("clusters.png", "Cluster support per round (top clusters)", plot_clusters),
         ("deltas.png", "Per-candidate paired deltas with bootstrap intervals", plot_deltas),
         ("outcomes.png", "Accepted / rejected / refused proposals per round", plot_outcomes)]
