"""The kubernetes sandbox backend against the API server double (benchmarks/doubles/kube_apiserver.py):
the real `kubernetes` client on the real wire, pods backed by bubblewrap sandboxes.

The pod manifest, exec with its deadlines, files as tar, start failures and their retries,
API errors (409, 429, 500, 403), the sweeper, the warm pool, config discovery, and that every
request the backend makes is covered by the RBAC it declares.
"""

from __future__ import annotations

import gc
import re
import time

import msgspec
import pytest

from actors.sandbox.config import KubernetesSandboxConfig
from actors.sandbox.kubernetes import KubernetesSandboxBackend
from actors.sandbox.kubernetes.api import RBAC, KubeAPI, backoff_s
from actors.sandbox.kubernetes.pod import (EPISODE_LABEL, INSTANCE_LABEL, INTERNET_LABEL, RUN_LABEL, SANDBOX_LABEL,
                                           TASK_LABEL, WARM_LABEL, PodState, label_value, pod_labels, pod_manifest,
                                           pod_name, read_state, task_image, template_key)
from actors.sandbox.kubernetes.sweeper import main as sweeper_main
from actors.sandbox.kubernetes.sweeper import sweep
from benchmarks.doubles.kube_apiserver import V4, V5, ImageRegistry, KubeAPIServerDouble
from harnesses.sandbox import Limits, SandboxError
from harnesses.tasks import load_suite, run_oracle, run_verifier
from tests.conftest import CORE_SUITE, needs_bwrap

pytestmark = needs_bwrap
TASK = "bigram-frequency-top"


@pytest.fixture(scope="module")
def suite():
    return load_suite(CORE_SUITE)


@pytest.fixture(scope="module")
def task(suite):
    return suite.tasks[TASK]


@pytest.fixture(scope="module")
def double(suite):
    with KubeAPIServerDouble(ImageRegistry.from_suite(suite)) as api:
        yield api


@pytest.fixture(autouse=True)
def _clean_faults(request):
    yield
    if "double" in request.fixturenames:
        request.getfixturevalue("double").clear_faults()


def kconfig(double, **kw) -> KubernetesSandboxConfig:
    base = dict(host=double.url, poll_interval_s=0.02, ready_timeout_s=5.0, backoff_s=0.01, backoff_max_s=0.05,
                start_retries=2, api_retries=3, exec_retries=2, exec_connect_timeout_s=2.0, exec_grace_s=1.0,
                file_timeout_s=10.0, api_timeout_s=10.0, sweep_interval_s=None, run_label="unit")
    base.update(kw)
    return KubernetesSandboxConfig(**base)


@pytest.fixture()
def backend(double):
    b = KubernetesSandboxBackend(kconfig(double))
    yield b
    b.close()
    assert double.pods(f"{INSTANCE_LABEL}={b.instance}") == []


def with_env(task, **env):
    return msgspec.structs.replace(task, environment=msgspec.structs.replace(task.environment, **env))


# --------------------------------------------------------------------------- the manifest


