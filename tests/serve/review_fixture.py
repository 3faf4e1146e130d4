"""A run directory stopped where a person is needed: round 1 promoted by the rule, round 2's winner
waiting for a verdict (one of its failed train episodes tampered with the verifier). Written from the
loop's own typed records, so the review app and the export read exactly what a real run leaves
behind (the browser test uses a real run)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from actors.records import Pending
from actors.records import (ABResult, Audit, Cluster, Decision, Failure, MiningReport, Proposal, RoundRecord,
                            Signature, SplitResult, SplitScore)
from harnesses.edits import AddRule, EnableMiddleware, SetRuntime, apply, encode_edits
from harnesses.spec import diff, load_harness, save_harness
from harnesses.trace import CommandRecord, MiddlewareEvent, Tampering, Trace, Turn, save_trace

MINIMAL = Path(__file__).resolve().parents[2] / "harnesses" / "minimal.yaml"
RULE = "Write the required output file before you declare the task complete."
TASKS = ("alpha-task", "beta-task", "gamma-task")
PLANTED = Tampering(path="/logs/verifier/reward.txt", change="planted", detail="file of 2 bytes, mode 644")


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.encode(obj))


def _split(split: str, pairs: int, delta: int, lo: float, hi: float, p: float) -> SplitResult:
    return SplitResult(split=split, pairs=pairs, evaluated=pairs, parent_passed=2, candidate_passed=2 + delta,
                       gains=max(delta, 0), losses=max(-delta, 0), delta=delta, ci_low=lo, ci_high=hi, p_value=p)


def _proposal(pid: str, rnd: int, edit, cluster: str, hypothesis: str, cand: str) -> Proposal:
    return Proposal(id=pid, round=rnd, surface=edit.surface, edits=json.loads(encode_edits([edit])), candidate_id=cand,
                    audit=Audit(target_cluster=cluster, hypothesis=hypothesis, expected_effect="fewer failures",
                                regression_risk="low"))


def _trace(task: str, harness: str, split: str, attempt: int, passed: bool, tampered: bool = False) -> Trace:
    """An episode; a tampered one planted a reward, which never makes it a pass."""
    events = [MiddlewareEvent(turn=1, name="artifact_check", kind="reject_completion",
                              message="/app/out.txt does not exist yet")]
    if tampered:
        events += [MiddlewareEvent(turn=-1, name="verifier", kind="note",
                                   message="stopped 1 process before the verifier"),
                   MiddlewareEvent(turn=-1, name="verifier", kind="tampering",
                                   message=f"the agent left changes where the verifier lives: {PLANTED.path}")]
    return Trace(task=task, harness_id=harness, model="sim/glm", attempt=attempt, seed=attempt, split=split,
                 turns=[Turn(index=0, raw='{"commands": [{"keystrokes": "ls /app"}]}', observation="Makefile"),
                        Turn(index=1, raw='{"task_complete": true}')],
                 commands=[CommandRecord(turn=0, command="ls /app", exit_code=0, output="Makefile\nmain.c")],
                 events=events, completed=True, stop_reason="completed",
                 reward=1.0 if passed or tampered else 0.0, tampering=[PLANTED] if tampered else [],
                 verifier_output="ok" if passed or tampered else "AssertionError: /app/out.txt missing")


def make_waiting_run(root: Path) -> dict:
    h0 = load_harness(MINIMAL)
    h1 = apply(h0, AddRule(section="verification", text=RULE))
    c2 = apply(h0, EnableMiddleware(name="persistent_shell"))
    w = apply(h1, EnableMiddleware(name="artifact_check"))  # round 2's winner, waiting
    c4 = apply(h1, SetRuntime(key="max_turns", value=60))
    for h in (h0, h1):
        save_harness(h, root / "harnesses" / f"{h.id}.yaml")
    (root / "config.yaml").write_text("suite: core\nrounds: 3\nlimit: 3\nattempts: 2\n"
                                      "model:\n  kind: sim\n  profile: glm\n")
    _write(root / "state.json", {"round": 2, "phase": "approval", "harness_id": h1.id, "pending": ["r2p1"]})
    with open(root / "lineage.jsonl", "w") as f:
        for h, parent, rnd, props in ((h0, None, 0, []), (h1, h0, 1, ["r1p1"])):
            f.write(json.dumps({"id": h.id, "parent": parent and parent.id, "round": rnd, "proposals": props,
                                "diff": diff(parent, h) if parent else ""}) + "\n")
    episodes = []
    for harness, split, outcomes in ((h0.id, "train", (0, 1, 0, 0, 1, 0)), (h1.id, "train", (1, 1, 0, 1, 1, 0)),
                                     (w.id, "train", (1, 1, 1, 1, 1, 0)), (h1.id, "val", (1, 0, 1, 0, 1, 1)),
                                     (w.id, "val", (1, 1, 1, 0, 1, 1))):
        for i, ok in enumerate(outcomes):
            t = _trace(TASKS[i % 3], harness, split, i // 3, bool(ok), tampered=(harness, split, i) == (w.id, "train", 5))
            save_trace(t, root / "traces" / harness / split)
            episodes.append({"group": f"{harness}/{split}", "episode_id": t.episode_id, "passed": t.passed,
                             "infra": False, "tampered": bool(t.tampering)})
    with open(root / "episodes.jsonl", "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in episodes)

    def score(split, hid, passed, n):
        return SplitScore(split=split, harness_id=hid, passed=passed, episodes=n)

    failed = f"alpha-task__{h0.id}__a0__s0"
    sig = Signature(terminal_cause="missing_artifact", criticality="root_cause", mechanism="premature_completion",
                    actionable=True, evidence="declared complete; /app/out.txt missing")
    cluster = Cluster(id="c1", mechanism="premature_completion", terminal_cause="missing_artifact", actionable=True,
                      failures=[failed, f"gamma-task__{h0.id}__a0__s0"], tasks=["alpha-task", "gamma-task"],
                      support=2, score=3.0, eligible=True,
                      examples=[Failure(episode_id=failed, task="alpha-task", round=1, signature=sig,
                                        excerpt="$ ls /app -> exit 0\n  Makefile")])
    r1, r2 = root / "rounds" / "1", root / "rounds" / "2"
    _write(r1 / "mining.json", MiningReport(round=1, harness_id=h0.id, episodes=6, failures=4, infra_excluded=0,
                                            clusters=[cluster]))
    _write(r1 / "proposals.json", {"proposals": [
        _proposal("r1p1", 1, AddRule(section="verification", text=RULE), "c1", "It stops before writing.", h1.id),
        _proposal("r1p2", 1, EnableMiddleware(name="persistent_shell"), "c1", "State is lost.", c2.id)],
        "refusals": [], "raw": "{}"})
    _write(r1 / "ab" / "r1p1.json", ABResult(proposal_id="r1p1", candidate_id=h1.id, parent_id=h0.id, accepted=True,
                                             reason="train +2, val +1", episodes=12,
                                             splits={"train": _split("train", 6, 2, 0.0, 0.5, 0.5),
                                                     "val": _split("val", 6, 1, 0.0, 0.33, 1.0)}))
    _write(r1 / "ab" / "r1p2.json", ABResult(proposal_id="r1p2", candidate_id=c2.id, parent_id=h0.id, accepted=False,
                                             reason="val regressed (-1)", episodes=12,
                                             splits={"train": _split("train", 6, 0, -0.17, 0.17, 1.0),
                                                     "val": _split("val", 6, -1, -0.33, 0.0, 1.0)}))
    _write(r1 / "decision.json", Decision(round=1, parent_id=h0.id, promoted_id=h1.id, accepted=["r1p1"],
                                          rejected=["r1p2"], merged=["r1p1"], reason="best single proposal r1p1",
                                          decided_at="2026-11-24T09:00:00+00:00"))
    _write(r1 / "round.json", RoundRecord(round=1, harness_id=h0.id, train=score("train", h0.id, 2, 6),
                                          val=score("val", h0.id, 3, 6), clusters=1, eligible_clusters=1,
                                          proposals=2, accepted=1, promoted_id=h1.id, episodes=30))
    _write(r2 / "mining.json", MiningReport(round=2, harness_id=h1.id, episodes=6, failures=2, infra_excluded=0,
                                            clusters=[cluster]))
    _write(r2 / "proposals.json", {"proposals": [
        _proposal("r2p1", 2, EnableMiddleware(name="artifact_check"), "c1", "Check the artifact first.", w.id),
        _proposal("r2p2", 2, SetRuntime(key="max_turns", value=60), "c1", "More turns.", c4.id)],
        "refusals": [], "raw": "{}"})
    _write(r2 / "ab" / "r2p1.json", ABResult(proposal_id="r2p1", candidate_id=w.id, parent_id=h1.id, accepted=True,
                                             reason="train +1, val +1", episodes=12,
                                             splits={"train": _split("train", 6, 1, 0.0, 0.33, 1.0),
                                                     "val": _split("val", 6, 1, 0.0, 0.33, 1.0)}))
    _write(r2 / "ab" / "r2p2.json", ABResult(proposal_id="r2p2", candidate_id=c4.id, parent_id=h1.id,
                                             accepted=False, reason="stopped early", stopped_early=True, episodes=4,
                                             splits={"train": _split("train", 6, 0, 0.0, 0.0, 1.0)}))
    save_harness(w, r2 / "candidate.yaml")
    _write(r2 / "pending.json", Pending(round=2, parent_id=h1.id, candidate_id=w.id, proposals=["r2p1"],
                                        surfaces=["middleware"], reason="best single proposal r2p1",
                                        since="2026-11-24T09:01:00+00:00"))
    return {"h0": h0, "h1": h1, "winner": w, "failed": failed, "tampered": f"gamma-task__{w.id}__a1__s1"}


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root and its bytes: to show a refused request changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
