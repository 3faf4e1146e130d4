"""The run report: built from a synthetic run directory of typed records, complete or stopped early."""

from __future__ import annotations

import html
import json
from pathlib import Path

import msgspec
import pytest

from actors.records import (
    ABResult,
    Audit,
    Cluster,
    Decision,
    FinalReport,
    MiningReport,
    Proposal,
    Refusal,
    RoundRecord,
    SplitResult,
    SplitScore,
)
from cluster.cli import main
from cluster.report import wilson, write_report
from harnesses.edits import AddRule, EnableMiddleware, SetRuntime, apply, encode_edits
from harnesses.spec import diff, load_harness, save_harness
from harnesses.trace import Tampering, Trace, save_trace

MINIMAL = Path(__file__).resolve().parents[2] / "harnesses" / "minimal.yaml"
RULE = "Write the required output file before you declare the task complete."
REFUSAL = "surface 'tests' is read-only"


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.encode(obj))


def _split(split, pairs, delta, lo, hi, p, evaluated=None):
    ev = pairs if evaluated is None else evaluated
    return SplitResult(split=split, pairs=pairs, evaluated=ev, parent_passed=10, candidate_passed=10 + delta,
                       gains=max(delta, 0) + 1, losses=max(-delta, 0) + 1, delta=delta, ci_low=lo, ci_high=hi,
                       p_value=p)


def _cluster(cid, mech, cause, support, tasks, eligible):
    return Cluster(id=cid, mechanism=mech, terminal_cause=cause, actionable=eligible,
                   failures=[f"e{i}" for i in range(support)], tasks=tasks, support=support, eligible=eligible)


def _proposal(pid, rnd, edit, cluster, hypothesis, cand):
    edits = json.loads(encode_edits([edit]))
    return Proposal(id=pid, round=rnd, surface=edit.surface, edits=edits, candidate_id=cand,
                    audit=Audit(target_cluster=cluster, hypothesis=hypothesis, expected_effect="fewer failures",
                                regression_risk="low"))


def make_run(root: Path) -> dict:
    """Two rounds: round 1 promotes p1 (accepted) over p2 (rejected); round 2 stops p3 early, refuses one."""
    h0 = load_harness(MINIMAL)
    h1 = apply(h0, AddRule(section="verification", text=RULE))
    c2 = apply(h0, EnableMiddleware(name="persistent_shell"))
    c3 = apply(h1, SetRuntime(key="max_turns", value=60))
    for h in (h0, h1, c2, c3):
        save_harness(h, root / "harnesses" / f"{h.id}.yaml")
    (root / "config.yaml").write_text("suite: core\nrounds: 2\nmodel:\n  kind: sim\n  profile: minimax\n")
    _write(root / "state.json", {"round": 2, "phase": "done", "harness_id": h1.id, "done": True})
    with open(root / "lineage.jsonl", "w") as f:
        for h, parent, rnd, props in ((h0, None, 0, []), (h1, h0, 1, ["r1-p1"]), (c2, h0, 1, ["r1-p2"]),
                                      (c3, h1, 2, ["r2-p3"])):
            f.write(json.dumps({"id": h.id, "parent": parent and parent.id, "round": rnd, "proposals": props,
                                "diff": diff(parent, h) if parent else ""}) + "\n")
    with open(root / "episodes.jsonl", "w") as f:
        for i in range(10):
            f.write(json.dumps({"group": "r1", "episode_id": f"e{i}", "passed": i % 2 == 0}) + "\n")

    def score(split, hid, passed, n):
        return SplitScore(split=split, harness_id=hid, passed=passed, episodes=n)

    r1, r2 = root / "rounds" / "1", root / "rounds" / "2"
    _write(r1 / "mining.json", MiningReport(round=1, harness_id=h0.id, episodes=24, failures=14, infra_excluded=1,
                                            clusters=[_cluster("c1", "premature_completion", "missing_artifact", 6,
                                                               ["t1", "t2", "t3"], True),
                                                      _cluster("c2", "state_lost_between_commands", "wrong_output",
                                                               4, ["t2", "t4"], True),
                                                      _cluster("c3", "capability_limit", "wrong_output", 3, ["t5"],
                                                               False)]))
    _write(r1 / "proposals.json", {"proposals": [
        _proposal("r1-p1", 1, AddRule(section="verification", text=RULE), "c1",
                  "The agent stops before writing the artifact.", h1.id),
        _proposal("r1-p2", 1, EnableMiddleware(name="persistent_shell"), "c2",
                  "cd/export are lost between commands.", c2.id)], "refusals": [], "raw": "{}"})
    _write(r1 / "ab" / "r1-p1.json", ABResult(
        proposal_id="r1-p1", candidate_id=h1.id, parent_id=h0.id, accepted=True, reason="train +3, val +2",
        episodes=88, splits={"train": _split("train", 24, 3, -0.04, 0.29, 0.25),
                             "val": _split("val", 20, 2, -0.05, 0.25, 0.5)}))
    _write(r1 / "ab" / "r1-p2.json", ABResult(
        proposal_id="r1-p2", candidate_id=c2.id, parent_id=h0.id, accepted=False, reason="val regressed (-2)",
        episodes=88, splits={"train": _split("train", 24, 1, -0.08, 0.17, 1.0),
                             "val": _split("val", 20, -2, -0.25, 0.05, 0.5)}))
    _write(r1 / "decision.json", Decision(round=1, parent_id=h0.id, promoted_id=h1.id, accepted=["r1-p1"],
                                          rejected=["r1-p2"], reason="one accepted proposal; no merge needed"))
    _write(r1 / "round.json", RoundRecord(round=1, harness_id=h0.id, train=score("train", h0.id, 10, 24),
                                          val=score("val", h0.id, 8, 20), clusters=3, eligible_clusters=2,
                                          proposals=2, refused=0, accepted=1, promoted_id=h1.id, episodes=220))
    _write(r2 / "mining.json", MiningReport(round=2, harness_id=h1.id, episodes=24, failures=11, infra_excluded=0,
                                            clusters=[_cluster("c4", "turn_limit_exploration", "turn_limit", 5,
                                                               ["t3", "t6"], True),
                                                      _cluster("c5", "capability_limit", "wrong_output", 3, ["t5"],
                                                               False)]))
    _write(r2 / "proposals.json", {"proposals": [
        _proposal("r2-p3", 2, SetRuntime(key="max_turns", value=60), "c4",
                  "More turns let exploration finish.", c3.id)],
        "refusals": [Refusal(round=2, index=1, reason=REFUSAL, raw='{"surface": "tests"}')], "raw": "{}"})
    _write(r2 / "ab" / "r2-p3.json", ABResult(
        proposal_id="r2-p3", candidate_id=c3.id, parent_id=h1.id, accepted=False,
        reason="stopped early: cannot reach delta >= 0", stopped_early=True, episodes=30,
        splits={"train": _split("train", 24, -4, -0.5, -0.05, 0.06, evaluated=10)}))
    _write(r2 / "decision.json", Decision(round=2, parent_id=h1.id, promoted_id=h1.id, accepted=[],
                                          rejected=["r2-p3"], reason="nothing accepted"))
    _write(r2 / "round.json", RoundRecord(round=2, harness_id=h1.id, train=score("train", h1.id, 13, 24),
                                          val=score("val", h1.id, 10, 20), clusters=2, eligible_clusters=1,
                                          proposals=1, refused=1, accepted=0, promoted_id=h1.id, episodes=78,
                                          stopped="no accepted proposal"))
    _write(root / "final.json", FinalReport(
        initial_id=h0.id, final_id=h1.id, initial=score("test", h0.id, 9, 22), final=score("test", h1.id, 13, 22),
        paired=_split("test", 22, 4, 0.0455, 0.3182, 0.125)))
    return {"h0": h0, "h1": h1, "c2": c2}


