"""The local bubblewrap sandbox, with real bwrap (no mocks)."""

from __future__ import annotations

import os
import shutil
import threading
import time
import tracemalloc
import uuid
from pathlib import Path

import pytest

from actors.sandbox.local import PROJECT_DIR, LocalSandbox, LocalSandboxBackend, SandboxPathError
from actors.sandbox.local.processes import count_processes_of
from harnesses.sandbox import Limits, Sandbox, SandboxBackend, SandboxError
from harnesses.tasks import load_task, run_oracle, run_verifier

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")

TASK_DIR = PROJECT_DIR / "benchmarks" / "suites" / "core" / "csv-sales-summary"
SMALL = Limits(max_processes=32, max_file_mb=16, cpu_seconds=1, memory_mb=256, disk_mb=32,
               max_output_bytes=4096)


@pytest.fixture(scope="module")
def task():
    return load_task(TASK_DIR)


@pytest.fixture(scope="module")
def backend():
    return LocalSandboxBackend()


@pytest.fixture
def sb(backend, task):
    with backend.open(task, Limits()) as s:
        yield s


@pytest.fixture
def small(backend, task):
    with backend.open(task, SMALL) as s:
        yield s


def _after_kill_still_works(s: LocalSandbox) -> None:
    r = s.exec("echo still here; ls /proc | grep -c '^[0-9]'", timeout_s=10)
    assert r.exit_code == 0 and r.killed_by is None
    lines = r.output.split()
    assert lines[:2] == ["still", "here"]
    assert int(lines[2]) <= 4, r.output  # nothing left over from the killed command
    root = s.root
    s.close()
    assert not root.exists()


# ---------------------------------------------------------------- basics


def test_protocols(backend, sb):
    assert isinstance(backend, SandboxBackend)
    assert isinstance(sb, Sandbox)


def test_exec_exit_code_env_cwd(sb):
    r = sb.exec("echo out; echo err >&2; echo \"$FOO\"; pwd; exit 3", timeout_s=10, env={"FOO": "bar baz"})
    assert r.exit_code == 3 and not r.timed_out and r.killed_by is None
    assert r.output == "out\nerr\nbar baz\n/app\n"
    assert r.output_bytes == len(r.output)
    r = sb.exec("pwd; env | sort", timeout_s=10, cwd="/tmp")
    assert r.output.splitlines()[0] == "/tmp"
    assert {"HOME=/root", "LANG=C.UTF-8", "TERM=dumb", "PATH=/usr/local/bin:/usr/bin:/bin"} <= set(r.output.splitlines())
    assert not any(line.startswith("VIRTUAL_ENV=") for line in r.output.splitlines())


def test_app_has_task_files_and_state_lives_in_files(sb, task):
    expected = (task.environment_dir / "app" / "sales.csv").read_text()
    assert sb.exec("cat /app/sales.csv", timeout_s=10).output == expected
    assert sb.exec("export X=1; cd /tmp; echo hi > /app/note", timeout_s=10).exit_code == 0
    r = sb.exec("echo \"[$X]\"; pwd; cat note", timeout_s=10)  # a new process: only files persist
    assert r.output == "[]\n/app\nhi\n"
    assert sb.exec("id -u; python3 -c 'print(6*7)'", timeout_s=10).output == "0\n42\n"


def test_verifier_alone_gives_0_and_oracle_gives_1(backend, task):
    with backend.open(task, Limits()) as s:
        v = run_verifier(s, task)
        assert v.reward == 0.0 and not v.timed_out
    with backend.open(task, Limits()) as s:
        assert run_oracle(s, task).exit_code == 0
        v = run_verifier(s, task)
        assert v.reward == 1.0, v.output
        assert s.read_file("/app/summary.csv").startswith(b"region,revenue\n")


# ---------------------------------------------------------------- files


