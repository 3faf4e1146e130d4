"""The loop end to end in one process (no Ray): determinism, train-only briefs, racing that
never changes a decision, and clean ends for nothing-to-fix and a garbage proposer."""

from __future__ import annotations

import json

import msgspec
import pytest

from actors.model.config import SimModelConfig
from actors.model.roles import PROPOSER_ROLE
from cluster.config import RunConfig
from cluster.loop import load_splits, open_run, run_loop_bare
from harnesses.model import ModelReply
from tests.conftest import needs_bwrap

pytestmark = needs_bwrap

SMALL = dict(limit=6, attempts=2, rounds=2, k=3, concurrency=4, progress=False)


def small(**kw) -> RunConfig:
    return RunConfig(**{**SMALL, "model": SimModelConfig(profile="glm"), **kw})


def decisions(root):
    out = []
    for d in sorted((root / "rounds").iterdir()):
        dec = json.loads((d / "decision.json").read_text())
        out.append((dec["parent_id"], dec["promoted_id"], sorted(dec["accepted"]), dec["reason"]))
    return out


@pytest.fixture(scope="module")
def glm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("glm")
    report = run_loop_bare(small(), open_run(small(), str(root)))
    return root, report


def test_same_seed_same_decisions(glm_run, tmp_path):
    root, report = glm_run
    again = run_loop_bare(small(), open_run(small(), str(tmp_path)))
    assert decisions(root) == decisions(tmp_path)
    assert again.final_id == report.final_id and again.final.passed == report.final.passed
    assert decisions(root), "the run made decisions"


def test_the_brief_sees_train_only(glm_run):
    root, _ = glm_run
    splits = load_splits(small())
    others = {t.name for s in ("val", "test") for t in splits[s]}
    for brief_file in (root / "rounds").glob("*/brief.json"):
        brief = json.loads(brief_file.read_text())
        assert set(brief["tasks"]) <= {t.name for t in splits["train"]}
        text = brief_file.read_text()
        leaked = [name for name in others if name in text]
        assert not leaked, f"{brief_file} mentions val/test tasks {leaked}"


def test_accepted_proposals_pass_the_rule_on_both_splits(glm_run):
    root, report = glm_run
    for ab_file in (root / "rounds").glob("*/ab/*.json"):
        ab = json.loads(ab_file.read_text())
        if ab["accepted"]:
            t, v = ab["splits"]["train"]["delta"], ab["splits"]["val"]["delta"]
            assert t >= 0 and v >= 0 and max(t, v) > 0
    assert (root / "final.json").exists() and report.final.episodes == report.initial.episodes


def test_racing_never_changes_a_decision_and_saves_episodes(glm_run, tmp_path):
    root, _ = glm_run
    cfg = small(acceptance={"racing": False})
    cfg = msgspec.convert(msgspec.to_builtins(cfg), RunConfig)
    run_loop_bare(cfg, open_run(cfg, str(tmp_path)))
    assert [d[:3] for d in decisions(root)] == [d[:3] for d in decisions(tmp_path)]
    count = lambda r: sum(1 for _ in open(r / "episodes.jsonl"))  # noqa: E731
    assert count(root) < count(tmp_path)


def test_nothing_to_fix_stops_and_says_so(tmp_path):
    flawless = tmp_path / "flawless.yaml"
    flawless.write_text("name: flawless\nquirks: {}\ncapability: {}\n")
    cfg = small(model=SimModelConfig(profile=str(flawless)), rounds=3)
    report = run_loop_bare(cfg, open_run(cfg, str(tmp_path / "run")))
    rec = json.loads((tmp_path / "run" / "rounds" / "1" / "round.json").read_text())
    assert "nothing to fix" in rec["stopped"]
    assert not (tmp_path / "run" / "rounds" / "2").exists()
    assert report.final_id == report.initial_id


def test_a_garbage_proposer_ends_cleanly(tmp_path, monkeypatch):
    from actors.model import sim

    real = sim.SimModel.complete

    def garbage_when_proposing(self, request):
        if PROPOSER_ROLE in request.messages[0].content:
            return ModelReply(text="\x00\x01 <<<not json>>> {{{", model=self.name)
        return real(self, request)

    monkeypatch.setattr(sim.SimModel, "complete", garbage_when_proposing)
    cfg = small(rounds=2)
    report = run_loop_bare(cfg, open_run(cfg, str(tmp_path)))
    props = json.loads((tmp_path / "rounds" / "1" / "proposals.json").read_text())
    assert props["proposals"] == [] and "not a JSON object" in props["refusals"][0]["reason"]
    dec = json.loads((tmp_path / "rounds" / "1" / "decision.json").read_text())
    assert dec["promoted_id"] == dec["parent_id"] and dec["reason"] == "no valid proposal"
    assert report.final_id == report.initial_id


def test_the_same_episode_asked_twice_runs_once(tmp_path, minimal, word_task):
    from actors.evaluator import Evaluator
    from actors.run_dir import RunStore

    calls = []

    def run_batch(jobs, on_trace, desc, recorded=lambda i: False):
        from harnesses.trace import Trace

        out = []
        for i, (spec, harness) in enumerate(jobs):
            calls.append(spec)
            t = Trace(task=spec.task, harness_id=harness.id, model="m", attempt=spec.attempt, seed=spec.seed,
                      split=spec.split, reward=1.0)
            on_trace(i, t)
            out.append(t)
        return out

    ev = Evaluator(RunStore(tmp_path), run_batch, {"test": [word_task]}, attempts=2, seed=0)
    a, b = ev.evaluate([(minimal, ev.specs("test")), (minimal, ev.specs("test"))])
    assert len(calls) == 2 and a.keys() == b.keys() and len(a) == 2
    again = ev.evaluate_one(minimal, "test")
    assert len(calls) == 2 and again.keys() == a.keys()  # from disk
    assert sum(1 for _ in open(tmp_path / "episodes.jsonl")) == 2