def test_pod_manifest_takes_resources_and_image_from_task_toml(task):
    config = KubernetesSandboxConfig()
    labels = pod_labels(task, run="run 1", episode="ep", instance="me")
    pod = pod_manifest(task, Limits(disk_mb=512), config, labels, name=pod_name(task.name), creator="tok")
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert container["image"] == "selfharness/core-bigram-frequency-top:1" == task.environment.docker_image
    assert container["resources"] == {"requests": {"cpu": "1", "memory": "1024Mi", "ephemeral-storage": "1024Mi"},
                                      "limits": {"cpu": "1", "memory": "1024Mi", "ephemeral-storage": "1024Mi"}}
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == "selfharness-sandbox"
    assert spec["restartPolicy"] == "Never" and spec["enableServiceLinks"] is False
    assert not spec["hostNetwork"] and not spec["hostPID"] and not spec["hostIPC"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert spec["activeDeadlineSeconds"] == int(task.agent_timeout_s + task.verifier_timeout_s + 600)
    assert container["workingDir"] == "/app"
    meta = pod["metadata"]
    assert meta["labels"][SANDBOX_LABEL] == "true" and meta["labels"][RUN_LABEL] == "run-1"
    assert meta["labels"][EPISODE_LABEL] == "ep" and meta["labels"][TASK_LABEL] == TASK
    assert INTERNET_LABEL not in meta["labels"] and meta["namespace"] == "selfharness-sandbox"
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", meta["name"]) and len(meta["name"]) <= 63
    assert {v["mountPath"] for v in container["volumeMounts"]} == {"/tests", "/logs", "/solution", "/tmp"}


def test_pod_manifest_options(task):
    net = with_env(task, allow_internet=True, cpus=0.5, docker_image=None)
    config = KubernetesSandboxConfig(run_as_user=1000, registry="mirror.local/tb", cpu_request_fraction=0.5,
                                     node_selector={"pool": "sandbox"}, image_pull_secrets=["regcred"])
    labels = pod_labels(net, run="r", episode="e", instance="i")
    assert labels[INTERNET_LABEL] == "true"
    pod = pod_manifest(net, Limits(), config, labels, name="x")
    spec, container = pod["spec"], pod["spec"]["containers"][0]
    assert container["image"] == "python:3.11-slim" and task_image(net, config) == ("python:3.11-slim", True)
    assert task_image(task, config) == ("mirror.local/tb/selfharness/core-bigram-frequency-top:1", False)
    assert container["resources"]["requests"]["cpu"] == "250m" and container["resources"]["limits"]["cpu"] == "500m"
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["nodeSelector"] == {"pool": "sandbox"} and spec["imagePullSecrets"] == [{"name": "regcred"}]
    # a warm pod serves any episode of the same template, never one with another internet opt-in
    other = pod_manifest(net, Limits(), config, pod_labels(net, run="r", episode="f", instance="j"), name="y")
    assert template_key(other) == template_key(pod)
    closed = with_env(net, allow_internet=False)
    assert template_key(pod_manifest(closed, Limits(), config, pod_labels(closed, run="r", episode="e", instance="i"),
                                     name="z")) != template_key(pod)
    assert label_value("a b/c" * 30) == label_value("a b/c" * 30)[:63] and len(label_value("x" * 99)) == 63


def test_pod_states_from_status():
    from kubernetes.client import V1Pod

    def state(status, deleting=False):
        meta = {"name": "p", **({"deletionTimestamp": "2026-01-01T00:00:00Z"} if deleting else {})}
        return read_state(V1Pod.from_dict({"metadata": meta, "status": status}))

    def waiting(reason):
        return {"phase": "Pending", "containerStatuses": [{"name": "sandbox", "image": "i", "imageID": "",
                                                           "ready": False, "restartCount": 0,
                                                           "state": {"waiting": {"reason": reason}}}]}

    ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    assert state(ready).state == PodState.READY
    assert state(ready, deleting=True).kind == "deleted"
    pull = state(waiting("ImagePullBackOff"))
    assert (pull.state, pull.kind, pull.retryable) == (PodState.FAILED, "image_pull", True)
    assert state(waiting("InvalidImageName")).retryable is False
    assert state(waiting("CreateContainerConfigError")).kind == "container"
    assert state(waiting("ContainerCreating")).state == PodState.STARTING
    unsched = state({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                                                         "reason": "Unschedulable", "message": "no cpu"}]})
    assert (unsched.state, unsched.kind) == (PodState.STARTING, "unschedulable")
    evicted = state({"phase": "Failed", "reason": "Evicted", "message": "low on ephemeral storage"})
    assert (evicted.kind, evicted.retryable) == ("terminated", True)


def test_backoff_doubles_with_jitter_and_a_cap():
    import random

    rng = random.Random(1)
    for attempt in range(8):
        full = min(10.0, 0.5 * 2 ** attempt)
        assert full / 2 <= backoff_s(attempt, 0.5, 10.0, rng) <= full


