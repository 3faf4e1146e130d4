"""`selfharness report RUN_DIR`: a run directory -> report.md, report.html and PNG plots.

Reads the typed records the loop writes (actors/records.py) and is tolerant of a run that
stopped early: a missing or unreadable file is listed as such, never a crash. The HTML is
self-contained (plots embedded as base64, inline CSS, no JS); the Markdown links the PNGs.
Verifier tampering is read from the traces (cluster/tampering.py): per round, per candidate,
and listed episode by episode when there is any.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import yaml

from actors.records import ABResult, Decision, FinalReport, MiningReport, Proposal, Refusal, RoundRecord, SplitResult
from actors.stats import wilson_interval as wilson
from cluster import tampering
from harnesses.spec import HarnessSpec, diff, load_harness, yaml_diff

COLOURS = {"accepted": "#2e7d32", "rejected": "#c62828", "stopped early": "#9e9e9e", "refused": "#f9a825",
           "train": "#1565c0", "val": "#ef6c00", "test": "#6a1b9a", "eligible": "#2e7d32", "not eligible": "#b0bec5"}


class ProposalsFile(msgspec.Struct, kw_only=True):
    proposals: list[Proposal] = []
    refusals: list[Refusal] = []
    raw: str = ""


@dataclass
class Round:
    """Everything on disk for one round (None where the file is missing or unreadable)."""

    n: int
    mining: MiningReport | None = None
    proposals: ProposalsFile | None = None
    ab: dict[str, ABResult] = field(default_factory=dict)
    decision: Decision | None = None
    record: RoundRecord | None = None


@dataclass
class Run:
    """What a run directory holds, as far as it could be read."""

    root: Path
    config: dict
    state: dict
    rounds: list[Round]
    final: FinalReport | None
    lineage: list[dict]
    problems: list[str]
    episodes: int = 0
    passed: int = 0
    _harnesses: dict = field(default_factory=dict)
    _tampered: list | None = None

    @property
    def tampered(self) -> list[tampering.TamperedEpisode]:
        """The run's episodes that tampered with the verifier (read from the traces on first use)."""
        if self._tampered is None:
            self._tampered = tampering.scan(self.root)
        return self._tampered

    def harness(self, hid: str) -> HarnessSpec | None:
        """harnesses/<hid>.yaml, or None when it is missing or unreadable."""
        if hid not in self._harnesses:
            path = self.root / "harnesses" / f"{hid}.yaml"
            try:
                self._harnesses[hid] = load_harness(path) if hid and path.exists() else None
            except (OSError, ValueError) as e:
                self.problems.append(f"harnesses/{hid}.yaml: unreadable: {e}")
                self._harnesses[hid] = None
        return self._harnesses[hid]

    @property
    def initial_id(self) -> str:
        if self.final:
            return self.final.initial_id
        first = next((e for e in self.lineage if not e.get("parent")), None)
        if first:
            return first.get("id", "")
        if not self.rounds:
            return ""
        r = self.rounds[0]
        return (r.record and r.record.harness_id) or (r.mining and r.mining.harness_id) or ""

    @property
    def final_id(self) -> str:
        if self.final:
            return self.final.final_id
        for r in reversed(self.rounds):
            if r.decision:
                return r.decision.promoted_id
        return self.state.get("harness_id", "") or self.initial_id

    @property
    def finished(self) -> bool:
        return self.final is not None


# ---------------------------------------------------------------- loading


def _decode(path: Path, typ: Any, run_root: Path, problems: list[str], required: bool = True) -> Any:
    rel = path.relative_to(run_root)
    if not path.exists():
        if required:
            problems.append(f"{rel}: missing")
        return None
    try:
        return msgspec.json.decode(path.read_bytes(), type=typ)
    except (OSError, msgspec.DecodeError, msgspec.ValidationError) as e:
        problems.append(f"{rel}: unreadable: {e}")
        return None


