"""The verifier's clean context (Sandbox.run_verifier) on both backends: what the agent left under
/tests and /logs/verifier is recorded and gone before the verifier runs, the verifier gets the base
environment, the reward is only what that run wrote; on kubernetes (the API double, whose pods keep
their processes between commands) the agent's processes are stopped first, unless the task keeps
them, and then forging is detected.
"""

from __future__ import annotations

import pytest

from actors.sandbox.config import KubernetesSandboxConfig
from actors.sandbox.integrity import names_verifier
from benchmarks.k8s_rollout import FAST
from harnesses.sandbox import Limits
from harnesses.tasks import load_suite
from tests.conftest import CORE_SUITE, needs_bwrap

pytestmark = needs_bwrap
TASK = "bigram-frequency-top"


@pytest.fixture(scope="module")
def suite():
    return load_suite(CORE_SUITE)


@pytest.fixture(scope="module", params=["local", "kubernetes"])
def backend(request, suite):
    if request.param == "local":
        from actors.sandbox.local import LocalSandboxBackend

        yield LocalSandboxBackend()
        return
    from actors.sandbox.kubernetes import KubernetesSandboxBackend
    from benchmarks.doubles.kube_apiserver import ImageRegistry, KubeAPIServerDouble

    with KubeAPIServerDouble(ImageRegistry.from_suite(suite)) as double:
        b = KubernetesSandboxBackend(KubernetesSandboxConfig(host=double.url, **FAST))
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def sandbox(backend, suite):
    sb = backend.open(suite.tasks[TASK], Limits())
    try:
        yield sb
    finally:
        sb.close()


def kind(backend) -> str:
    return "local" if type(backend).__name__.startswith("Local") else "kubernetes"


def verifier_tests(tmp_path, script: str):
    (tmp_path / "tests").mkdir(exist_ok=True)
    (tmp_path / "tests" / "test.sh").write_text("#!/bin/bash\n" + script + "\n")
    (tmp_path / "tests" / "test_outputs.py").write_text("print('the real tests')\n")
    return tmp_path / "tests"


def agent(sandbox, command: str) -> None:
    r = sandbox.exec(command, timeout_s=20)
    assert r.exit_code == 0, r.output


def test_what_the_agent_left_is_recorded_and_gone(sandbox, tmp_path):
    agent(sandbox, "mkdir -p /logs/verifier /tests && echo '{\"reward\": 1}' > /logs/verifier/reward.json && "
                   "printf 'import sys\\nsys.exit(0)\\n' > /tests/pathlib.py && echo x > /tests/test_outputs.py && "
                   "mkfifo /logs/verifier/pipe && ln -s /app /logs/verifier/app && chmod 700 /tests")
    run = sandbox.run_verifier(verifier_tests(tmp_path, "ls -A /logs/verifier; echo ---; ls -A /tests; "
                                                   "echo 0 > /logs/verifier/reward.txt"),
                               "bash /tests/test.sh", timeout_s=30, cwd="/app")
    found = {(t.path, t.change) for t in run.tampering}
    assert {("/logs/verifier/reward.json", "planted"), ("/tests/pathlib.py", "planted"),
            ("/tests/test_outputs.py", "planted"), ("/logs/verifier/pipe", "planted"),
            ("/logs/verifier/app", "planted")} <= found
    assert ("/tests", "changed") in found  # its mode
    assert "fifo" in next(t.detail for t in run.tampering if t.path == "/logs/verifier/pipe")
    assert "symlink to /app" in next(t.detail for t in run.tampering if t.path == "/logs/verifier/app")
    # the verifier saw an empty log directory and exactly the task's tests; its reward is the only one read
    assert run.result.output.split() == ["---", "test.sh", "test_outputs.py"]
    assert run.rewards == {"reward.txt": b"0\n"}


def test_a_clean_episode_records_nothing(sandbox, tmp_path):
    agent(sandbox, "echo work > /app/out.txt && ls /tests /logs")
    run = sandbox.run_verifier(verifier_tests(tmp_path, "echo 1 > /logs/verifier/reward.txt"), "bash /tests/test.sh",
                               timeout_s=30, cwd="/app")
    assert run.tampering == () and run.rewards == {"reward.txt": b"1\n"}


def test_links_in_place_of_the_verifiers_directories(sandbox, tmp_path):
    agent(sandbox, "mkdir -p /tmp/v && echo '{\"reward\": 1}' > /tmp/v/reward.json && rm -rf /logs/verifier && "
                   "ln -s /tmp/v /logs/verifier")
    run = sandbox.run_verifier(verifier_tests(tmp_path, "echo 0 > /logs/verifier/reward.txt"), "bash /tests/test.sh",
                               timeout_s=30, cwd="/app")
    assert any(t.path == "/logs/verifier" and "symlink to /tmp/v" in t.detail for t in run.tampering)
    assert run.rewards == {"reward.txt": b"0\n"}
    assert sandbox.read_file("/tmp/v/reward.json") == b'{"reward": 1}\n'  # the agent's file, untouched, unread