# --------------------------------------------------------------------------- commands and files


def test_exec_runs_in_the_pod(backend, task, double):
    with backend.open(task, Limits()) as sb:
        pod = double.pod(sb.name)
        assert pod is not None and pod.ready
        r = sb.exec("echo out; echo err >&2; pwd; echo $FOO; exit 3", timeout_s=10, env={"FOO": "bar baz"})
        assert (r.exit_code, r.output, r.timed_out, r.killed_by) == (3, "out\nerr\n/app\nbar baz\n", False, None)
        assert sb.exec("ls /app", timeout_s=10).output.split() == ["corpus", "stopwords.txt"]  # the image's files
        assert sb.exec("pwd", timeout_s=10, cwd="/tmp").output == "/tmp\n"
        missing = sb.exec("true", timeout_s=10, cwd="/nope")
        assert missing.exit_code == 1 and "No such file or directory" in missing.output
        quoted = sb.exec("printf '%s|' \"a b\" 'c\"d' $'e\\tf'; cat <<'EOF'\n$HOME `x`\nEOF", timeout_s=10)
        assert quoted.output == 'a b|c"d|e\tf|$HOME `x`\n'
        # stdin of a command is empty, as in the local backend
        assert sb.exec("cat; echo done", timeout_s=10).output == "done\n"
        with pytest.raises(ValueError):
            sb.exec("true", timeout_s=0)
        with pytest.raises(ValueError):
            sb.exec("true", timeout_s=5, env={"A=B": "x"})


def test_exec_output_is_capped_head_and_tail(double, task):
    b = KubernetesSandboxBackend(kconfig(double))
    try:
        with b.open(task, Limits(max_output_bytes=1000)) as sb:
            r = sb.exec("seq 1 200000; echo LAST", timeout_s=30)
            assert r.truncated and r.output_bytes > 1_000_000 and r.output.startswith("1\n2\n")
            assert r.output.endswith("LAST\n") and "bytes truncated" in r.output and len(r.output) < 1200
    finally:
        b.close()


def test_command_timeout_is_enforced_in_the_pod(backend, task):
    with backend.open(task, Limits()) as sb:
        r = sb.exec("echo start; sleep 60; echo never", timeout_s=1)
        assert r.timed_out and r.exit_code == 124 and r.killed_by == "timeout" and r.output == "start\n"
        stubborn = sb.exec("trap '' TERM; sleep 60", timeout_s=1)  # ignores SIGTERM: timeout -k kills it
        assert stubborn.timed_out and stubborn.killed_by == "timeout"
        assert sb.exec("echo alive", timeout_s=5).output == "alive\n"


def test_files_in_and_out_as_tar(backend, task, tmp_path):
    with backend.open(task, Limits()) as sb:
        blob = bytes(range(256)) * 8192  # 2 MiB of every byte value: many websocket frames each way
        sb.write_file("/app/deep/dir/blob.bin", blob)
        assert sb.read_file("/app/deep/dir/blob.bin") == blob
        assert sb.exec("stat -c %s /app/deep/dir/blob.bin", timeout_s=10).output.strip() == str(len(blob))
        sb.write_file("/app/deep/dir/blob.bin", b"short")  # overwrite
        assert sb.read_file("/app/deep/dir/blob.bin") == b"short"
        with pytest.raises(FileNotFoundError):
            sb.read_file("/app/missing.txt")
        with pytest.raises(IsADirectoryError):
            sb.read_file("/app/deep")
        with pytest.raises(IsADirectoryError):
            sb.write_file("/app/deep", b"x")
        with pytest.raises(ValueError):
            sb.read_file("relative/path")
        sb.exec("ln -s /app/stopwords.txt /app/link", timeout_s=5)
        assert sb.read_file("/app/link") == sb.read_file("/app/stopwords.txt") != b""
        src = tmp_path / "tree"
        (src / "sub").mkdir(parents=True)
        (src / "run.sh").write_text("#!/bin/sh\necho ran\n")
        (src / "run.sh").chmod(0o755)
        (src / "sub" / "data.txt").write_text("data\n")
        sb.upload_dir(src, "/tests/new")
        assert sb.exec("/tests/new/run.sh && cat /tests/new/sub/data.txt", timeout_s=10).output == "ran\ndata\n"