def _jsonl(path: Path, problems: list[str]) -> list[dict]:
    out = []
    if not path.exists():
        return out
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        try:
            item = json.loads(line) if line.strip() else None
            if isinstance(item, dict):
                out.append(item)
        except json.JSONDecodeError:
            problems.append(f"{path.name} line {i}: not JSON")
    return out


def load_run(root: Path) -> Run:
    """Read what exists of a run directory; what is missing goes into `problems`."""
    root = Path(root)
    problems: list[str] = []
    config: Any = {}
    try:
        config = yaml.safe_load((root / "config.yaml").read_text()) or {}
    except FileNotFoundError:
        problems.append("config.yaml: missing")
    except (OSError, yaml.YAMLError) as e:
        problems.append(f"config.yaml: unreadable: {e}")
    state = _decode(root / "state.json", dict, root, problems) or {}
    numbers = sorted(int(p.name) for p in (root / "rounds").glob("*") if p.is_dir() and p.name.isdigit())
    rounds = []
    for n in numbers:
        d = root / "rounds" / str(n)
        r = Round(n)
        r.mining = _decode(d / "mining.json", MiningReport, root, problems)
        r.proposals = _decode(d / "proposals.json", ProposalsFile, root, problems)
        for p in sorted((d / "ab").glob("*.json"), key=lambda p: (p.stem == "merge", p.stem)):
            ab = _decode(p, ABResult, root, problems)
            if ab:
                r.ab[ab.proposal_id or p.stem] = ab
        r.decision = _decode(d / "decision.json", Decision, root, problems)
        r.record = _decode(d / "round.json", RoundRecord, root, problems)
        rounds.append(r)
    final = _decode(root / "final.json", FinalReport, root, problems, required=False)
    eps = _jsonl(root / "episodes.jsonl", problems)
    return Run(root, config if isinstance(config, dict) else {}, state if isinstance(state, dict) else {}, rounds,
               final, _jsonl(root / "lineage.jsonl", problems), problems,
               episodes=len(eps), passed=sum(bool(e.get("passed")) for e in eps))


# ---------------------------------------------------------------- numbers


def rate_diff(s: SplitResult) -> float:
    """The paired pass-rate difference: delta over the pairs it was computed on."""
    n = s.evaluated or s.pairs
    return s.delta / n if n else 0.0


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.1f}% ({k}/{n})" if n else "–"


def _fmt_split(s: SplitResult | None) -> str:
    if s is None:
        return "–"
    n = s.evaluated or s.pairs
    return (f"{100 * rate_diff(s):+.1f} pp ({s.delta:+d}/{n}) "
            f"[{100 * s.ci_low:+.1f}, {100 * s.ci_high:+.1f}] p={s.p_value:.3g}")


def status(ab: ABResult | None) -> str:
    if ab is None:
        return "not validated"
    return "accepted" if ab.accepted else "stopped early" if ab.stopped_early else "rejected"


def _find(cfg: Any, key: str) -> Any:
    """The first value of `key` in a nested config (breadth first)."""
    queue = [cfg]
    while queue:
        d = queue.pop(0)
        if isinstance(d, dict):
            if key in d:
                return d[key]
            queue += list(d.values())
    return None


def _model(cfg: dict) -> str:
    m = _find(cfg, "model")
    if isinstance(m, dict):
        detail = m.get("profile") or m.get("model") or m.get("name") or ""
        return "/".join(str(x) for x in (m.get("kind", ""), detail) if x) or "?"
    return str(m) if m else "?"


# ---------------------------------------------------------------- plots


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
    abs_ = [ab for pid, ab in r.ab.items() if pid != "merge"]
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


# ---------------------------------------------------------------- document

# A document is a list of blocks, rendered to both Markdown and HTML:
# ("h", level, text) ("p", text) ("kv", [(key, value)]) ("table", headers, rows)
# ("img", path, caption) ("pre", text) ("diff", summary, text)


