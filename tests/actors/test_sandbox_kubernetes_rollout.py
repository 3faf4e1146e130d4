"""The whole core suite (50 tasks, sim model, one attempt) through the kubernetes backend against
the API server double, compared with the local backend episode by episode; then again with
faults injected on every layer (benchmarks/k8s_rollout.py prints the same comparison).
"""

from __future__ import annotations

import pytest

from actors.rollout import summarize
from actors.sandbox.config import KubernetesSandboxConfig
from actors.sandbox.kubernetes import KubernetesSandboxBackend
from actors.sandbox.kubernetes.pod import SANDBOX_SELECTOR
from actors.sandbox.local import LocalSandboxBackend
from benchmarks.doubles.kube_apiserver import ImageRegistry, KubeAPIServerDouble
from benchmarks.k8s_rollout import FAST, inject_faults, outcomes, rollout_config, run_episodes
from harnesses.tasks import load_suite
from tests.conftest import CORE_SUITE, FIXTURE_SUITE, needs_bwrap

pytestmark = needs_bwrap


@pytest.fixture(scope="module")
def config():
    return rollout_config("all")


@pytest.fixture(scope="module")
def local(config):
    traces, _ = run_episodes(config, LocalSandboxBackend())
    assert len(traces) == 50 and summarize(traces).infra_errors == 0
    return traces


def kube_rollout(config, faults: bool):
    suite = load_suite(CORE_SUITE)
    with KubeAPIServerDouble(ImageRegistry.from_suite(suite)) as double:
        backend = KubernetesSandboxBackend(KubernetesSandboxConfig(host=double.url, **FAST))
        lasting = inject_faults(double, sorted(suite.tasks)) if faults else {}
        try:
            traces, _ = run_episodes(config, backend)
            # every episode deleted its own pod: nothing is left even before the backend closes
            left = backend.api.list_pods(SANDBOX_SELECTOR)
            stats = backend.stats()
        finally:
            backend.close()
        return traces, lasting, left, double.pods(), dict(double.injected), stats


def test_core_rollout_through_the_api_double_matches_the_local_backend(config, local):
    traces, _, left, remaining, _, stats = kube_rollout(config, faults=False)
    mine, theirs = summarize(traces), summarize(local)
    print(f"\nlocal: {theirs.passed}/{theirs.episodes} = {theirs.pass_rate:.1%}; "
          f"kubernetes (double): {mine.passed}/{mine.episodes} = {mine.pass_rate:.1%}; {stats}")
    assert mine.episodes == 50 and mine.infra_errors == 0
    assert outcomes(traces) == outcomes(local)
    assert mine.pass_rate == theirs.pass_rate and mine.by_task == theirs.by_task
    assert left == [] and remaining == []
    assert stats["pods_created"] == stats["pods_deleted"] == 50


def test_core_rollout_with_injected_faults_loses_nothing(config, local):
    traces, lasting, left, remaining, injected, stats = kube_rollout(config, faults=True)
    mine = summarize(traces)
    infra = {t.task: t.infra_error for t in traces if t.infra_error}
    print(f"\nwith faults: {mine.passed}/{mine.episodes - mine.infra_errors} = {mine.pass_rate:.1%}, "
          f"{mine.infra_errors} infra errors {sorted(infra)}; injected {injected}; backend {stats}")
    # every episode has a trace, and only the faults that outlast every retry end one, as an infra error
    assert len(traces) == 50 and {t.task for t in traces} == {t.task for t in local}
    assert set(infra) == set(lasting) and mine.infra_errors == len(lasting) == 5
    assert all(msg.startswith("sandbox: ") for msg in infra.values())
    # infra errors are counted apart: not failures, not in the pass rate; everything else is as local
    base = outcomes(local)
    assert {k: v for k, v in outcomes(traces).items() if k[0] not in infra} == \
           {k: v for k, v in base.items() if k[0] not in infra}
    survivors = [t for t in local if t.task not in infra]
    assert mine.failed == sum(not t.passed for t in survivors) and mine.passed == sum(t.passed for t in survivors)
    assert mine.pass_rate == pytest.approx(mine.passed / (50 - len(lasting)))
    # no pod left behind, though deletes themselves failed now and then
    assert left == [] and remaining == []
    assert stats["pods_created"] == stats["pods_deleted"]
    # the faults did happen, and the retries absorbed the transient ones
    assert injected["pod_image_pull"] >= 5 and injected["pod_unschedulable"] == 3 and injected["pod_crash"] == 1
    assert injected["http_DELETE_503"] == 2 and injected["http_POST_409"] == 1 and injected["exec_hang"] == 1
    assert stats["create_adopted"] >= 1 and stats["create_name_taken"] == 1 and stats["exec_retries"] >= 5
    assert stats["start_gave_up"] == 4  # pull, unschedulable, slow: retried, then given up; the crash at once
    assert "ImagePullBackOff" in infra[_task_with(lasting, "image_pull")] or \
        "ErrImagePull" in infra[_task_with(lasting, "image_pull")]
    assert "Unschedulable" in infra[_task_with(lasting, "unschedulable")]
    assert "not ready after" in infra[_task_with(lasting, "slow")]
    assert "stream" in infra[_task_with(lasting, "dropped stream")]


def _task_with(lasting: dict[str, str], kind: str) -> str:
    return next(task for task, k in lasting.items() if k == kind)


@pytest.mark.ray
def test_a_ray_rollout_builds_the_backend_from_its_config(tmp_path):
    """The config path: RolloutConfig.sandbox -> the factory, inside Ray worker processes."""
    from actors.run_dir import RunStore
    from cluster.compose import run_rollout
    from cluster.config import RolloutConfig

    with KubeAPIServerDouble(ImageRegistry.from_suite(load_suite(FIXTURE_SUITE))) as double:
        sandbox = KubernetesSandboxConfig(host=double.url, **FAST)
        cfg = RolloutConfig(suite=str(FIXTURE_SUITE), split="train", agent="oracle", attempts=2, concurrency=2,
                            workers=2, sandbox=sandbox)
        try:
            traces, summary = run_rollout(cfg, RunStore(tmp_path), progress=False)
        finally:
            import ray

            ray.shutdown()
        assert summary.episodes == 2 and summary.pass_rate == 1.0 and summary.infra_errors == 0
        assert double.pods_created == 2 and double.pods() == []
