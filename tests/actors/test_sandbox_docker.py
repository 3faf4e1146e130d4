"""The docker sandbox backend against a real dockerd of the test session's own (tests/conftest.py), with the
isolation tests of the local backend, image builds (RUN apt-get, COPY --from, files outside /app, base_images),
the verifier's clean context, and cleanup after a killed episode."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from actors.sandbox.config import DockerSandboxConfig
from actors.sandbox.docker.backend import DockerSandboxBackend, connect
from actors.sandbox.kubernetes.pod import SANDBOX_LABEL
from benchmarks.check import check_task
from harnesses.sandbox import Limits, Sandbox, SandboxBackend, SandboxError
from harnesses.tasks import load_task, run_oracle, run_verifier
from tests.conftest import CORE_SUITE, ROOT

SMALL = Limits(max_processes=32, max_file_mb=16, cpu_seconds=1, memory_mb=256, disk_mb=32, max_output_bytes=4096)


@pytest.fixture(scope="module")
def backend(docker_host):
    b = DockerSandboxBackend(DockerSandboxConfig(host=docker_host, build_retries=0, backoff_s=0.1))
    yield b
    b.close()


@pytest.fixture(scope="module")
def task():
    return load_task(CORE_SUITE / "csv-sales-summary")


@pytest.fixture
def sb(backend, task):
    with backend.open(task, Limits()) as s:
        yield s


@pytest.fixture
def small(backend, task):
    with backend.open(task, SMALL) as s:
        yield s


def containers(backend) -> list[str]:
    return [c["Names"][0].lstrip("/") for c in backend.client.api.containers(all=True,
                                                                            filters={"label": f"{SANDBOX_LABEL}=true"})]


def make_task(root: Path, name: str, dockerfile: str, *, files: dict[str, str] = {}, test: str, solve: str,
              toml: str = "") -> Path:
    """A Harbor-format task folder written for a test."""
    d = root / name
    (d / "environment").mkdir(parents=True)
    (d / "tests").mkdir()
    (d / "solution").mkdir()
    (d / "environment" / "Dockerfile").write_text(textwrap.dedent(dockerfile))
    for rel, text in files.items():
        (d / "environment" / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / "environment" / rel).write_text(text)
    (d / "instruction.md").write_text(f"Do {name}.\n")
    (d / "task.toml").write_text('version = "1.0"\n[metadata]\ndifficulty = "easy"\n[verifier]\ntimeout_sec = 120.0\n'
                                 '[agent]\ntimeout_sec = 120.0\n[environment]\nbuild_timeout_sec = 600.0\n'
                                 'cpus = 1\nmemory = "1G"\nstorage = "1G"\n' + toml)
    (d / "tests" / "test.sh").write_text("#!/bin/bash\n" + textwrap.dedent(test))
    (d / "solution" / "solve.sh").write_text("# the reference solution\n#!/bin/bash\n" + textwrap.dedent(solve))
    return d


def _after_kill_still_works(s) -> None:
    r = s.exec("echo still here; ps -e -o comm= | grep -cv -e '^ps$' -e '^grep$'", timeout_s=10)
    assert r.exit_code == 0 and r.killed_by is None, r
    lines = r.output.split()
    assert lines[:2] == ["still", "here"]
    assert int(lines[2]) <= 6, r.output  # pid 1, its sleep, and this command's own: nothing left over


# ---------------------------------------------------------------- basics


def test_protocols_and_commands(backend, sb):
    assert isinstance(backend, SandboxBackend) and isinstance(sb, Sandbox)
    r = sb.exec("echo $FOO; pwd; exit 3", timeout_s=10, env={"FOO": "bar"})
    assert (r.exit_code, r.output) == (3, "bar\n/app\n")
    assert sb.exec("ls", timeout_s=10, cwd="/nowhere").exit_code != 0
    assert sb.exec("cat sales.csv | head -1", timeout_s=10).output.strip()


def test_file_api(sb, tmp_path):
    sb.write_file("/app/sub/x.bin", b"\x00\x01hello")
    assert sb.read_file("/app/sub/x.bin") == b"\x00\x01hello"
    with pytest.raises(FileNotFoundError):
        sb.read_file("/app/nope")
    with pytest.raises(IsADirectoryError):
        sb.read_file("/app")
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "f.txt").write_text("deep")
    sb.upload_dir(tmp_path / "d", "/opt/up")
    assert sb.exec("cat /opt/up/e/f.txt", timeout_s=10).output == "deep"


def test_oracle_passes_and_doing_nothing_fails(backend, task):
    with backend.open(task, Limits()) as s:
        assert run_verifier(s, task).reward == 0.0
    with backend.open(task, Limits()) as s:
        assert run_oracle(s, task).exit_code == 0
        v = run_verifier(s, task)
        assert v.reward == 1.0 and v.passed and not v.tampering


# ---------------------------------------------------------------- isolation (the local backend's tests)


def test_no_network(sb):
    r = sb.exec("python3 -c \"import socket; s = socket.socket(); s.settimeout(3); "
                "s.connect(('1.1.1.1', 53))\"", timeout_s=20)
    assert r.exit_code != 0 and "Network is unreachable" in r.output, r.output
    assert sb.exec("getent hosts example.com", timeout_s=10).exit_code != 0
    r = sb.exec("python3 -c 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'", timeout_s=10)
    assert r.output.strip() == "['lo']"


def test_host_files_are_out_of_reach(sb, tmp_path):
    marker = Path("/root") / f".sandbox-marker-{uuid.uuid4().hex}"
    marker.write_text("secret")
    try:
        for path in (str(ROOT), f"{ROOT}/actors/sandbox/docker/backend.py", "/root/.pyenv", str(marker),
                     "/var/run/docker.sock", str(tmp_path)):
            r = sb.exec(f"ls -d {path} || cat {path}", timeout_s=10)
            assert r.exit_code != 0 and "secret" not in r.output, (path, r.output)
        for target in ("/usr/evil", "/etc/evil", "/evil", f"{tmp_path}/evil"):
            sb.exec(f"mkdir -p $(dirname {target}) && echo x > {target}", timeout_s=10)  # the container's own
        assert not any(Path(p).exists() for p in ("/usr/evil", "/etc/evil", "/evil", f"{tmp_path}/evil"))
        r = sb.exec("mount -t proc proc /mnt 2>&1 || echo refused; ip link add x type dummy 2>&1 || echo refused",
                    timeout_s=10)
        assert r.output.count("refused") == 2, r.output
    finally:
        marker.unlink()


def test_fork_bomb_is_stopped_and_recorded(small):
    r = small.exec(":(){ :|:& };:; sleep 30", timeout_s=3)
    assert r.timed_out and r.killed_by == "processes", r
    _after_kill_still_works(small)


def test_endless_loop_stopped_by_wall_clock(sb):
    r = sb.exec("sleep 1000 & echo started; while :; do :; done", timeout_s=1)
    assert r.timed_out and r.killed_by == "timeout" and r.exit_code == 124
    assert r.output.startswith("started\n")
    _after_kill_still_works(sb)


def test_cpu_limit(small):
    r = small.exec("while :; do :; done", timeout_s=30)
    assert not r.timed_out and r.killed_by == "cpu", r
    _after_kill_still_works(small)


def test_2gb_write_stopped_by_file_size_limit(small):
    r = small.exec("head -c 2G /dev/zero > /app/big", timeout_s=30)
    assert r.exit_code != 0 and r.killed_by == "file_size", r
    assert int(small.exec("stat -c %s /app/big", timeout_s=10).output) <= SMALL.max_file_mb << 20
    _after_kill_still_works(small)


def test_memory_limit_of_task_toml(backend, tmp_path):
    d = tmp_path / "tight"
    shutil.copytree(CORE_SUITE / "csv-sales-summary", d)
    toml = d / "task.toml"
    toml.write_text(toml.read_text().replace('memory = "1G"', 'memory = "256M"'))
    with backend.open(load_task(d), Limits()) as s:
        r = s.exec("python3 -c 'x = bytearray(600 * 1024 * 1024)'", timeout_s=30)
        assert r.exit_code != 0 and r.killed_by == "memory", r
        _after_kill_still_works(s)


def test_100mb_line_is_truncated_in_bounded_memory(small):
    tracemalloc.start()
    try:
        r = small.exec("head -c 100M /dev/zero | tr '\\0' x", timeout_s=60)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.exit_code == 0 and r.truncated and r.output_bytes == 100 * 1024 * 1024
    dropped = r.output_bytes - SMALL.max_output_bytes
    assert r.output == "x" * 2048 + f"\n[... {dropped} bytes truncated ...]\n" + "x" * 2048
    assert peak < 4 * 1024 * 1024, peak


# ---------------------------------------------------------------- the verifier's clean context


def test_a_planted_reward_and_a_background_forger_change_no_verdict(backend, task):
    with backend.open(task, Limits()) as s:
        r = s.exec("mkdir -p /logs/verifier && echo 1 > /logs/verifier/reward.txt; "
                   "setsid sh -c 'while :; do echo 1 > /logs/verifier/reward.txt; sleep 0.01; done' >/dev/null 2>&1 &",
                   timeout_s=10)
        assert r.exit_code == 0
        v = run_verifier(s, task)
        assert v.reward == 0.0 and not v.passed
        assert any(t.path == "/logs/verifier/reward.txt" for t in v.tampering), v.tampering
        assert any("stopped" in n for n in v.notes), v.notes


# ---------------------------------------------------------------- images


def test_a_harbor_task_with_apt_get_copy_from_and_files_outside_app_builds_and_its_oracle_passes(backend, tmp_path):
    d = make_task(tmp_path, "jq-name", """\
        FROM example/python:3.11
        RUN apt-get update && apt-get install -y --no-install-recommends jq && rm -rf /var/lib/apt/lists/*
        COPY --from=example/python:3.11 /usr/bin/python3 /opt/py/python3
        WORKDIR /app
        COPY data.json /app/data.json
        COPY conf/settings.ini /etc/demo/settings.ini
        """, files={"data.json": '{"name": "ada", "n": 3}', "conf/settings.ini": "key=7\n"},
        test="""\
        mkdir -p /logs/verifier
        if [ "$(jq -r .name /app/out.json)" = ada ] && grep -q key=7 /etc/demo/settings.ini && [ -x /opt/py/python3 ]
        then echo 1 > /logs/verifier/reward.txt; else echo 0 > /logs/verifier/reward.txt; fi
        """, solve="jq '{name: .name}' /app/data.json > /app/out.json\n")
    b = DockerSandboxBackend(DockerSandboxConfig(host=backend.config.host, base_images={
        "example/python:3.11": "python:3.11-slim"}, build_retries=0))
    try:
        task = load_task(d)
        check = check_task(task, "-", b)
        assert check.oracle_reward == 1.0 and check.noop_reward == 0.0 and check.status == "ok", check
        assert b.images.stats["builds"] == 1 and b.images.stats["build_cache_hits"] >= 1  # once per context
        (d / "environment" / "data.json").write_text('{"name": "bob"}')
        tag_after_edit, _ = b.images.plan(task)
        assert tag_after_edit not in b.images.build_seconds  # an edited file is a new image
    finally:
        b.close()


def test_a_failed_build_is_an_infrastructure_error_naming_the_task(backend, tmp_path):
    d = make_task(tmp_path, "no-build", "FROM python:3.11-slim\nRUN echo failing on purpose && exit 3\n",
                  test="echo 0 > /logs/verifier/reward.txt\n", solve="true\n")
    with pytest.raises(SandboxError, match=r"task no-build: its image did not build .*exit|returned a non-zero"):
        backend.open(load_task(d), Limits())


def test_check_tells_a_task_that_needs_the_internet_from_a_broken_one(backend, tmp_path):
    fetches = make_task(tmp_path, "fetches-uv", "FROM python:3.11-slim\nWORKDIR /app\n", test="""\
        apt-get update
        apt-get install -y curl
        curl -LsSf https://astral.sh/uv/0.9.5/install.sh | sh
        source $HOME/.local/bin/env
        if uvx -p 3.13 -w pytest==8.4.1 pytest /tests/test_outputs.py -rA; then
          echo 1 > /logs/verifier/reward.txt
        else
          echo 0 > /logs/verifier/reward.txt
        fi
        """, solve="true\n")
    broken = make_task(tmp_path, "wrong-oracle", "FROM python:3.11-slim\nWORKDIR /app\n", test="""\
        [ -f /app/done ] && echo 1 > /logs/verifier/reward.txt || echo 0 > /logs/verifier/reward.txt
        """, solve="touch /app/not-done\n")
    got = {t.name: check_task(t, "-", backend) for t in (load_task(fetches), load_task(broken))}
    assert got["fetches-uv"].status == "offline", got["fetches-uv"]
    assert "tests/test.sh:2" in got["fetches-uv"].offline and "apt-get update" in got["fetches-uv"].offline
    assert got["wrong-oracle"].status == "broken" and "oracle did not pass" in got["wrong-oracle"].problems[0]


# ---------------------------------------------------------------- lifecycle and errors


def test_close_removes_the_container_and_a_closed_sandbox_refuses(backend, task):
    s = backend.open(task, Limits())
    assert s.name in containers(backend)
    s.close()
    s.close()
    assert s.name not in containers(backend)
    with pytest.raises(SandboxError):
        s.exec("true", timeout_s=5)


def test_close_from_another_thread_stops_a_running_command(backend, task):
    s = backend.open(task, Limits())
    results = []
    t = threading.Thread(target=lambda: results.append(s.exec("sleep 60", timeout_s=60)))
    t.start()
    time.sleep(0.5)
    s.close()
    t.join(20)
    assert not t.is_alive() and results[0].killed_by == "closed"
    assert s.name not in containers(backend)


KILLED_EPISODE = """
import sys, time
from actors.sandbox.config import DockerSandboxConfig
from actors.sandbox.docker.backend import DockerSandboxBackend
from harnesses.sandbox import Limits
from harnesses.tasks import load_task
b = DockerSandboxBackend(DockerSandboxConfig(host=sys.argv[1]))
s = b.open(load_task(sys.argv[2]), Limits())
print(s.name, flush=True)
s.exec("sleep 600", timeout_s=600)
"""


def test_a_killed_episode_leaves_no_container(backend, task):
    p = subprocess.Popen([sys.executable, "-c", KILLED_EPISODE, backend.config.host, task.path], cwd=ROOT,
                         stdout=subprocess.PIPE, text=True)
    name = p.stdout.readline().strip()
    assert name and name in containers(backend)
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    assert name in containers(backend)  # no process of its own could remove it
    backend.sweep()  # what every backend does at start and every sweep_interval_s
    assert name not in containers(backend)


def test_a_missing_daemon_says_how_to_start_one(tmp_path):
    with pytest.raises(SandboxError, match=r"no Docker daemon answers at unix://.*Start one: .*dockerd"):
        connect(DockerSandboxConfig(host=f"unix://{tmp_path}/none.sock"))


def test_the_tb2_shaped_suite_on_docker_offline(backend):
    """Terminal-Bench 2.0's shapes (multi-stage, COPY --from an image, files outside /app, BuildKit's --chmod,
    ADD of a URL): what builds here passes, what needs a registry or a URL is OFFLINE with the line that reaches out."""
    from benchmarks.check import check_suite

    report = check_suite(ROOT / "tests" / "fixtures" / "tb2-shapes", concurrency=2, progress=False, backend=backend)
    status = {t.task: t.status for t in report.tasks}
    assert report.ok and not report.load_errors, report.format()
    assert status == {"build-stage-tool": "ok", "etc-config-port": "ok", "measurements-mean": "ok",
                      "settings-stage-inherit": "ok", "csv-column-sum": "offline", "log-error-count": "offline"}
    offline = {t.task: t.offline for t in report.tasks if t.offline}
    assert "COPY --from=ghcr.io/astral-sh/uv" in offline["csv-column-sum"]
    assert "ADD https://example.com" in offline["log-error-count"]