def _round_rows(run: Run) -> list[list[str]]:
    rows = []
    for r in run.rounds:
        rec, m, p, d = r.record, r.mining, r.proposals, r.decision
        hid = (rec and rec.harness_id) or (m and m.harness_id) or (d and d.parent_id) or "?"
        promoted = rec.promoted_id if rec else d.promoted_id if d else ""
        if promoted and promoted == hid:
            promoted = "(none)"
        rows.append([str(r.n), hid,
                     _pct(rec.train.passed, rec.train.episodes) if rec else "missing",
                     _pct(rec.val.passed, rec.val.episodes) if rec else "missing",
                     str(rec.clusters if rec else len(m.clusters) if m else "–"),
                     str(rec.eligible_clusters if rec else sum(c.eligible for c in m.clusters) if m else "–"),
                     str(rec.proposals if rec else len(p.proposals) if p else "–"),
                     str(rec.refused if rec else len(p.refusals) if p else "–"),
                     str(rec.accepted if rec else len(d.accepted) if d else "–"),
                     promoted or "–", (rec.stopped if rec else "") or "",
                     str(tampering.round_count(run.tampered, r, hid))])
    return rows


def _candidate_rows(run: Run) -> list[list[str]]:
    rows = []
    for r in run.rounds:
        props = {p.id: p for p in (r.proposals.proposals if r.proposals else [])}
        d = r.decision
        promoted = d.promoted_id if d and d.promoted_id != d.parent_id else ""
        for pid in list(props) + [k for k in r.ab if k not in props]:
            p, ab = props.get(pid), r.ab.get(pid)
            verdict = status(ab)
            if ab and promoted and ab.candidate_id == promoted:
                verdict += " → promoted"
            elif promoted and pid in d.merged:
                verdict += " → promoted in the merge"
            reason = ab.reason.removeprefix(status(ab)).lstrip(" :") if ab else ""
            rows.append([str(r.n), pid, p.surface if p else ("(merge)" if pid == "merge" else "?"),
                         p.audit.target_cluster if p else "", p.audit.hypothesis if p else "",
                         _fmt_split(ab.splits.get("train")) if ab else "–",
                         _fmt_split(ab.splits.get("val")) if ab else "–",
                         f"{verdict}: {reason}" if reason else verdict,
                         str(ab.episodes) if ab else "–", ("yes" if ab.stopped_early else "no") if ab else "–",
                         str(tampering.count(run.tampered, ab.candidate_id)) if ab else "–"])
    return rows


def _lineage_blocks(run: Run) -> list[tuple]:
    """The promoted chain: initial, then each round's promoted harness, with its diff from its parent."""
    by_id = {e.get("id"): e for e in run.lineage}
    chain: list[tuple[str, str, int | None]] = [(run.initial_id, "", None)]
    for r in run.rounds:
        d = r.decision
        if d and d.promoted_id and d.promoted_id != d.parent_id:
            chain.append((d.promoted_id, d.parent_id, r.n))
    rows, blocks = [], []
    for hid, parent, rnd in chain:
        e = by_id.get(hid, {})
        parent = parent or e.get("parent") or ""
        props = ", ".join(e.get("proposals") or []) or ("(initial)" if not parent else "")
        rows.append([hid, parent or "–", str(rnd if rnd is not None else e.get("round", "–")), props])
        text = e.get("diff") or ""
        if not text and parent:
            a, b = run.harness(parent), run.harness(hid)
            text = diff(a, b) if a and b else "(harness files missing)"
        if parent:
            blocks.append(("pre", f"{parent} → {hid}\n{text or '(no change)'}"))
    others = len([e for e in run.lineage if e.get("id") not in {c[0] for c in chain}])
    note = f"{others} other (candidate or merge) version(s) are in lineage.jsonl." if others else ""
    return [("table", ["harness", "parent", "round", "proposals"], rows)] + blocks + ([("p", note)] if note else [])


