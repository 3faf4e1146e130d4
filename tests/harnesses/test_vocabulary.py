"""One vocabulary: the sim, the miner, outcome, the metrics and the controller use the same words,
and episode ids are built and read in one place."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from actors import metrics
from actors.mining.mechanisms import DESCRIPTIONS
from actors.mining.signatures import extract
from actors.model import sim, sim_proposer
from harnesses.outcome import failure_cause, families, terminal_cause
from harnesses.trace import CommandRecord, Trace
from harnesses.vocabulary import (DETECTED_ONLY, FAMILIES, FAMILY_MECHANISM, MECHANISMS, SPLITS, STAGES, EpisodeKey,
                                  episode_id, parse_episode_id)

ROOT = Path(__file__).resolve().parents[2]


def test_episode_ids_round_trip_and_refuse_garbage():
    eid = episode_id("a__b-task", "9ea93e86000a", 1, 17)
    assert eid == "a__b-task__9ea93e86000a__a1__s17"
    assert parse_episode_id(eid) == EpisodeKey("a__b-task", "9ea93e86000a", 1, 17)
    assert Trace(task="t", harness_id="h", model="m", attempt=2, seed=3).episode_id == episode_id("t", "h", 2, 3)
    for bad in ("t__h__1__2", "t__h__ax__s1", "nothing", "t__h__a1"):
        with pytest.raises(ValueError, match="not an episode id"):
            parse_episode_id(bad)


def test_the_sim_fails_by_the_families_and_the_miner_names_their_mechanisms():
    assert sim.QUIRKS == FAMILIES
    for profile in (ROOT / "actors/model/profiles").glob("*.yaml"):
        assert set(yaml.safe_load(profile.read_text())["quirks"]) <= set(FAMILIES), profile.name
    assert set(FAMILY_MECHANISM) == set(FAMILIES) and set(FAMILY_MECHANISM.values()) <= set(MECHANISMS)
    assert set(sim_proposer.FIXES) <= {m for m, v in MECHANISMS.items() if v.actionable}
    assert set(DESCRIPTIONS) == set(MECHANISMS) - DETECTED_ONLY


def test_the_controller_and_the_metrics_use_the_stages():
    assert metrics.STAGES is STAGES
    source = "".join((ROOT / "actors" / f).read_text() for f in ("controller.py", "approval_gate.py"))
    assert set(re.findall(r'phase="(\w+)"', source)) == set(STAGES)


def test_outcome_and_the_miner_read_a_trace_alike():
    """The drift this module ends: `source` is a state command for both, and a verifier's 'not found'
    is a missing artifact for both."""
    t = Trace(task="t", harness_id="h", model="m", attempt=0, seed=0, completed=True, stop_reason="completed",
              reward=0.0, verifier_output="FAIL: /app/out.txt not found")
    t.commands = [CommandRecord(turn=0, command="source venv/bin/activate", exit_code=0, output=""),
                  CommandRecord(turn=0, command="pytest", exit_code=1, output="no module")]
    assert "split_state" in families(t)
    assert terminal_cause(t) == failure_cause(t) == "missing_artifact"
    assert extract(t).mechanism == "state_lost_between_commands"


def test_no_module_spells_the_splits_or_the_episode_id_itself():
    """The literals live in harnesses/vocabulary.py only."""
    found = []
    for package in ("harnesses", "actors", "cluster", "serve"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "vocabulary.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Tuple) and [getattr(e, "value", None) for e in node.elts] in (
                        ["train", "val", "test"], ["train", "val"]):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} a split tuple")
                if isinstance(node, ast.JoinedStr) and any(isinstance(v, ast.Constant) and v.value == "__a"
                                                           for v in node.values):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} builds an episode id")
            if 'rsplit("__"' in path.read_text():
                found.append(f"{path.relative_to(ROOT)}: parses an episode id")
    assert found == []