def test_oracle_and_verifier_run_in_the_pod(backend, task):
    with backend.open(task, Limits()) as sb:
        assert run_verifier(sb, task).reward == 0.0
        assert run_oracle(sb, task).exit_code == 0
        verdict = run_verifier(sb, task)
        assert verdict.reward == 1.0 and verdict.error is None


def test_a_task_without_an_image_gets_its_files_copied_in(backend, task, double):
    plain = with_env(task, docker_image=None)
    with backend.open(plain, Limits()) as sb:
        assert double.pod(sb.name).image == "python:3.11-slim"
        assert sb.exec("ls /app", timeout_s=10).output.split() == ["corpus", "stopwords.txt"]
        assert run_oracle(sb, plain).exit_code == 0 and run_verifier(sb, plain).reward == 1.0


def test_close_deletes_the_pod_even_when_forgotten(double, task):
    b = KubernetesSandboxBackend(kconfig(double))
    try:
        sb = b.open(task, Limits())
        name = sb.name
        sb.close()
        sb.close()  # idempotent
        assert double.pod(name) is None
        with pytest.raises(SandboxError):
            sb.exec("true", timeout_s=5)
        forgotten = b.open(task, Limits()).name
        gc.collect()  # the sandbox object is gone: its finalizer deletes the pod
        assert double.pod(forgotten) is None and b.live_names() == set()
    finally:
        b.close()


# --------------------------------------------------------------------------- exec faults


def agent_command(labels, argv, index):
    return argv[:2] == ["bash", "-c"] and "__selfharness" in argv[2]


def file_write(labels, argv, index):
    return argv[0] == "sh" and "tar -xof" in argv[2]


def test_a_hung_stream_costs_its_deadline_not_the_episode(double, task):
    b = KubernetesSandboxBackend(kconfig(double, exec_grace_s=0.5, file_timeout_s=2.0))
    try:
        with b.open(task, Limits()) as sb:
            double.fail_exec("hang", when=agent_command, times=1)
            with pytest.raises(SandboxError, match="hung"):
                sb.exec("echo hi", timeout_s=1)
            double.fail_exec("hang", when=file_write, times=1)  # idempotent: retried
            sb.write_file("/app/x.txt", b"x")
            assert sb.read_file("/app/x.txt") == b"x"
        assert double.injected["exec_hang"] == 2 and b.stats()["exec_retries"] == 1
    finally:
        b.close()


def test_a_handshake_that_never_answers_is_abandoned(double, task):
    b = KubernetesSandboxBackend(kconfig(double, exec_connect_timeout_s=0.5))
    try:
        with b.open(task, Limits()) as sb:
            double.fail_http("GET", r"/exec$", 504, stall_s=5, times=1)
            with pytest.raises(SandboxError, match="handshake"):
                sb.exec("echo hi", timeout_s=5)
            double.fail_http("GET", r"/exec$", 504, stall_s=5, times=1)
            assert sb.read_file("/app/stopwords.txt")  # a read is retried
    finally:
        b.close()


def test_a_dropped_stream_is_an_infra_error_for_commands_and_retried_for_copies(double, task):
    b = KubernetesSandboxBackend(kconfig(double))
    try:
        with b.open(task, Limits()) as sb:
            double.fail_exec("drop", when=agent_command, times=1)
            with pytest.raises(SandboxError, match="stream broke|without an exit status"):
                sb.exec("echo ran >> /app/count.txt", timeout_s=5)
            # it did run: that is why an agent command is never re-run after its stream broke
            assert sb.read_file("/app/count.txt") == b"ran\n"
            double.fail_exec("drop", when=file_write, times=1)
            sb.write_file("/app/y.txt", b"y")
            double.fail_exec("drop_before", when=agent_command, times=1)
            with pytest.raises(SandboxError):
                sb.exec("true", timeout_s=5)
            assert sb.read_file("/app/y.txt") == b"y"
        assert double.injected["exec_drop"] == 2 and double.injected["exec_drop_before"] == 1
    finally:
        b.close()