def test_full_report(tmp_path):
    hs = make_run(tmp_path)
    md, page = write_report(tmp_path)
    assert md == tmp_path / "report.md" and page == tmp_path / "report.html"
    text, doc = md.read_text(), page.read_text()
    for name in ("pass_rate", "clusters", "deltas", "outcomes"):
        assert (tmp_path / "report" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"](report/{name}.png)" in text
    # self-contained HTML: embedded plots, no external assets or scripts
    assert doc.count("data:image/png;base64,") == 4
    assert "<script" not in doc and "src='http" not in doc and "<link" not in doc
    # header
    assert "minimax" in text and "sim/minimax" in doc and "core" in text
    assert hs["h0"].id in text and hs["h1"].id in text
    assert "not finished" not in text
    # candidate rows, with deltas, decisions and the stopped-early candidate
    for pid in ("r1-p1", "r1-p2", "r2-p3"):
        assert f"<td>{pid}</td>" in doc
    assert "+12.5 pp (+3/24) [+4.0, +29.0]" not in text  # the CI is the stored one, not recomputed
    assert "+12.5 pp (+3/24) [-4.0, +29.0] p=0.25" in text
    assert "-40.0 pp (-4/10)" in text  # stopped early: delta over the evaluated pairs
    assert "accepted (" not in text and "accepted → promoted: train +3, val +2" in text
    assert "| stopped early: cannot reach delta >= 0 |" in text
    assert "The agent stops before writing the artifact." in doc
    # refusal, final test numbers, diff of the edit
    assert html.escape(REFUSAL) in doc and REFUSAL in text
    assert "40.9% (9/22)" in text and "59.1% (13/22)" in text
    assert "+18.2 pp (+4/22) [+4.5, +31.8] p=0.125" in text
    line = diff(hs["h0"], hs["h1"])
    assert line.startswith("prompt.verification: + rule") and line in text and html.escape(line) in doc
    assert f"+    - {RULE}" in text and "<details><summary>Full YAML diff</summary>" in doc
    # lineage: the promoted chain, not the rejected candidates
    assert "2 other (candidate or merge) version(s)" in text
    assert "Verifier tampering" not in text and "**verifier tampering**: none" in text


def test_report_of_unfinished_run(tmp_path):
    (tmp_path / "config.yaml").write_text("suite: core\nmodel:\n  kind: sim\n  profile: qwen\n")
    h0 = load_harness(MINIMAL)
    save_harness(h0, tmp_path / "harnesses" / f"{h0.id}.yaml")
    _write(tmp_path / "rounds" / "1" / "mining.json",
           MiningReport(round=1, harness_id=h0.id, episodes=10, failures=6, infra_excluded=0,
                        clusters=[_cluster("c1", "premature_completion", "missing_artifact", 4, ["t1", "t2"], True)]))
    (tmp_path / "rounds" / "1" / "decision.json").write_text("{not json")
    md, page = write_report(tmp_path)
    text, doc = md.read_text(), page.read_text()
    assert "the run has not finished" in text and "the run has not finished" in doc
    assert "rounds/1/round.json: missing" in text and "rounds/1/decision.json: unreadable" in text
    assert "qwen" in text and h0.id in text
    assert "data:image/png;base64," in doc  # the cluster plot still renders


def test_empty_run_dir_and_cli(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 0
    out = capsys.readouterr().out.split()
    assert out == [str(tmp_path / "report.md"), str(tmp_path / "report.html")]
    assert "config.yaml: missing" in (tmp_path / "report.md").read_text()
    assert main(["report", str(tmp_path / "nope")]) == 2


def test_html_escapes_record_text(tmp_path):
    make_run(tmp_path)
    path = tmp_path / "rounds" / "2" / "proposals.json"
    data = json.loads(path.read_text())
    data["refusals"][0]["reason"] = "<script>alert(1)</script>"
    path.write_text(json.dumps(data))
    doc = write_report(tmp_path)[1].read_text()
    assert "<script>" not in doc and "&lt;script&gt;alert(1)&lt;/script&gt;" in doc


def _episode(root: Path, harness: str, split: str, task: str, *tampering: Tampering) -> str:
    t = Trace(task=task, harness_id=harness, model="sim/minimax", attempt=0, seed=0, split=split, reward=1.0,
              tampering=list(tampering), verifier_output="ok")
    save_trace(t, root / "traces" / harness / split)
    with open(root / "episodes.jsonl", "a") as f:  # as the evaluator logs it
        f.write(json.dumps({"group": f"{harness}/{split}", "episode_id": t.episode_id, "passed": t.passed,
                            "infra": False, "tampered": bool(t.tampering)}) + "\n")
    return t.episode_id


def test_tampering_is_counted_per_round_and_candidate_and_listed(tmp_path):
    hs = make_run(tmp_path)
    h1, c2 = hs["h1"].id, hs["c2"].id
    planted = Tampering(path="/logs/verifier/reward.txt", change="planted", detail="<b>file of 2 bytes</b>")
    changed = Tampering(path="/tests/test.sh", change="changed", detail="was 120 bytes")
    first = _episode(tmp_path, h1, "train", "t1", planted)  # round 2's harness, round 1's accepted candidate
    _episode(tmp_path, h1, "train", "t2")  # honest: not counted
    _episode(tmp_path, h1, "test", "t3", planted)  # the sealed test: the final table, not the rounds
    second = _episode(tmp_path, c2, "val", "t4", planted, changed)
    _episode(tmp_path, c2, "val", "t5", changed)
    md, page = write_report(tmp_path)
    text, doc = md.read_text(), page.read_text()
    assert "**verifier tampering**: 4 episode(s): see Verifier tampering" in text
    # a round counts its harness's rollout and its candidates' validation (train and val, not the sealed test)
    assert f"| 1 | {h1} |  | 3 |" in text  # round 1: h0 none, its candidates h1 one and c2 two
    assert "| 0 | (none) | no accepted proposal | 1 |" in text  # round 2: h1 one, its candidate c3 none
    assert "| 88 | no | 1 |" in text and "| 88 | no | 2 |" in text and "| 30 | yes | 0 |" in text  # p1, p2, p3
    assert f"| final | {h1} | 59.1% (13/22) | [38.7%, 76.7%] | 0 | 1 |" in text
    section = text.split("## Verifier tampering", 1)[1].split("\n## ", 1)[0]
    assert f"| {first} | train | /logs/verifier/reward.txt | planted | <b>file of 2 bytes</b> |" in section
    assert f"| {second} | val | /tests/test.sh | changed | was 120 bytes |" in section
    assert section.count("| planted |") == 3 and section.count("| changed |") == 2
    assert "<b>file" not in doc and "&lt;b&gt;file of 2 bytes&lt;/b&gt;" in doc


@pytest.mark.parametrize("k,n", [(0, 10), (5, 10), (10, 10), (1, 3)])
def test_wilson_contains_the_rate(k, n):
    lo, hi = wilson(k, n)
    assert 0 <= lo <= k / n <= hi <= 1 and hi - lo > 0