def test_file_api(sb, tmp_path):
    sb.write_file("/tmp/a/b/c.txt", b"hello")
    assert sb.exec("cat /tmp/a/b/c.txt; echo x >> /tmp/a/b/c.txt", timeout_s=10).output == "hello"
    assert sb.read_file("/tmp/a/b/c.txt") == b"hellox\n"
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "run.sh").write_text("echo ran\n")
    (tmp_path / "d" / "e" / "run.sh").chmod(0o755)
    sb.upload_dir(tmp_path / "d", "/tests/up")
    assert sb.exec("/tests/up/e/run.sh", timeout_s=10).output == "ran\n"
    sb.write_file("/root/.bashrc", b"# mine\n")
    sb.write_file("/logs/verifier/reward.txt", b"1\n")
    assert sb.exec("cat ~/.bashrc /logs/verifier/reward.txt", timeout_s=10).output == "# mine\n1\n"
    with pytest.raises(FileNotFoundError):
        sb.read_file("/app/missing.txt")
    for bad in ("/etc/passwd", "/app/../etc/passwd", "relative.txt", "/work/main/README.md", "/"):
        with pytest.raises(SandboxPathError):
            sb.read_file(bad)
        with pytest.raises(SandboxPathError):
            sb.write_file(bad, b"x")


def test_agent_symlinks_cannot_reach_the_host(sb):
    sb.exec("ln -s /etc/passwd /app/evil; ln -s ../../../../../etc /app/up; "
            "ln -s /tmp/real /app/inside; echo data > /tmp/real", timeout_s=10)
    with pytest.raises(SandboxPathError):
        sb.read_file("/app/evil")
    with pytest.raises(SandboxPathError):
        sb.read_file("/app/up/passwd")
    with pytest.raises(SandboxPathError):
        sb.write_file("/app/evil", b"pwned")
    assert b"pwned" not in Path("/etc/passwd").read_bytes()
    assert sb.read_file("/app/inside") == b"data\n"  # links inside the sandbox work as inside
    sb.write_file("/app/inside", b"new\n")
    assert sb.exec("cat /tmp/real", timeout_s=10).output == "new\n"


# ---------------------------------------------------------------- isolation


def test_no_network(sb):
    r = sb.exec("python3 -c \"import socket; s = socket.socket(); s.settimeout(3); "
                "s.connect(('1.1.1.1', 53))\"", timeout_s=20)
    assert r.exit_code != 0 and "Network is unreachable" in r.output, r.output
    assert sb.exec("getent hosts example.com", timeout_s=10).exit_code != 0
    r = sb.exec("python3 -c 'import socket; print(sorted(n for _, n in socket.if_nameindex()))'", timeout_s=10)
    assert r.output.strip() == "['lo']"


def test_cannot_write_outside_the_sandbox(sb, tmp_path):
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    for target in ("/usr/evil", "/etc/evil", "/evil", "/dev/evil", f"{host_dir}/evil", "/bin/evil"):
        r = sb.exec(f"echo x > {target}", timeout_s=10)
        assert r.exit_code != 0, target
    assert not list(host_dir.iterdir())
    assert not Path("/usr/evil").exists() and not Path("/etc/evil").exists()


def test_cannot_see_project_or_host_root(sb):
    marker = Path("/root") / f".sandbox-marker-{uuid.uuid4().hex}"
    try:
        marker.write_text("secret")
    except OSError:  # not root: the host /root is not ours to write
        marker = None
    try:
        checks = [str(PROJECT_DIR), f"{PROJECT_DIR}/actors/sandbox/local/sandbox.py", "/root/.pyenv"]
        if marker:
            checks.append(str(marker))
        for path in checks:
            r = sb.exec(f"ls -d {path} || cat {path}", timeout_s=10)
            assert r.exit_code != 0 and "secret" not in r.output, (path, r.output)
        assert sb.exec("ls -A /root", timeout_s=10).output == ""
        if os.geteuid() == 0:  # the sandbox runs as an unprivileged host uid
            assert sb.exec("cat /etc/shadow", timeout_s=10).exit_code != 0
    finally:
        if marker:
            marker.unlink()


# ---------------------------------------------------------------- limits


def test_fork_bomb_is_stopped_and_recorded(small):
    r = small.exec(":(){ :|:& };:; sleep 30", timeout_s=3)
    assert r.timed_out and r.killed_by == "processes", r
    _after_kill_still_works(small)


def test_endless_loop_stopped_by_wall_clock(sb):
    r = sb.exec("sleep 1000 & echo started; while :; do :; done", timeout_s=1)
    assert r.timed_out and r.killed_by == "timeout" and r.exit_code == 124
    assert r.output.startswith("started\n")
    if sb.uid is not None:  # the background sleep died too: no process of the sandbox's uid is left
        assert count_processes_of(sb.uid) == 0
    _after_kill_still_works(sb)


