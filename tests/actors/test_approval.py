"""The approval policy: nothing is promoted without a person when approval is required; a verdict
is recorded with who and when; a rejected edit is not proposed again."""

from __future__ import annotations

import json
import threading
import time

import msgspec
import pytest

from actors.approvals import ApprovalConfig, ApprovalError, ApprovalStore, needs_approval
from actors.model.config import SimModelConfig
from cluster.config import RunConfig
from cluster.loop import open_run, run_loop_bare
from tests.conftest import needs_bwrap

SMALL = dict(limit=6, attempts=2, rounds=2, k=3, concurrency=4, progress=False, model=SimModelConfig(profile="glm"))


def test_which_surfaces_need_a_person():
    auto = ApprovalConfig(always=("hooks", "tools"))
    assert needs_approval(auto, ["hooks"]) and needs_approval(auto, ["middleware+tools"])
    assert not needs_approval(auto, ["prompt.system", "middleware"])
    required = ApprovalConfig(mode="required", exempt=("prompt.*",))
    assert not needs_approval(required, ["prompt.execution"])
    assert needs_approval(required, ["prompt.execution", "runtime"]) and needs_approval(required, ["middleware"])
    assert not needs_approval(ApprovalConfig(), ["hooks"])


def test_bad_verdicts_are_refused_and_change_nothing(tmp_path):
    store = ApprovalStore(tmp_path)
    for args, field in [(("../r1p1", "approve", "me"), "proposal id"), (("r1p1", "maybe", "me"), "verdict"),
                        (("r1p1", "approve", ""), "by"), (("r1p1", "approve", "me", "x" * 5000), "comment")]:
        with pytest.raises(ApprovalError, match=field):
            store.record(*args)
    assert not (tmp_path / "approvals.jsonl").exists()
    store.record("r1p1", "reject", "cli:ann", "too broad")
    store.record("r1p1", "approve", "cli:bob")
    assert store.verdict_on(["r1p1"])[0] == "approve"  # the last word counts
    assert store.verdict_on(["r1p1", "r1p2"])[0] == "waiting"


def decisions(root):
    return {int(d.name): json.loads((d / "decision.json").read_text()) for d in (root / "rounds").iterdir()
            if (d / "decision.json").exists()}


@needs_bwrap
def test_required_approval_promotes_nothing_on_its_own(tmp_path):
    cfg = RunConfig(**SMALL, approval=ApprovalConfig(mode="required", while_waiting="continue"))
    report = run_loop_bare(cfg, open_run(cfg, str(tmp_path)))
    decided = decisions(tmp_path)
    waited = [d for d in decided.values() if d["approval"] == "awaiting approval"]
    assert waited, "some round had a validated winner"
    assert all(d["promoted_id"] == d["parent_id"] for d in decided.values())
    assert report.final_id == report.initial_id
    for d in waited:
        assert (tmp_path / "rounds" / str(d["round"]) / "pending.json").exists() and d["decided_by"] == "approval policy"
    assert len(ApprovalStore(tmp_path).pending()) == len(waited)


@needs_bwrap
@pytest.mark.parametrize("verdict", ["approve", "reject"])
def test_a_person_decides_and_the_run_follows(tmp_path, verdict):
    cfg = RunConfig(**SMALL, approval=ApprovalConfig(mode="required", poll_s=0.2, wait_timeout_s=600))
    store = open_run(cfg, str(tmp_path))
    result = {}
    runner = threading.Thread(target=lambda: result.setdefault("report", run_loop_bare(cfg, store)), daemon=True)
    runner.start()
    approvals, seen = ApprovalStore(tmp_path), []
    while runner.is_alive():
        for p in approvals.pending():
            assert not (tmp_path / "rounds" / str(p.round) / "decision.json").exists(), "decided before a verdict"
            state = json.loads((tmp_path / "state.json").read_text())
            assert state["phase"] == "approval" and state["harness_id"] == p.parent_id
            for pid in p.proposals:
                approvals.record(pid, verdict, "cli:tester", f"{verdict} in a test")
            seen.append(p)
        time.sleep(0.2)
    runner.join()
    assert seen, "a winner waited for the person"
    first, decided = seen[0], decisions(tmp_path)
    d = decided[first.round]
    assert d["decided_by"] == "cli:tester" and d["decided_at"]
    if verdict == "approve":
        assert d["promoted_id"] == first.candidate_id and d["approval"] == "approved"
        assert "approved by cli:tester" in d["reason"]
        return
    assert d["promoted_id"] == d["parent_id"] == first.parent_id and d["approval"] == "rejected"
    assert "rejected by cli:tester: reject in a test" in d["reason"]
    def proposals(r):
        path = tmp_path / "rounds" / str(r) / "proposals.json"
        return msgspec.json.decode(path.read_bytes())["proposals"] if path.exists() else []

    said_no = {p["candidate_id"] for p in proposals(first.round) if p["id"] in first.proposals}
    assert said_no and not said_no & {p["candidate_id"] for r in decided if r > first.round for p in proposals(r)}
    from actors.controller import Controller

    ctl = Controller.__new__(Controller)  # what a person rejected is in the proposer's memory
    ctl.store, ctl.approvals = store, approvals
    history, rejected = Controller.history(ctl, cfg.rounds + 1)
    assert said_no <= rejected
    assert all(h.outcome == "rejected by cli:tester" for h in history if h.proposal_id in first.proposals)
