"""The A/A check (issue 13): each round of a run on a real model reruns the parent on its train and val pairs
with fresh seeds; the pairs that flip are the noise floor shown next to every delta, and with
`beyond_noise` a candidate's net gain must exceed it."""

from __future__ import annotations

import json

import msgspec
import pytest

from actors.model.config import LlamaCppModelConfig, SimModelConfig
from actors.records import NoiseFloor
from actors.run_dir import NOISE, RunStore
from actors.validator import AcceptanceConfig, Validator
from cluster.config import RunConfig
from cluster.loop import open_run, run_loop_bare
from harnesses.trace import load_trace
from harnesses.vocabulary import NOISE_SEED_OFFSET, noise_split
from tests.actors.test_racing import PARENT_FAILED, ScriptedEvaluator, candidate, gains, parent_traces
from tests.conftest import needs_bwrap

BEYOND = AcceptanceConfig(bootstrap_samples=100, racing=False, noise_check=True, beyond_noise=True)


def judged(minimal, fixed: int, config: AcceptanceConfig, noise: int | None):
    parents = parent_traces()
    cands = [candidate(minimal, 1)]
    script = gains("train", *PARENT_FAILED["train"][:fixed])
    validator = Validator(ScriptedEvaluator(parents, {cands[0].harness.id: script}), config)
    validator.noise = noise
    (ab,) = validator.validate(cands, minimal, parents)
    return ab


def test_a_gain_within_the_noise_floor_is_rejected_and_one_beyond_it_accepted(minimal):
    ab = judged(minimal, 3, BEYOND, noise=3)
    assert not ab.accepted and ab.noise == 3
    assert ab.reason == "train +3, val +0, but within noise: net +3 <= the 3 pair(s) the parent flipped against " \
                        "itself (A/A)"
    ab = judged(minimal, 4, BEYOND, noise=3)
    assert ab.accepted and ab.reason == "train +4, val +0, beyond the A/A noise floor (+4 > 3)"


def test_without_beyond_noise_the_paper_rule_decides_and_the_floor_is_still_shown(minimal):
    ab = judged(minimal, 1, msgspec.structs.replace(BEYOND, beyond_noise=False), noise=5)
    assert ab.accepted and ab.reason == "train +1, val +0" and ab.noise == 5


def test_with_racing_a_candidate_within_noise_does_not_settle_early(minimal):
    config = msgspec.structs.replace(BEYOND, racing=True)
    ab = judged(minimal, 8, config, noise=20)
    assert not ab.accepted and not ab.settled_early and "within noise" in ab.reason


@pytest.mark.parametrize("model, check, beyond", [(SimModelConfig(), False, False),
                                                  (LlamaCppModelConfig(gguf="smollm2-135m"), True, True)])
def test_the_check_is_on_by_default_for_a_real_model_only(model, check, beyond):
    acceptance = RunConfig(model=model).loop().acceptance
    assert (acceptance.noise_check, acceptance.beyond_noise) == (check, beyond)
    forced = RunConfig(model=model, acceptance=AcceptanceConfig(noise_check=True, beyond_noise=False)).loop()
    assert (forced.acceptance.noise_check, forced.acceptance.beyond_noise) == (True, False)
    with pytest.raises(ValueError, match="beyond_noise needs acceptance.noise_check"):
        RunConfig(model=model, acceptance=AcceptanceConfig(noise_check=False, beyond_noise=True)).loop()


@needs_bwrap
def test_a_run_measures_the_floor_from_real_reruns_and_a_resume_reuses_it(tmp_path):
    config = RunConfig(limit=6, attempts=2, rounds=1, k=2, concurrency=4, progress=False,
                       model=SimModelConfig(profile="glm"),
                       acceptance=AcceptanceConfig(noise_check=True, beyond_noise=True))
    store = open_run(config, str(tmp_path))
    run_loop_bare(config, store)
    floor = RunStore(tmp_path, create=False).read(NOISE, round=1)
    assert isinstance(floor, NoiseFloor)
    parent = floor.harness_id
    flips = 0
    for split in ("train", "val"):
        reruns = sorted((tmp_path / "traces" / parent / noise_split(split)).glob("*.json"))
        assert len(reruns) == floor.splits[split].pairs == floor.splits[split].evaluated > 0
        for path in reruns:
            again = load_trace(path)
            first = load_trace(tmp_path / "traces" / parent / split /
                               path.name.replace(f"__s{again.seed}", f"__s{again.seed - NOISE_SEED_OFFSET}"))
            assert (again.task, again.attempt) == (first.task, first.attempt) and again.split == noise_split(split)
            flips += again.passed != first.passed
    assert floor.flips == flips
    from serve.run_paths import trace_path  # the review app finds a rerun by its episode id

    assert trace_path(tmp_path, path.stem) == (path, noise_split("val"))
    for ab in (tmp_path / "rounds" / "1" / "ab").glob("*.json"):
        assert json.loads(ab.read_text())["noise"] == flips
    from cluster.report import write_report

    md = write_report(tmp_path)[0].read_text()
    assert f"Round 1 A/A check (the parent against itself, fresh seeds): {flips} pair(s) flipped" in md
    assert "| A/A noise |" in md
    assert "paper rule, racing; an A/A noise check each round, a net gain beyond it required" in md
    lines = (tmp_path / "episodes.jsonl").read_text().count("\n")
    run_loop_bare(config, open_run(config, str(tmp_path)))  # a resume reads the floor, reruns nothing
    assert (tmp_path / "episodes.jsonl").read_text().count("\n") == lines