def test_cpu_limit(small):
    r = small.exec("while :; do :; done", timeout_s=30)
    assert not r.timed_out and r.killed_by == "cpu", r
    _after_kill_still_works(small)


def test_big_file_stopped_by_file_size_limit(small):
    r = small.exec("head -c 2G /dev/zero > /app/big", timeout_s=30)
    assert r.exit_code != 0 and r.killed_by == "file_size", r
    assert (small.root / "app" / "big").stat().st_size <= SMALL.max_file_mb * 1024 * 1024
    _after_kill_still_works(small)


def test_disk_limit(small):
    r = small.exec("i=0; while :; do head -c 8M /dev/zero > /tmp/f$i; i=$((i+1)); done", timeout_s=30)
    assert not r.timed_out and r.killed_by == "disk", r
    _after_kill_still_works(small)


def test_memory_limit(small):
    r = small.exec("python3 -c 'x = bytearray(600 * 1024 * 1024)'", timeout_s=30)
    assert r.exit_code != 0 and r.killed_by == "memory", r
    _after_kill_still_works(small)


def test_huge_output_line_is_truncated_in_bounded_memory(small):
    tracemalloc.start()
    try:
        r = small.exec("head -c 100M /dev/zero | tr '\\0' x", timeout_s=30)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert r.exit_code == 0 and r.truncated
    assert r.output_bytes == 100 * 1024 * 1024
    dropped = r.output_bytes - SMALL.max_output_bytes
    assert r.output == "x" * 2048 + f"\n[... {dropped} bytes truncated ...]\n" + "x" * 2048
    assert peak < 4 * 1024 * 1024, peak
    _after_kill_still_works(small)


# ---------------------------------------------------------------- lifecycle and errors


def test_close_removes_everything_even_read_only(backend, task):
    s = backend.open(task, Limits())
    r = s.exec("mkdir -p /app/ro/sub /tmp/x && touch /app/ro/sub/f /tmp/x/g && chmod -R a-w /app/ro /tmp/x "
               "&& chmod 000 /app/ro", timeout_s=10)
    assert r.exit_code == 0, r.output
    root = s.root
    s.close()
    s.close()
    assert not root.exists()
    with pytest.raises(SandboxError):
        s.exec("true", timeout_s=5)


def test_close_from_another_thread_stops_a_running_command(backend, task):
    s = backend.open(task, Limits())
    results = []
    t = threading.Thread(target=lambda: results.append(s.exec("sleep 60", timeout_s=60)))
    t.start()
    time.sleep(0.3)
    s.close()
    t.join(10)
    assert not t.is_alive() and results[0].killed_by == "closed"
    assert not s.root.exists()


def test_missing_bwrap_names_the_install_command(task, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match=r"apt-get install -y bubblewrap"):
        LocalSandboxBackend().open(task, Limits())


def test_bwrap_setup_failure_is_an_infrastructure_error(sb):
    with pytest.raises(SandboxError, match="bwrap: Can't chdir"):
        sb.exec("true", timeout_s=10, cwd="/no/such/system/dir")
    r = sb.exec("true", timeout_s=10, cwd="/app/gone")  # the agent's own doing: a failed command
    assert r.exit_code == 1 and "No such file or directory" in r.output


def test_python_prefix_under_hidden_dirs_is_refused(task, tmp_path):
    for prefix in ("/root/.pyenv/versions/3.11.7", str(PROJECT_DIR / ".venv")):
        b = LocalSandboxBackend(system_python=str(tmp_path / "no-python3"), python_prefix=prefix)
        with pytest.raises(SandboxError, match="must not see"):
            b.open(task, Limits())


def test_python_prefix_elsewhere_is_bound_read_only(task, tmp_path):
    b = LocalSandboxBackend(system_python=str(tmp_path / "no-python3"), python_prefix="/opt")
    with b.open(task, Limits()) as s:
        r = s.exec("ls -d /opt && echo $PATH && touch /opt/x", timeout_s=10)
        assert r.output.startswith("/opt\n/usr/local/bin:/usr/bin:/bin:/opt/bin\n") and r.exit_code != 0


def test_unreachable_base_dir_is_reported(task, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("only root runs sandboxes as another uid")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with pytest.raises(SandboxError, match="cannot reach"):
        LocalSandboxBackend(base_dir=private).open(task, Limits())
    assert not list(private.iterdir())
