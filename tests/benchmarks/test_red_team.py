"""The red team (benchmarks/red_team.py): every forging attempt, through a hook and through the
agent's own commands, on the local backend and on kubernetes (the API double), leaves the verdict
as it was honestly and is recorded in every attacked episode's trace; the attempts on what the
verifier does not read change nothing.

Two tasks the sim passes and one it fails, so that a forgery could show on either kind.
"""

from __future__ import annotations

import pytest

from actors.model.sim import SimModel, load_profile
from benchmarks.red_team import ATTACKS, CHANNELS, NEUTRALIZED, format_rows, red_team
from harnesses.tasks import load_suite
from tests.conftest import CORE_SUITE, needs_bwrap

pytestmark = needs_bwrap
TASKS = ("c-wordcount-stdin", "config-sed-rewrite", "build-include-path")


@pytest.fixture(scope="module")
def suite():
    return load_suite(CORE_SUITE)


@pytest.fixture(scope="module")
def tasks(suite):
    return [suite.tasks[n] for n in TASKS]


def check(rows, backend: str) -> None:
    print("\n" + format_rows(rows))
    assert {(r.attack, r.channel) for r in rows} == {(a, c) for a in {**ATTACKS, **NEUTRALIZED} for c in CHANNELS}
    for r in rows:
        assert r.backend == backend and r.episodes == len(TASKS)
        assert r.honest == pytest.approx(2 / 3), r  # the honest run passes two of the three
        assert r.holds, r
        if r.attack in ATTACKS:
            assert r.recorded == r.episodes and r.counted == 0.0 and r.paths, r
            assert all(p.startswith(("/tests", "/logs", "/proc")) for p in r.paths), r
        else:
            assert r.recorded == 0 and r.counted == r.honest, r


def test_red_team_on_local(tasks):
    from actors.sandbox.local import LocalSandboxBackend

    model = SimModel(load_profile("minimax"), tasks)
    check(red_team(tasks, LocalSandboxBackend(), "local", model, attacks={**ATTACKS, **NEUTRALIZED}), "local")


def test_red_team_on_kubernetes(suite, tasks):
    from actors.sandbox.config import KubernetesSandboxConfig
    from actors.sandbox.kubernetes import KubernetesSandboxBackend
    from benchmarks.doubles.kube_apiserver import ImageRegistry, KubeAPIServerDouble
    from benchmarks.k8s_rollout import FAST

    model = SimModel(load_profile("minimax"), tasks)
    with KubeAPIServerDouble(ImageRegistry.from_suite(suite)) as double:
        backend = KubernetesSandboxBackend(KubernetesSandboxConfig(host=double.url, **FAST))
        try:
            rows = red_team(tasks, backend, "kubernetes", model, attacks={**ATTACKS, **NEUTRALIZED})
        finally:
            backend.close()
        assert double.pods() == []
    check(rows, "kubernetes")
    writer = [r for r in rows if r.attack == "background writer"]
    assert all("/logs/verifier/reward.json" in r.paths for r in writer)