def build_document(run: Run, images: list[tuple[Path, str]]) -> list[tuple]:
    n_done = sum(r.record is not None for r in run.rounds)
    state = run.state
    doc: list[tuple] = [("h", 1, f"Self-Harness run report: {run.root.name}")]
    doc.append(("kv", [
        ("run dir", str(run.root)),
        ("model / profile", _model(run.config)),
        ("suite", str(_find(run.config, "suite") or "?")),
        ("rounds done", f"{n_done} of {run.config.get('rounds', '?')} planned "
                        f"(state: round {state.get('round', '?')}, phase {state.get('phase', '?')})"),
        ("finished", "yes" if run.finished else "NO: the run has not finished (no final.json); no test result yet"),
        ("initial harness", run.initial_id or "?"),
        ("final harness", (run.final_id or "?") + ("" if run.finished else " (current)")),
        ("episodes", f"{run.episodes} recorded, {run.passed} passed" if run.episodes else "none recorded"),
        ("verifier tampering", f"{len(run.tampered)} episode(s): see Verifier tampering" if run.tampered else "none"),
    ]))
    doc.append(("h", 2, "Final test result (sealed split)"))
    if run.final:
        f = run.final
        doc.append(("table", ["harness", "id", "test pass rate", "95% Wilson", "infra errors", "tampered"], [
            [name, s.harness_id, _pct(s.passed, s.episodes),
             "[{:.1f}%, {:.1f}%]".format(*(100 * x for x in wilson(s.passed, s.episodes))), str(s.infra_errors),
             str(tampering.count(run.tampered, s.harness_id, ("test",)))]
            for name, s in (("initial", f.initial), ("final", f.final))]))
        pr = f.paired
        doc.append(("kv", [("paired delta (final − initial)", _fmt_split(pr)),
                           ("pairs", f"{pr.evaluated} evaluated of {pr.pairs}; {pr.gains} gains, {pr.losses} losses")]))
    else:
        doc.append(("p", "The run has not finished: final.json is absent, so there is no test result."))
    doc.append(("h", 2, "Plots"))
    doc += [("img", p, cap) for p, cap in images] or [("p", "No data to plot yet.")]
    doc.append(("h", 2, "Rounds"))
    doc.append(("table", ["round", "harness", "train", "val", "clusters", "eligible", "proposals", "refused",
                          "accepted", "promoted", "stopped", "tampered"], _round_rows(run)))
    for r in run.rounds:
        if r.decision and r.decision.reason:
            doc.append(("p", f"Round {r.n} decision: {r.decision.reason}"))
    doc.append(("h", 2, "Candidates"))
    doc.append(("p", "Deltas are candidate minus parent pass rate over paired (task, attempt, seed) episodes, "
                     "in percentage points, with the raw count, the bootstrap interval and the sign-test p."))
    doc.append(("table", ["round", "proposal", "surface", "target cluster", "hypothesis", "train Δ [CI] p",
                          "val Δ [CI] p", "decision: reason", "episodes", "stopped early", "tampered"],
                         _candidate_rows(run)))
    doc += tampering.report_blocks(run.tampered)
    doc.append(("h", 2, "Refusals"))
    refusals = [[str(r.n), str(x.index), x.reason] for r in run.rounds if r.proposals for x in r.proposals.refusals]
    doc.append(("table", ["round", "index", "reason"], refusals) if refusals else ("p", "None."))
    doc.append(("h", 2, "Final harness"))
    a, b = run.harness(run.initial_id), run.harness(run.final_id)
    if a and b:
        doc.append(("p", f"{b.name}@{b.id}, changes from the initial harness {a.name}@{a.id}:"))
        doc.append(("pre", diff(a, b) or "(no change: the final harness is the initial one)"))
        if a.id != b.id:
            doc.append(("diff", "Full YAML diff", yaml_diff(a, b)))
    else:
        doc.append(("p", "Harness files for the initial or final harness are missing."))
    doc.append(("h", 2, "Lineage"))
    doc += _lineage_blocks(run)
    if run.problems:
        doc.append(("h", 2, "Missing or unreadable files"))
        doc.append(("pre", "\n".join(run.problems)))
    return doc