def test_a_refused_handshake_is_retried_even_for_commands(backend, task, double):
    with backend.open(task, Limits()) as sb:
        double.fail_http("GET", r"/exec$", 500, times=2)
        assert sb.exec("echo once >> /app/n.txt; cat /app/n.txt", timeout_s=5).output == "once\n"
        assert double.injected["http_GET_500"] == 2
        double.fail_http("GET", r"/exec$", 403, times=1)
        with pytest.raises(SandboxError, match="403"):
            sb.exec("true", timeout_s=5)


def test_v5_protocol_and_a_bearer_token(suite, task, monkeypatch):
    monkeypatch.setenv("TEST_KUBE_TOKEN", "s3cret")
    with KubeAPIServerDouble(ImageRegistry.from_suite(suite), protocols=(V5, V4), token="s3cret") as api:
        b = KubernetesSandboxBackend(kconfig(api, token_env="TEST_KUBE_TOKEN"))
        try:
            with b.open(task, Limits()) as sb:
                sb.write_file("/app/v5.txt", b"five")
                assert sb.exec("cat /app/v5.txt", timeout_s=5).output == "five"
        finally:
            b.close()
        monkeypatch.setenv("TEST_KUBE_TOKEN", "wrong")
        b = KubernetesSandboxBackend(kconfig(api, token_env="TEST_KUBE_TOKEN"))
        try:
            with pytest.raises(SandboxError, match="401"):
                b.open(task, Limits())
        finally:
            b.close()


# --------------------------------------------------------------------------- start faults


def test_an_image_pull_error_is_retried_with_a_new_pod(backend, task, double):
    created = double.pods_created
    double.fail_pods("image_pull", image=TASK, times=1)
    with backend.open(task, Limits()) as sb:
        assert sb.exec("echo ok", timeout_s=5).output == "ok\n"
    stats = backend.stats()
    assert stats["start_failed_image_pull"] == 1 and stats["start_retries"] == 1
    assert double.pods_created - created == 2


def test_a_lasting_pull_error_is_an_infra_error_after_the_retries(backend, task, double):
    created = double.pods_created
    double.fail_pods("image_pull", image=TASK, times=None)
    with pytest.raises(SandboxError, match="ImagePullBackOff|ErrImagePull") as err:
        backend.open(task, Limits())
    assert "3 tried" in str(err.value) and double.pods_created - created == 3
    assert double.pods(f"{INSTANCE_LABEL}={backend.instance}") == []


def test_errors_no_new_pod_can_fix_are_not_retried(backend, task, double):
    created = double.pods_created
    double.fail_pods("invalid_image", image=TASK, times=None)
    with pytest.raises(SandboxError, match="InvalidImageName"):
        backend.open(task, Limits())
    double.clear_faults()
    double.fail_pods("crash", image=TASK, times=1)
    with pytest.raises(SandboxError, match="StartError.*log: exec /bin/sh"):  # the message has the log's tail
        backend.open(task, Limits())
    assert double.pods_created - created == 2


def test_an_unknown_image_fails_to_pull(backend, task, double):
    with pytest.raises(SandboxError, match="pull access denied"):
        backend.open(with_env(task, docker_image="nobody/nothing:0"), Limits())


def test_readiness_has_a_deadline(double, task):
    b = KubernetesSandboxBackend(kconfig(double, ready_timeout_s=1.0, start_retries=1))
    try:
        double.fail_pods("slow", image=TASK, seconds=0.3, times=1)
        with b.open(task, Limits()) as sb:  # slow but within the deadline
            assert sb.exec("true", timeout_s=5).exit_code == 0
        double.fail_pods("slow", image=TASK, seconds=30, times=None)
        with pytest.raises(SandboxError, match="ready_timeout.*not ready after 1s"):
            b.open(task, Limits())
        double.clear_faults()
        double.fail_pods("unschedulable", image=TASK, times=None)
        with pytest.raises(SandboxError, match="unschedulable: Unschedulable.*Insufficient cpu"):
            b.open(task, Limits())
    finally:
        b.close()
    assert double.pods(f"{INSTANCE_LABEL}={b.instance}") == []


