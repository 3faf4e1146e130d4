"""`selfharness export` and `selfharness lineage`: the final harness and the evidence for it, for
someone who will never run the tool.

`final-harness.yaml` is the harness alone (loadable by `load_harness`, its id unchanged);
`evidence.md` walks the chain of promoted versions: for each, the proposals it took with
their audit records, the diff, the paired A/B results with intervals, the decision and who
made it, then the sealed test. Built from the report's loader and Markdown renderer.
"""

from __future__ import annotations

from pathlib import Path

from actors.approvals import ApprovalStore
from actors.run_dir import MERGE_ID, RunStore
from actors.stats import wilson_interval as wilson
from cluster.report import Round, Run, fmt_split, load_run, pct, render_md, status
from harnesses.spec import diff, dumps_harness, yaml_diff


def chain(run: Run) -> list[tuple[Round | None, str, str, str]]:
    """(round with the evidence, parent id, harness id, note) for the initial harness and each version
    promoted after it: by a round's decision, or adopted at the start of a later round once approved."""
    out: list[tuple[Round | None, str, str, str]] = [(None, "", run.initial_id, "")]
    rounds = {r.n: r for r in run.rounds}
    for r in run.rounds:
        a = r.adopted
        if a and a.candidate_id != out[-1][2] and a.from_round in rounds:
            out.append((rounds[a.from_round], out[-1][2], a.candidate_id,
                        f"Adopted at the start of round {r.n}, approved by {a.approved_by or '?'} at "
                        f"{a.at or '?'} (the run had carried on from the parent while it waited)."))
        d = r.decision
        if d and d.promoted_id and d.promoted_id != d.parent_id:
            out.append((r, d.parent_id, d.promoted_id, ""))
    return out


def _ab_rows(r: Round) -> list[list[str]]:
    props = {p.id: p for p in (r.proposals.proposals if r.proposals else [])}
    rows = []
    for pid, ab in r.ab.items():
        p = props.get(pid)
        rows.append([f"r{r.n}{MERGE_ID}" if pid == MERGE_ID else pid, p.surface if p else "(merge)", status(ab),
                     fmt_split(ab.splits.get("train")), fmt_split(ab.splits.get("val")), str(ab.episodes)])
    return rows


def _version_blocks(run: Run, r: Round, parent_id: str, hid: str, note: str, verdicts: dict) -> list[tuple]:
    d = r.decision
    blocks: list[tuple] = [("h", 3, f"Round {r.n}: {parent_id} → {hid}")] + ([("p", note)] if note else [])
    blocks.append(("kv", [("decision", d.reason or "–"), ("decided by", d.decided_by or "rule"),
                          ("decided at", d.decided_at or "–"), ("approval", d.approval or "not required")]))
    props = {p.id: p for p in (r.proposals.proposals if r.proposals else [])}
    used = _used(r, hid)
    clusters = {c.id: c for c in (r.mining.clusters if r.mining else [])}
    for pid in used:
        p = props.get(pid)
        if p is None:
            continue
        c = clusters.get(p.audit.target_cluster)
        target = (f"{p.audit.target_cluster}: {c.mechanism} / {c.terminal_cause}, {c.support or len(c.failures)} "
                  f"failures on {len(set(c.tasks))} tasks") if c else p.audit.target_cluster
        v = verdicts.get(pid)
        blocks.append(("h", 4, f"Proposal {pid} ({p.surface})"))
        blocks.append(("kv", [("target cluster", target), ("hypothesis", p.audit.hypothesis),
                              ("expected effect", p.audit.expected_effect),
                              ("regression risk", p.audit.regression_risk),
                              ("verdict", f"{v.verdict} by {v.by} at {v.at}" + (f": {v.comment}" if v.comment else "")
                               if v else "none (not required)")]))
    a, b = run.harness(parent_id), run.harness(hid)
    blocks.append(("p", "Changes:"))
    blocks.append(("pre", diff(a, b) if a and b else "(harness files missing)"))
    if a and b:
        blocks.append(("diff", "YAML diff", yaml_diff(a, b)))
    blocks.append(("p", "Paired A/B against the parent, every candidate of the round (Δ in percentage points "
                        "over paired (task, attempt, seed) episodes, the raw count, the 95% bootstrap interval, "
                        "the exact sign-test p):"))
    blocks.append(("table", ["candidate", "surface", "result", "train Δ [CI] p", "val Δ [CI] p", "episodes"],
                   _ab_rows(r)))
    return blocks