# ---------------------------------------------------------------- rendering


def _md_cell(s: str) -> str:
    return s.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _fence(text: str, lang: str = "") -> str:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def render_md(doc: list[tuple], base: Path) -> str:
    out = []
    for b in doc:
        kind = b[0]
        if kind == "h":
            out.append("#" * b[1] + " " + b[2])
        elif kind == "p":
            out.append(b[1])
        elif kind == "kv":
            out.append("\n".join(f"- **{k}**: {_md_cell(v)}" for k, v in b[1]))
        elif kind == "table":
            lines = ["| " + " | ".join(b[1]) + " |", "|" + "---|" * len(b[1])]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b[2]]
            out.append("\n".join(lines))
        elif kind == "img":
            out.append(f"![{b[2]}]({b[1].relative_to(base).as_posix()})")
        elif kind == "pre":
            out.append(_fence(b[1]))
        elif kind == "diff":
            out.append(f"{b[1]}:\n\n{_fence(b[2], 'diff')}")
    return "\n\n".join(out) + "\n"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0;width:100%}
th,td{border:1px solid #ccc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}tr:nth-child(even) td{background:#fafafa}
td{overflow-wrap:break-word}dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dt{font-weight:600}dd{margin:0}figure{margin:1em 0}img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:13px;
white-space:pre-wrap;overflow-wrap:break-word}.add{color:#22863a}.del{color:#b31d28}.hunk{color:#6f42c1}
.warn{color:#b31d28;font-weight:600}
"""


def _diff_html(text: str) -> str:
    cls = {"+": "add", "-": "del", "@": "hunk"}
    lines = []
    for line in text.splitlines():
        c = cls.get(line[:1]) if not line.startswith(("+++", "---")) else None
        lines.append(f'<span class="{c}">{html.escape(line)}</span>' if c else html.escape(line))
    return "<pre>" + "\n".join(lines) + "</pre>"


def render_html(doc: list[tuple]) -> str:
    e = html.escape
    title = next((b[2] for b in doc if b[0] == "h"), "report")
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>{CSS}</style>"
           "</head><body>"]
    for b in doc:
        kind = b[0]
        if kind == "h":
            out.append(f"<h{b[1]}>{e(b[2])}</h{b[1]}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "kv":
            items = "".join(f"<dt>{e(k)}</dt><dd{' class=warn' if v.startswith('NO') else ''}>{e(v)}</dd>"
                            for k, v in b[1])
            out.append(f"<dl>{items}</dl>")
        elif kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b[1])
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in b[2])
            out.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif kind == "img":
            data = base64.b64encode(b[1].read_bytes()).decode()
            out.append(f"<figure><img alt='{e(b[2])}' src='data:image/png;base64,{data}'>"
                       f"<figcaption>{e(b[2])}</figcaption></figure>")
        elif kind == "pre":
            out.append(f"<pre>{e(b[1])}</pre>")
        elif kind == "diff":
            out.append(f"<details><summary>{e(b[1])}</summary>{_diff_html(b[2])}</details>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(run_dir: Path) -> tuple[Path, Path]:
    """Write RUN_DIR/report.md, RUN_DIR/report.html and the plots under RUN_DIR/report/."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ValueError(f"{run_dir}: not a run directory")
    run = load_run(run_dir)
    plots = run_dir / "report"
    plots.mkdir(exist_ok=True)
    images = []
    for name, caption, plot in PLOTS:
        path = plots / name
        if plot(run, path):
            images.append((path, caption))
        else:
            path.unlink(missing_ok=True)
    doc = build_document(run, images)
    md, page = run_dir / "report.md", run_dir / "report.html"
    md.write_text(render_md(doc, run_dir))
    page.write_text(render_html(doc))
    return md, page