# --------------------------------------------------------------------------- API errors


def test_a_create_whose_answer_was_lost_is_adopted(backend, task, double):
    created = double.pods_created
    double.fail_http("POST", r"/pods$", 500, commit=True, times=1)  # made, but the client hears 500
    with backend.open(task, Limits()) as sb:
        assert sb.exec("echo ok", timeout_s=5).output == "ok\n"
    assert backend.stats()["create_adopted"] == 1 and double.pods_created - created == 1


def test_a_name_taken_by_someone_else_gets_a_new_name(backend, task, double):
    double.fail_http("POST", r"/pods$", 409, times=1)
    with backend.open(task, Limits()):
        pass
    assert backend.stats()["create_name_taken"] == 1


def test_5xx_and_429_are_retried_and_403_is_not(backend, task, double):
    double.fail_http("POST", r"/pods$", 503, times=2)
    double.fail_http("GET", r"/pods/[^/]+$", 500, times=2)
    double.fail_http("DELETE", r"/pods/[^/]+$", 500, times=1)
    double.fail_http("GET", r"/pods$", 429, retry_after=0.01, times=1)
    with backend.open(task, Limits()) as sb:
        name = sb.name
    assert double.pod(name) is None and sweep(backend.api, dead_runs=["none"]) == {}  # a list, with its 429
    assert backend.stats()["api_retries"] == 6
    double.fail_http("POST", r"/pods$", 403, reason="Forbidden", times=1)
    with pytest.raises(SandboxError, match="403.*Forbidden"):
        backend.open(task, Limits())


# --------------------------------------------------------------------------- sweeper, warm pool, RBAC


def test_the_sweeper_deletes_by_label(double, task, capsys):
    dead = KubernetesSandboxBackend(kconfig(double, run_label="dead-run"))
    live = KubernetesSandboxBackend(kconfig(double, run_label="live-run"))
    try:
        gone = dead.open(task, Limits())
        kept = live.open(task, Limits())
        dead._live.clear()  # as if its process had died: nobody will close it
        assert sweep(live.api, dead_runs=["elsewhere"]) == {}
        assert sweep(live.api, dead_runs=["dead-run"]) == {gone.name: "dead run"}
        assert double.pod(gone.name) is None and double.pod(kept.name) is not None
        orphan = live.open(task, Limits())
        live._live.discard(orphan.name)  # a delete that failed: this instance's own orphan
        assert live.sweeper is None
        assert sweep(live.api, instance=live.instance, keep=live.live_names()) == {orphan.name: "orphan"}
        assert double.pod(kept.name) is not None
        assert sweeper_main(["--host", double.url, "--run", "live-run"]) == 0
        assert f"deleted {kept.name}\tdead run" in capsys.readouterr().out
        assert double.pods(f"{RUN_LABEL}=live-run") == []
    finally:
        dead.close()
        live.close()


def test_the_periodic_sweeper_removes_finished_pods(double, task):
    b = KubernetesSandboxBackend(kconfig(double, sweep_interval_s=0.1))
    try:
        api = KubeAPI(kconfig(double))
        labels = pod_labels(task, run="other", episode="e", instance="someone-else")
        double.fail_pods("crash", image=TASK, times=1)
        api.create_pod(pod_manifest(task, Limits(), api.config, labels, name="sh-finished-1"))
        for _ in range(200):  # the sweeper counts a pod once its DELETE has returned
            if b.stats().get("pods_swept", 0) >= 1:
                break
            time.sleep(0.05)
        assert double.pod("sh-finished-1") is None and b.stats()["pods_swept"] == 1
    finally:
        b.close()


