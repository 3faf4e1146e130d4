"""`selfharness export`, `lineage`, `approve` and `reject`: what a reviewer gets without the tool, and
verdicts from the command line (the same checks as the review app)."""

from __future__ import annotations

import json

import msgspec

from actors.records import Decision
from cluster.cli import main
from cluster.export import export
from harnesses.spec import load_harness, save_harness
from tests.serve.review_fixture import RULE, make_waiting_run, snapshot


def test_export_writes_a_standalone_harness_and_the_evidence(tmp_path):
    hs = make_waiting_run(tmp_path)
    harness, evidence = export(tmp_path, tmp_path / "out")
    assert load_harness(harness).id == hs["h1"].id  # the current harness: round 2 still waits
    text = evidence.read_text()
    assert text.startswith(f"# Evidence for harness minimal@{hs['h1'].id}")
    assert "NO: the run has not finished" in text and "None: the run has not finished." in text
    for needle in (f"### Round 1: {hs['h0'].id} → {hs['h1'].id}", "#### Proposal r1p1 (prompt.verification)",
                   "It stops before writing.", "c1: premature_completion / missing_artifact, 2 failures on 2 tasks",
                   f'prompt.verification: + rule "{RULE}"', f"+    - {RULE}",
                   "| r1p1 | prompt.verification | accepted | +33.3 pp (+2/6) [+0.0, +50.0] p=0.5 |",
                   "| r1p2 | middleware | rejected |", "decided by**: rule", "best single proposal r1p1"):
        assert needle in text, needle


def test_export_after_an_approval_names_who_decided(tmp_path, capsys):
    hs = make_waiting_run(tmp_path)
    assert main(["approve", str(tmp_path), "r2p1", "--comment", "looks right", "--by", "cli:ann"]) == 0
    assert "approved r2p1 (by cli:ann" in capsys.readouterr().out
    # what the controller then writes (actors/controller.py): the winner promoted, decided by the person
    w = hs["winner"]
    save_harness(w, tmp_path / "harnesses" / f"{w.id}.yaml")
    (tmp_path / "rounds" / "2" / "decision.json").write_bytes(msgspec.json.encode(Decision(
        round=2, parent_id=hs["h1"].id, promoted_id=w.id, accepted=["r2p1"], rejected=["r2p2"], merged=["r2p1"],
        reason="best single proposal r2p1; approved by cli:ann", decided_by="cli:ann",
        decided_at="2026-11-24T09:05:00+00:00", approval="approved")))
    assert main(["export", str(tmp_path), "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "out" / "final-harness.yaml"),
                                               str(tmp_path / "out" / "evidence.md")]
    assert load_harness(tmp_path / "out" / "final-harness.yaml").id == w.id
    text = (tmp_path / "out" / "evidence.md").read_text()
    assert "**decided by**: cli:ann" in text and "**approval**: approved" in text
    assert "**verdict**: approve by cli:ann at" in text and ": looks right" in text
    assert main(["lineage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"| 2 | {w.id} | {hs['h1'].id} | 2 | r2p1 | cli:ann |" in out
    assert "middleware: + artifact_check {}" in out


def test_cli_verdicts_are_checked_like_the_apps(tmp_path, capsys):
    make_waiting_run(tmp_path)
    before = snapshot(tmp_path)
    for argv, words in ((["approve", str(tmp_path), "../r2p1"], "proposal id"),
                        (["approve", str(tmp_path), "r2p9"], "no such proposal"),
                        (["reject", str(tmp_path), "r1p2"], "nothing waits"),
                        (["approve", str(tmp_path), "r2p1", "--comment", "x" * 2001], "at most 2000"),
                        (["approve", str(tmp_path / "nope"), "r2p1"], "not a run directory"),
                        (["lineage", str(tmp_path / "nope")], "not a run directory")):
        assert main(argv) == 2, argv
        assert words in capsys.readouterr().err, argv
    assert snapshot(tmp_path) == before
    assert main(["reject", str(tmp_path), "r2p1", "--comment", "too broad"]) == 0
    line = json.loads((tmp_path / "approvals.jsonl").read_text())
    assert line["verdict"] == "reject" and line["by"].startswith("cli:") and line["comment"] == "too broad"


def test_a_winner_adopted_later_is_in_the_lineage(tmp_path, capsys):
    """`while_waiting: continue`: round 2 kept its parent while waiting; round 3 started from the winner."""
    hs = make_waiting_run(tmp_path)
    w, h1 = hs["winner"], hs["h1"]
    (tmp_path / "rounds" / "2" / "decision.json").write_bytes(msgspec.json.encode(Decision(
        round=2, parent_id=h1.id, promoted_id=h1.id, accepted=["r2p1"], rejected=["r2p2"], merged=["r2p1"],
        reason="best single proposal r2p1; awaiting approval", decided_by="approval policy",
        approval="awaiting approval")))
    assert main(["approve", str(tmp_path), "r2p1", "--by", "cli:bob"]) == 0  # still waits: a verdict counts
    save_harness(w, tmp_path / "harnesses" / f"{w.id}.yaml")
    (tmp_path / "rounds" / "3").mkdir()
    (tmp_path / "rounds" / "3" / "adopted.json").write_text(json.dumps(
        {"candidate_id": w.id, "from_round": 2, "proposals": ["r2p1"], "approved_by": "cli:bob",
         "at": "2026-11-24T09:30:00+00:00"}))
    capsys.readouterr()
    assert main(["lineage", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"| 2 | {w.id} | {h1.id} | 2 | r2p1 | cli:bob |" in out
    assert "Adopted at the start of round 3, approved by cli:bob" in out
