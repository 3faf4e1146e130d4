"""A real Prometheus (Debian's `prometheus` package, which `make test` installs through
cluster/setup.sh) scrapes the metrics agent of a local Ray cluster while a rollout runs, and
reads the episode counter back through its HTTP API.

This is what pins the names the dashboard uses: `ray_` + name (+ `_total` for a counter,
`_bucket`/`_sum`/`_count` for a histogram) is what arrives in Prometheus."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from actors import metrics
from actors.model.config import SimModelConfig
from actors.run_dir import RunStore
from cluster.config import RolloutConfig
from tests.conftest import FIXTURE_SUITE, ROOT, needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.ray]

DEADLINE_S = 240
"""How long Prometheus may take to show the last episode (Ray reports every second here, Prometheus
scrapes every second; on a loaded machine it can still take a while). Nothing waits longer than needed."""

ROLLOUT_SERIES = ("selfharness_episodes", "selfharness_episode_duration_s", "selfharness_command_duration_s",
                  "selfharness_queue_depth", "selfharness_sandbox_pool_size", "selfharness_sandbox_pool_busy",
                  "selfharness_sandbox_lease_wait_s", "selfharness_model_request_duration_s",
                  "selfharness_model_prompt_tokens", "selfharness_model_completion_tokens")
"""Metrics a sim rollout always records (the others need retries, errors, blocked commands, vLLM or the loop)."""


def prometheus_binary() -> str:
    path = shutil.which("prometheus")
    if path:
        return path
    why = ("Debian's `prometheus` is not installed; `make test` installs it (cluster/setup.sh), "
           "or: apt-get install -y --no-install-recommends prometheus")
    can_install = os.geteuid() == 0 or shutil.which("sudo") is not None
    if os.environ.get("CI") or (can_install and shutil.which("apt-get")):
        pytest.fail(why)
    pytest.skip(why + " (no root or apt here)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def query(base: str, promql: str) -> float | None:
    """An instant query's single value (None while the series does not exist yet)."""
    body = get_json(f"{base}/api/v1/query?{urllib.parse.urlencode({'query': promql})}")
    assert body["status"] == "success", body
    result = body["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def wait_for(what: str, probe, log: Path, deadline: float):
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except OSError as e:  # Prometheus still starting
            last = e
        if last is True:
            return
        time.sleep(0.5)
    pytest.fail(f"{what}: not within {DEADLINE_S}s (last: {last!r}); prometheus log:\n"
                f"{log.read_text()[-3000:] if log.exists() else ''}")


@pytest.fixture()
def ray_with_metrics_port():
    import ray

    if ray.is_initialized():
        ray.shutdown()
    port = free_port()
    env = {"env_vars": {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    ray.init(address="local", runtime_env=env, include_dashboard=False, log_to_driver=False, configure_logging=False,
             _metrics_export_port=port, _system_config={"metrics_report_interval_ms": 1000})
    yield port
    ray.shutdown()


def start_prometheus(binary: str, tmp: Path, targets: list[dict]) -> tuple[subprocess.Popen, str, Path]:
    """Prometheus scraping every second the targets in a file_sd file (the format Ray writes to
    /tmp/ray/prom_metrics_service_discovery.json)."""
    sd = tmp / "ray_targets.json"
    sd.write_text(json.dumps(targets))
    config = tmp / "prometheus.yml"
    config.write_text(json.dumps({  # YAML is a superset of JSON
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "ray", "file_sd_configs": [{"files": [str(sd)]}]}],
    }))
    web = f"127.0.0.1:{free_port()}"
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                                 f"--web.listen-address={web}"], stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    return proc, f"http://{web}", log


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_prometheus_reads_the_episode_counter_of_a_running_rollout(ray_with_metrics_port, tmp_path):
    from actors.rollout import plan_episodes
    from cluster.compose import RolloutPipeline, prepare

    binary = prometheus_binary()
    targets = metrics.prometheus_targets()
    assert targets[0]["targets"] and all(t.endswith(f":{ray_with_metrics_port}") for t in targets[0]["targets"])
    proc, base, log = start_prometheus(binary, tmp_path, targets)
    try:
        deadline = time.monotonic() + DEADLINE_S
        wait_for("Prometheus ready", lambda: urllib.request.urlopen(f"{base}/-/ready", timeout=5).status == 200,
                 log, deadline)
        cfg = RolloutConfig(suite=str(FIXTURE_SUITE), split="train", attempts=4, concurrency=2, workers=2,
                            model=SimModelConfig(profile="minimax"))
        _, tasks, harness = prepare(cfg)
        pipeline = RolloutPipeline.for_rollout(cfg, tasks, harness)
        try:  # the pipeline's actors stay up while Prometheus catches up, as in a run between rounds
            traces, summary = pipeline.run(plan_episodes(tasks, cfg.attempts, cfg.seed, cfg.split),
                                           RunStore(tmp_path / "run"), progress=False)
            n = len(traces)
            assert n == 4 and summary.infra_errors == 0

            deadline = time.monotonic() + DEADLINE_S
            episodes = metrics.BY_NAME["selfharness_episodes"].exported
            wait_for(f"sum({episodes}) == {n}", lambda: query(base, f"sum({episodes})") == n, log, deadline)
            assert query(base, f'sum({episodes}{{outcome="passed", split="train"}}) or vector(0)') == summary.passed
            assert query(base, f'sum({episodes}{{harness="{harness.id}"}})') == n
            durations = metrics.exported_series(metrics.BY_NAME["selfharness_episode_duration_s"])[2]
            wait_for(f"sum({durations}) == {n}", lambda: query(base, f"sum({durations})") == n, log, deadline)
            pool = metrics.BY_NAME["selfharness_sandbox_pool_size"].exported
            wait_for(f"{pool} == 2", lambda: query(base, f"max({pool})") == cfg.concurrency, log, deadline)

            wanted = {s for name in ROLLOUT_SERIES for s in metrics.exported_series(metrics.BY_NAME[name])}

            def all_series_there():
                names = set(get_json(f"{base}/api/v1/label/__name__/values")["data"])
                return True if wanted <= names else sorted(wanted - names)

            wait_for("every rollout series in Prometheus", all_series_there, log, deadline)
        finally:
            pipeline.close()
    finally:
        stop(proc)