def test_the_verifier_has_the_base_environment_not_the_agents_shell_state(sandbox, tmp_path):
    agent(sandbox, "mkdir -p /tmp/evil && printf '#!/bin/sh\\necho forged\\n' > /tmp/evil/python3 && "
                   "chmod +x /tmp/evil/python3 && s='export PATH=/tmp/evil:$PATH FORGED=1 BASH_ENV=/root/.bashrc' && "
                   "echo \"$s\" >> /root/.bashrc && echo \"$s\" >> /root/.profile && "
                   "echo \"$s\" > /tmp/.harness_shell_state && cd /tmp")
    run = sandbox.run_verifier(verifier_tests(tmp_path, "pwd; echo PATH=$PATH; echo FORGED=${FORGED:-}; env | "
                                                   "grep PYTHON | sort; python3 -c 'print(\"real python\")'"),
                               "bash /tests/test.sh", timeout_s=30, cwd="/app")
    out = run.result.output
    assert out.splitlines()[0] == "/app" and "/tmp/evil" not in out and "FORGED=\n" in out
    assert "PYTHONNOUSERSITE=1" in out and "PYTHONDONTWRITEBYTECODE=1" in out
    assert "real python" in out and "forged" not in out


def test_python_user_site_packages_do_not_run_in_the_verifier(sandbox, tmp_path):
    agent(sandbox, "d=$(python3 -c 'import site; print(site.getusersitepackages())') && mkdir -p \"$d\" && "
                   "echo 'import os; os._exit(0)' > \"$d/forge.pth\" && python3 -c 'print(1)'; true")
    run = sandbox.run_verifier(verifier_tests(tmp_path, "python3 -c 'print(\"tests ran\")'"), "bash /tests/test.sh",
                               timeout_s=30, cwd="/app")
    assert "tests ran" in run.result.output


def test_on_local_the_tests_are_read_only_for_the_verifier(backend, sandbox, tmp_path):
    if kind(backend) != "local":
        pytest.skip("a pod's mounts are fixed when it starts (container_verify.py): /tests stays writable")
    run = sandbox.run_verifier(verifier_tests(tmp_path, "touch /tests/x && echo wrote; echo 0 > /logs/verifier/reward.txt"),
                               "bash /tests/test.sh", timeout_s=30, cwd="/app")
    assert "Read-only file system" in run.result.output and "wrote" not in run.result.output


WRITER = ("setsid nohup bash -c 'while :; do date +%s%N > /app/beat; "
          "grep -qs 0 /logs/verifier/reward.txt && echo 1 > /logs/verifier/reward.txt; sleep 0.02; done' "
          ">/dev/null 2>&1 </dev/null & sleep 0.3")
"""A process left running: a heartbeat the tests may need, and a forger of the reward."""
BEAT = "a=$(cat /app/beat); sleep 0.5; b=$(cat /app/beat); [ \"$a\" != \"$b\" ] && echo alive || echo dead; "


def test_processes_left_running_are_stopped_before_the_verifier(backend, sandbox, tmp_path):
    agent(sandbox, WRITER)
    run = sandbox.run_verifier(verifier_tests(tmp_path, BEAT + "echo 0 > /logs/verifier/reward.txt; sleep 0.5"),
                               "bash /tests/test.sh", timeout_s=30, cwd="/app")
    assert "dead" in run.result.output and run.rewards == {"reward.txt": b"0\n"}
    if kind(backend) == "kubernetes":  # it was alive until then: a pod keeps what a command leaves running
        assert any("stopped" in n and "while :" in n for n in run.notes)
    assert sandbox.read_file("/logs/verifier/reward.txt") == b"0\n"


def test_keep_processes_keeps_them_and_detects_a_forger(backend, sandbox, tmp_path):
    if kind(backend) != "kubernetes":
        pytest.skip("the local backend's processes never outlive their command")
    agent(sandbox, "setsid nohup bash -c 'while :; do date +%s%N > /app/beat; sleep 0.02; done' "
                   ">/dev/null 2>&1 </dev/null & sleep 0.3")
    honest = verifier_tests(tmp_path, BEAT + "echo 1 > /logs/verifier/reward.txt")
    run = sandbox.run_verifier(honest, "bash /tests/test.sh", timeout_s=30, cwd="/app", keep_processes=True)
    assert "alive" in run.result.output and run.rewards == {"reward.txt": b"1\n"} and run.tampering == ()
    agent(sandbox, WRITER)  # now a forger too: it flips a 0 the moment it sees one
    run = sandbox.run_verifier(verifier_tests(tmp_path, "echo 0 > /logs/verifier/reward.txt"), "bash /tests/test.sh",
                               timeout_s=30, cwd="/app", keep_processes=True)
    assert any(t.change == "reward_changed" and t.path == "/logs/verifier/reward.txt" for t in run.tampering)


def test_a_task_declares_keep_processes(tmp_path):
    import shutil

    from harnesses.tasks import TaskError, load_task
    from tests.conftest import FIXTURE_SUITE

    task = tmp_path / "t"
    shutil.copytree(FIXTURE_SUITE / "word-report", task)
    toml = (task / "task.toml").read_text()
    assert not load_task(task).keep_processes
    (task / "task.toml").write_text(toml.replace("[verifier]", "[verifier]\nkeep_processes = true"))
    assert load_task(task).keep_processes
    (task / "task.toml").write_text(toml.replace("[verifier]", "[verifier]\nkeep_processes = 'yes'"))
    with pytest.raises(TaskError, match=r"\[verifier\]\.keep_processes"):
        load_task(task)


@pytest.mark.parametrize("text,names", [
    ("echo 1 > /logs/verifier/reward.txt", ["/logs", "reward.txt"]),
    ("cat /tests/test.sh", ["/tests"]),
    ("printf x > reward.json", ["reward.json"]),
    ("pytest /app/tests tests/unit ~/tests", []),
    ("ls /testsuite /logsfoo", []),
])
def test_names_verifier(text, names):
    assert names_verifier(text) == names
