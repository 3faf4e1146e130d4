"""Shared fixtures: the fixture suite, sim profiles with one quirk at a time, the local sandbox."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from actors.model.sim import QUIRKS, Profile, Quirk, SimModel
from harnesses.spec import load_harness
from harnesses.tasks import load_suite

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_SUITE = ROOT / "tests" / "fixtures" / "suite"
CORE_SUITE = ROOT / "benchmarks" / "suites" / "core"

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")


def only(quirk: str | None, rate: float = 1.0) -> Profile:
    """A profile whose only failure is `quirk` (None: a flawless model)."""
    quirks = {q: Quirk(rate=rate if q == quirk else 0.0) for q in QUIRKS}
    return Profile(name=f"only-{quirk}", quirks=quirks, explore_turns=(40, 40), capability={})


@pytest.fixture(scope="session")
def fixture_suite():
    return load_suite(FIXTURE_SUITE)


@pytest.fixture(scope="session")
def word_task(fixture_suite):
    return fixture_suite.tasks["word-report"]


@pytest.fixture(scope="session")
def minimal():
    return load_harness(ROOT / "harnesses" / "minimal.yaml")


@pytest.fixture()
def backend():
    from actors.sandbox.local import LocalSandboxBackend

    return LocalSandboxBackend()


def sim(quirk: str | None, tasks, rate: float = 1.0) -> SimModel:
    return SimModel(only(quirk, rate), list(tasks))
