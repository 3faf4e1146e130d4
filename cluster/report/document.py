"""What the report says: a loaded `Run` (load.py) as a document, a list of blocks that
render.py turns into Markdown and HTML:
("h", level, text) ("p", text) ("kv", [(key, value)]) ("table", headers, rows)
("img", path, caption) ("pre", text) ("diff", summary, text)
"""

from __future__ import annotations

from pathlib import Path

from actors.model.config import model_label
from actors.run_dir import MERGE_ID
from actors.stats import wilson_interval as wilson
from cluster import tampering
from cluster.report.fmt import fmt_split, pct, status
from cluster.report.load import Run
from harnesses.spec import diff, yaml_diff


def _round_rows(run: Run) -> list[list[str]]:
    rows = []
    for r in run.rounds:
        rec, m, p, d = r.record, r.mining, r.proposals, r.decision
        hid = (rec and rec.harness_id) or (m and m.harness_id) or (d and d.parent_id) or "?"
        promoted = rec.promoted_id if rec else d.promoted_id if d else ""
        if promoted and promoted == hid:
            promoted = "(none)"
        rows.append([str(r.n), hid,
                     pct(rec.train.passed, rec.train.episodes) if rec else "missing",
                     pct(rec.val.passed, rec.val.episodes) if rec else "missing",
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
            rows.append([str(r.n), pid, p.surface if p else ("(merge)" if pid == MERGE_ID else "?"),
                         p.audit.target_cluster if p else "", p.audit.hypothesis if p else "",
                         fmt_split(ab.splits.get("train")) if ab else "–",
                         fmt_split(ab.splits.get("val")) if ab else "–",
                         str(ab.noise) if ab and ab.noise is not None else "–",
                         f"{verdict}: {reason}" if reason else verdict,
                         str(ab.episodes) if ab else "–", ("yes" if ab.stopped_early else "no") if ab else "–",
                         str(tampering.count(run.tampered, ab.candidate_id)) if ab else "–"])
    return rows


def _lineage_blocks(run: Run) -> list[tuple]:
    """The promoted chain: initial, then each round's promoted harness, with its diff from its parent."""
    by_id = {e.id: e for e in run.lineage}
    chain: list[tuple[str, str, int | None]] = [(run.initial_id, "", None)]
    for r in run.rounds:
        d = r.decision
        if d and d.promoted_id and d.promoted_id != d.parent_id:
            chain.append((d.promoted_id, d.parent_id, r.n))
    rows, blocks = [], []
    for hid, parent, rnd in chain:
        e = by_id.get(hid)
        parent = parent or (e and e.parent) or ""
        props = ", ".join(e.proposals if e else []) or ("(initial)" if not parent else "")
        rows.append([hid, parent or "–", str(rnd if rnd is not None else e.round if e else "–"), props])
        text = (e and e.diff) or ""
        if not text and parent:
            a, b = run.harness(parent), run.harness(hid)
            text = diff(a, b) if a and b else "(harness files missing)"
        if parent:
            blocks.append(("pre", f"{parent} → {hid}\n{text or '(no change)'}"))
    others = len([e for e in run.lineage if e.id not in {c[0] for c in chain}])
    note = f"{others} other (candidate or merge) version(s) are in lineage.jsonl." if others else ""
    return [("table", ["harness", "parent", "round", "proposals"], rows)] + blocks + ([("p", note)] if note else [])


def _acceptance(cfg) -> str:
    """The rule the run decided by, with the A/A defaults decided for its model."""
    if cfg is None:
        return "?"
    a = cfg.loop().acceptance
    noise = ("; an A/A noise check each round" + (", a net gain beyond it required" if a.beyond_noise else "")
             if a.noise_check else "; no A/A noise check")
    return f"{a.rule} rule{', racing' if a.racing else ''}{noise}"


def build_document(run: Run, images: list[tuple[Path, str]]) -> list[tuple]:
    n_done = sum(r.record is not None for r in run.rounds)
    state, cfg = run.state, run.config
    doc: list[tuple] = [("h", 1, f"Self-Harness run report: {run.root.name}")]
    doc.append(("kv", [
        ("run dir", str(run.root)),
        ("model / profile", model_label(cfg.model) if cfg else "?"),
        ("proposer", "?" if cfg is None else model_label(cfg.proposer.model) if cfg.proposer.model
         else f"the agent's model ({model_label(cfg.model)})"),
        ("suite", cfg.suite if cfg else "?"),
        ("acceptance", _acceptance(cfg)),
        ("rounds done", f"{n_done} of {cfg.rounds if cfg else '?'} planned "
                        f"(state: round {state.round}, phase {state.phase or '?'})"),
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
            [name, s.harness_id, pct(s.passed, s.episodes),
             "[{:.1f}%, {:.1f}%]".format(*(100 * x for x in wilson(s.passed, s.episodes))), str(s.infra_errors),
             str(tampering.count(run.tampered, s.harness_id, ("test",)))]
            for name, s in (("initial", f.initial), ("final", f.final))]))
        pr = f.paired
        doc.append(("kv", [("paired delta (final − initial)", fmt_split(pr)),
                           ("pairs", f"{pr.evaluated} evaluated of {pr.pairs}; {pr.gains} gains, {pr.losses} losses")]))
    else:
        doc.append(("p", "The run has not finished: final.json is absent, so there is no test result."))
    doc.append(("h", 2, "Plots"))
    doc += [("img", p, cap) for p, cap in images] or [("p", "No data to plot yet.")]
    doc.append(("h", 2, "Rounds"))
    doc.append(("table", ["round", "harness", "train", "val", "clusters", "eligible", "proposals", "refused",
                          "accepted", "promoted", "stopped", "tampered"], _round_rows(run)))
    for r in run.rounds:
        if r.noise is not None:
            doc.append(("p", f"Round {r.n} A/A check (the parent against itself, fresh seeds): {r.noise.flips} "
                             "pair(s) flipped by sampling alone; " + "; ".join(
                                 f"{s} +{x.gains}/−{x.losses} of {x.evaluated}" for s, x in r.noise.splits.items())))
        if r.decision and r.decision.reason:
            doc.append(("p", f"Round {r.n} decision: {r.decision.reason}"))
    doc.append(("h", 2, "Candidates"))
    doc.append(("p", "Deltas are candidate minus parent pass rate over paired (task, attempt, seed) episodes, "
                     "in percentage points, with the raw count, the bootstrap interval and the sign-test p. "
                     "A/A noise is the round's noise floor: the pairs the parent flipped against itself (– when "
                     "the round measured none)."))
    doc.append(("table", ["round", "proposal", "surface", "target cluster", "hypothesis", "train Δ [CI] p",
                          "val Δ [CI] p", "A/A noise", "decision: reason", "episodes", "stopped early", "tampered"],
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
