"""The whole core suite on the docker backend gives what the local backend gives: every oracle passes, doing
nothing fails everywhere, and the simulated model with the same seeds has the same outcome, command by command."""

from __future__ import annotations

import pytest

from actors.rollout import summarize
from actors.sandbox.config import DockerSandboxConfig
from actors.sandbox.docker.backend import DockerSandboxBackend
from actors.sandbox.local import LocalSandboxBackend
from benchmarks.check import check_suite
from benchmarks.k8s_rollout import outcomes, rollout_config, run_episodes
from tests.conftest import CORE_SUITE, needs_bwrap


@pytest.fixture(scope="module")
def docker_backend(docker_host):
    b = DockerSandboxBackend(DockerSandboxConfig(host=docker_host))
    yield b
    b.close()


def test_core_oracle_passes_and_doing_nothing_fails_on_docker(docker_backend):
    report = check_suite(CORE_SUITE, concurrency=2, progress=False, backend=docker_backend)
    print("\n" + report.format().splitlines()[-1], docker_backend.images.stats)
    assert len(report.tasks) == 50 and report.ok, report.format()
    assert all(t.oracle_reward == 1.0 and t.noop_reward == 0.0 and t.status == "ok" for t in report.tasks)
    assert docker_backend.images.stats["build_failures"] == 0


@needs_bwrap
def test_core_sim_rollout_on_docker_matches_local(docker_backend):
    config = rollout_config("all", concurrency=2)
    local, _ = run_episodes(config, LocalSandboxBackend())
    mine, _ = run_episodes(config, docker_backend)
    a, b = summarize(mine), summarize(local)
    print(f"\nlocal: {b.passed}/{b.episodes} = {b.pass_rate:.1%}; docker: {a.passed}/{a.episodes} = {a.pass_rate:.1%}")
    assert a.episodes == 50 and a.infra_errors == 0 and b.infra_errors == 0
    assert {k: v[:2] for k, v in outcomes(mine).items()} == {k: v[:2] for k, v in outcomes(local).items()}
    # exit codes too, but for a write outside /app and /tmp: the local backend's root is read-only, a container's
    # (as in Harbor) is not, and there the command succeeds (the outcome stays the same)
    read_only = {(t.task, t.seed, i) for t in local for i, c in enumerate(t.commands) if "Read-only file system" in c.output}
    differ = {(task, seed, i) for (task, seed), (_, _, codes) in outcomes(mine).items()
              for i, (x, y) in enumerate(zip(codes, outcomes(local)[task, seed][2])) if x != y}
    assert differ <= read_only, sorted(differ - read_only)
    assert a.pass_rate == b.pass_rate and a.by_task == b.by_task
    assert docker_backend.live_names() == set()


def test_a_ray_rollout_builds_the_docker_backend_from_its_config(docker_host, tmp_path):
    """The config path: RolloutConfig.sandbox -> the factory, inside Ray worker processes; no container outlives it."""
    import docker

    from actors.run_dir import RunStore
    from actors.sandbox.kubernetes.pod import SANDBOX_LABEL
    from cluster.compose import run_rollout
    from cluster.config import RolloutConfig
    from tests.conftest import FIXTURE_SUITE

    cfg = RolloutConfig(suite=str(FIXTURE_SUITE), split="train", agent="oracle", attempts=2, concurrency=2, workers=2,
                        sandbox=DockerSandboxConfig(host=docker_host))
    try:
        traces, summary = run_rollout(cfg, RunStore(tmp_path), progress=False)
    finally:
        import ray

        ray.shutdown()
    assert summary.episodes == 2 and summary.pass_rate == 1.0 and summary.infra_errors == 0
    client = docker.DockerClient(base_url=docker_host)
    assert client.api.containers(all=True, filters={"label": f"{SANDBOX_LABEL}=true"}) == []