def test_the_warm_pool_hands_out_ready_pods(double, task):
    b = KubernetesSandboxBackend(kconfig(double, warm_pool=2))
    try:
        first = b.open(task, Limits())  # a miss: starts its own pod, and the pool fills for this template
        assert b.warm is not None and b.warm.wait_idle(2, 30)
        warm = double.pods(f"{WARM_LABEL}=true")
        assert len(warm) == 2 and all(p["metadata"]["labels"][RUN_LABEL] == "unit" for p in warm)
        second = b.open(task, Limits())
        labels = double.pod(second.name).labels
        assert second.name in {p["metadata"]["name"] for p in warm}
        assert WARM_LABEL not in labels and labels[EPISODE_LABEL] != "warm"
        assert second.exec("ls /app", timeout_s=5).output.split() == ["corpus", "stopwords.txt"]
        stats = b.stats()
        assert stats["warm_hits"] == 1 and stats["warm_misses"] == 1
        first.close()
        second.close()
        assert b.warm.wait_idle(2, 30)  # topped up again
    finally:
        b.close()
    assert double.pods(f"{INSTANCE_LABEL}={b.instance}") == []


def test_the_role_covers_exactly_what_the_backend_calls(suite, task):
    with KubeAPIServerDouble(ImageRegistry.from_suite(suite)) as api:
        b = KubernetesSandboxBackend(kconfig(api, warm_pool=1))
        try:
            b.open(task, Limits()).close()       # create, get, exec, delete; fills the pool
            assert b.warm.wait_idle(1, 30)
            b.open(task, Limits()).close()       # patch (a warm pod relabelled)
            other = suite.tasks["c-compile-greeter"]  # not the warm template, whose refills go on meanwhile
            api.fail_pods("crash", task=other.name, times=None)
            with pytest.raises(SandboxError):
                b.open(other, Limits())          # log (why it crashed)
            sweep(b.api)                         # list
        finally:
            b.close()
        declared = {(resource, verb) for resource, verbs in RBAC.items() for verb in verbs}
        assert api.rbac_used == declared


# --------------------------------------------------------------------------- config discovery


def test_in_cluster_config_first_then_kubeconfig(double, task, tmp_path, monkeypatch):
    import kubernetes.config as kc
    from kubernetes.config import ConfigException

    from actors.sandbox.kubernetes.api import client_configuration

    calls = []

    def incluster(client_configuration=None, **kw):
        calls.append("in-cluster")
        client_configuration.host = double.url

    monkeypatch.setattr(kc, "load_incluster_config", incluster)
    assert client_configuration(KubernetesSandboxConfig()).host == double.url and calls == ["in-cluster"]

    def not_in_cluster(client_configuration=None, **kw):
        calls.append("in-cluster")
        raise ConfigException("not in a cluster")

    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: double, cluster: {{server: "{double.url}"}}}}]
users: [{{name: me, user: {{token: abc}}}}]
contexts: [{{name: ctx, context: {{cluster: double, user: me}}}}]
current-context: ctx
""")
    monkeypatch.setattr(kc, "load_incluster_config", not_in_cluster)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    b = KubernetesSandboxBackend(KubernetesSandboxConfig(sweep_interval_s=None, poll_interval_s=0.02))
    try:
        assert b.api.client_config.host == double.url and calls[-1] == "in-cluster"
        with b.open(task, Limits()) as sb:
            assert sb.exec("echo via kubeconfig", timeout_s=5).output == "via kubeconfig\n"
    finally:
        b.close()
    explicit = client_configuration(KubernetesSandboxConfig(kubeconfig=str(kubeconfig), context="ctx"))
    assert explicit.host == double.url and calls.count("in-cluster") == 2  # an explicit kubeconfig skips it


def test_the_factory_builds_it(double):
    from actors.sandbox.factory import build_backend

    backend = build_backend(kconfig(double))
    try:
        assert isinstance(backend, KubernetesSandboxBackend)
    finally:
        backend.close()