def _used(r: Round, hid: str) -> list[str]:
    """The proposals that made `hid` in round r."""
    return r.decision.merged or [p.id for p in (r.proposals.proposals if r.proposals else []) if p.candidate_id == hid]


def _who(r: Round, hid: str, verdicts: dict) -> str:
    people = sorted({verdicts[p].by for p in _used(r, hid) if p in verdicts and verdicts[p].verdict == "approve"})
    return ", ".join(people) or r.decision.decided_by or "rule"


def lineage_document(run: Run) -> list[tuple]:
    verdicts = ApprovalStore(run.root).latest()
    links = chain(run)
    doc: list[tuple] = [("h", 2, "Lineage")]
    doc.append(("table", ["version", "harness", "parent", "round", "proposals", "decided by"],
                [[str(i), hid, parent or "–", str(r.n) if r else "0",
                  ", ".join(_used(r, hid)) if r else "(initial)", _who(r, hid, verdicts) if r else "–"]
                 for i, (r, parent, hid, _) in enumerate(links)]))
    for r, parent, hid, note in links[1:]:
        doc += _version_blocks(run, r, parent, hid, note, verdicts)
    kept = [r for r in run.rounds if r.decision and r.decision.promoted_id == r.decision.parent_id]
    if kept:
        doc.append(("h", 3, "Rounds that kept their harness"))
        doc.append(("table", ["round", "harness", "why"],
                    [[str(r.n), r.decision.parent_id, r.decision.reason or (r.record.stopped if r.record else "")]
                     for r in kept]))
    return doc


def evidence_document(run: Run) -> list[tuple]:
    final = run.harness(run.final_id)
    doc: list[tuple] = [("h", 1, f"Evidence for harness {final.name if final else '?'}@{run.final_id}")]
    doc.append(("p", "Written by `selfharness export`; everything below is copied from the run directory "
                     "and reads without the tool. The harness itself is final-harness.yaml."))
    doc.append(("kv", [("run", run.root.name), ("initial harness", run.initial_id), ("final harness", run.final_id),
                       ("versions promoted", str(len(chain(run)) - 1)),
                       ("rounds", str(len(run.rounds))),
                       ("finished", "yes" if run.finished else "NO: the run has not finished; this is the current "
                                                                "harness and there is no sealed test result")]))
    doc.append(("h", 2, "Sealed test (evaluated once, at the end)"))
    if run.final:
        f = run.final
        doc.append(("table", ["harness", "id", "test pass rate", "95% Wilson"], [
            [name, s.harness_id, pct(s.passed, s.episodes),
             "[{:.1f}%, {:.1f}%]".format(*(100 * x for x in wilson(s.passed, s.episodes)))]
            for name, s in (("initial", f.initial), ("final", f.final))]))
        doc.append(("kv", [("paired Δ (final − initial)", fmt_split(f.paired))]))
    else:
        doc.append(("p", "None: the run has not finished."))
    doc += lineage_document(run)
    return doc


def export(run_dir: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write final-harness.yaml and evidence.md under `out` (default: RUN_DIR/export)."""
    run_dir = Path(run_dir)
    if not RunStore.is_run(run_dir):
        raise ValueError(f"{run_dir}: not a run directory")
    run = load_run(run_dir)
    final = run.harness(run.final_id)
    if final is None:
        raise ValueError(f"{run_dir}: harnesses/{run.final_id}.yaml is missing: nothing to export")
    out = Path(out) if out else run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    header = (f"# The final harness of self-harness run {run_dir.name}: {final.name}@{final.id}\n"
              f"# (from {run.initial_id} through {len(chain(run)) - 1} promoted version(s); evidence.md says why)\n")
    harness, evidence = out / "final-harness.yaml", out / "evidence.md"
    harness.write_text(header + dumps_harness(final))
    evidence.write_text(render_md(evidence_document(run), out))
    return harness, evidence


def lineage_text(run_dir: Path) -> str:
    run_dir = Path(run_dir)
    if not RunStore.is_run(run_dir):
        raise ValueError(f"{run_dir}: not a run directory")
    return render_md(lineage_document(load_run(run_dir)), run_dir)
