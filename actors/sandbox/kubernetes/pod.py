"""The sandbox pod: its manifest (a pure function of the task, limits, config and labels) and
what its status says.

`pod_manifest` is what the kubernetes backend creates, and what tests/k8s/test_manifests.py
holds k8s/sandbox/ against: every sandbox pod carries `selfharness.io/sandbox: "true"` (the
default-deny egress NetworkPolicy selects it) and `selfharness.io/internet: "true"` only when
its task opts in (`allow_internet`; a second policy lets exactly those out).

No Kubernetes import here: plain dicts in, plain dicts out.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any

from harnesses.sandbox import Limits

GROUP = "selfharness.io"
SANDBOX_LABEL = f"{GROUP}/sandbox"
RUN_LABEL = f"{GROUP}/run"
EPISODE_LABEL = f"{GROUP}/episode"
TASK_LABEL = f"{GROUP}/task"
INSTANCE_LABEL = f"{GROUP}/instance"
INTERNET_LABEL = f"{GROUP}/internet"
WARM_LABEL = f"{GROUP}/warm"
CREATOR_ANNOTATION = f"{GROUP}/creator"
"""A token unique to one create call: a 409 on a retried create adopts the pod only if it carries ours."""
TASK_ANNOTATION = f"{GROUP}/task-name"
TEMPLATE_ANNOTATION = f"{GROUP}/template"
"""A hash of everything but names and labels: which warm pods can serve which task."""

SANDBOX_SELECTOR = {SANDBOX_LABEL: "true"}
"""The labels every sandbox pod has (the NetworkPolicy's podSelector)."""
CONTAINER = "sandbox"
SCRATCH_DIRS = ("/tests", "/logs", "/solution", "/tmp")
"""emptyDir volumes: writable whatever the image's user, and counted against ephemeral storage."""

KEEP_ALIVE = ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
"""The container's own process: idles, and stops at once on SIGTERM (commands come through exec)."""

_LABEL_VALUE = re.compile(r"[^A-Za-z0-9_.-]+")


def label_value(text: str) -> str:
    """A valid label value (<= 63 characters of [A-Za-z0-9_.-], alphanumeric at both ends)."""
    value = _LABEL_VALUE.sub("-", str(text))[:63].strip("-_.")
    return value or "none"


def pod_name(task_name: str) -> str:
    """`sh-<task>-<8 hex>`: a DNS-1123 name of at most 63 characters, new every call."""
    slug = re.sub(r"[^a-z0-9-]+", "-", task_name.lower()).strip("-")[:40].strip("-") or "task"
    return f"sh-{slug}-{secrets.token_hex(4)}"


def task_image(task: Any, config: Any) -> tuple[str, bool]:
    """The image a task's pod runs, and whether the task's environment files must be copied in
    (true when the image was not built from the task's Dockerfile)."""
    own = task.environment.docker_image
    if config.image:
        return config.image, True
    if not own:
        return config.default_image, True
    if config.registry:
        return f"{config.registry.rstrip('/')}/{own}", False
    return own, False


def _quantity_cpu(cpus: float) -> str:
    milli = max(1, round(cpus * 1000))
    return str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"


def pod_resources(task: Any, config: Any) -> dict[str, dict[str, str]]:
    """Requests and limits from task.toml: cpus, memory, storage (ephemeral-storage)."""
    env = task.environment
    memory = f"{env.memory_mb}Mi"
    storage = f"{env.storage_mb}Mi"
    return {
        "requests": {"cpu": _quantity_cpu(env.cpus * config.cpu_request_fraction), "memory": memory,
                     "ephemeral-storage": storage},
        "limits": {"cpu": _quantity_cpu(env.cpus), "memory": memory, "ephemeral-storage": storage},
    }


def active_deadline_s(task: Any, config: Any, *, warm: bool = False) -> int:
    """How long the pod may live at all: the episode's own bounds plus a margin (plus idle time if warm)."""
    seconds = task.agent_timeout_s + task.verifier_timeout_s + config.pod_deadline_margin_s
    if warm:
        seconds += config.warm_max_idle_s
    return max(60, int(seconds))


def pod_labels(task: Any, *, run: str, episode: str, instance: str, warm: bool = False) -> dict[str, str]:
    """The labels of a sandbox pod: the sandbox selector, run, episode, task, backend instance,
    and the internet opt-in only when the task asks for it."""
    labels = {
        **SANDBOX_SELECTOR,
        "app.kubernetes.io/name": "selfharness-sandbox",
        "app.kubernetes.io/managed-by": "self-harness",
        RUN_LABEL: label_value(run),
        EPISODE_LABEL: label_value(episode),
        TASK_LABEL: label_value(task.name),
        INSTANCE_LABEL: label_value(instance),
    }
    if task.environment.allow_internet:
        labels[INTERNET_LABEL] = "true"
    if warm:
        labels[WARM_LABEL] = "true"
    return labels


def _security_context(config: Any) -> tuple[dict, dict]:
    """(pod, container) security contexts. Root images keep root (Terminal-Bench tasks install
    packages), but never privileged, never escalating, under the runtime's seccomp profile."""
    pod: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    container: dict[str, Any] = {"allowPrivilegeEscalation": False, "privileged": False}
    if config.run_as_user is not None:
        uid = config.run_as_user
        pod.update(runAsNonRoot=True, runAsUser=uid, runAsGroup=uid, fsGroup=uid)
        container["capabilities"] = {"drop": ["ALL"]}
    return pod, container


def pod_manifest(task: Any, limits: Limits, config: Any, labels: dict[str, str], *,
                 name: str | None = None, creator: str = "", warm: bool = False) -> dict:
    """The Pod the kubernetes backend creates for one episode of `task`.

    `limits` bound each command (the backend applies them with ulimit/timeout at exec); the
    pod's own requests and limits come from task.toml. `name` None lets the server pick one
    (generateName), which a retried create cannot adopt, so the backend always passes one.
    """
    image, _ = task_image(task, config)
    pod_sc, container_sc = _security_context(config)
    volumes = [{"name": _volume_name(d), "emptyDir": {"sizeLimit": f"{max(64, limits.disk_mb)}Mi"}}
               for d in SCRATCH_DIRS]
    container = {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": config.image_pull_policy,
        "command": list(KEEP_ALIVE),
        "workingDir": task.workdir,
        "resources": pod_resources(task, config),
        "securityContext": container_sc,
        "volumeMounts": [{"name": _volume_name(d), "mountPath": d} for d in SCRATCH_DIRS],
        "stdin": False,
        "tty": False,
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "serviceAccountName": config.service_account,
        "enableServiceLinks": False,
        "hostNetwork": False,
        "hostPID": False,
        "hostIPC": False,
        "terminationGracePeriodSeconds": 1,
        "activeDeadlineSeconds": active_deadline_s(task, config, warm=warm),
        "securityContext": pod_sc,
        "containers": [container],
        "volumes": volumes,
    }
    if config.node_selector:
        spec["nodeSelector"] = dict(config.node_selector)
    if config.tolerations:
        spec["tolerations"] = [dict(t) for t in config.tolerations]
    if config.priority_class:
        spec["priorityClassName"] = config.priority_class
    if config.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in config.image_pull_secrets]
    metadata: dict[str, Any] = {
        "namespace": config.namespace,
        "labels": dict(labels),
        "annotations": {TASK_ANNOTATION: task.name, CREATOR_ANNOTATION: creator},
    }
    if name:
        metadata["name"] = name
    else:
        metadata["generateName"] = "sh-"
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    metadata["annotations"][TEMPLATE_ANNOTATION] = template_key(manifest)
    return manifest


def template_key(manifest: dict) -> str:
    """A hash of the pod's spec and internet opt-in, without what differs between episodes
    (the deadline too: a warm pod's is longer): pods with the same key are interchangeable."""
    spec = dict(manifest["spec"])
    spec.pop("activeDeadlineSeconds", None)
    internet = manifest["metadata"].get("labels", {}).get(INTERNET_LABEL, "")  # the NetworkPolicy reads it
    blob = json.dumps([spec, internet], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _volume_name(path: str) -> str:
    return "scratch-" + path.strip("/").replace("/", "-")


# --------------------------------------------------------------------------- status


PULL_ERRORS = {"ErrImagePull", "ImagePullBackOff", "RegistryUnavailable", "ErrImageNeverPull",
               "InvalidImageName", "ImageInspectError", "SignatureValidationFailed"}
PERMANENT_PULL_ERRORS = {"InvalidImageName", "ErrImageNeverPull"}
"""No new pod can fix these: the image name itself is wrong, or pulls are forbidden."""
START_ERRORS = {"StartError", "ContainerCannotRun", "CreateContainerError", "RunContainerError"}
"""A terminated container that never ran: the image cannot run the sandbox's keep-alive command."""
CONFIG_ERRORS = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
                 "PreCreateHookError", "PostStartHookError", "CrashLoopBackOff"}


class PodState:
    """What a pod's status means to the backend: ready, still starting, or failed (and how)."""

    READY, STARTING, FAILED = "ready", "starting", "failed"

    def __init__(self, state: str, kind: str = "", reason: str = "", message: str = "", retryable: bool = True):
        self.state, self.kind, self.reason, self.message, self.retryable = state, kind, reason, message, retryable

    def __repr__(self) -> str:
        return f"PodState({self.state}, {self.kind}, {self.reason}: {self.message})"

    def describe(self) -> str:
        text = f"{self.kind}: {self.reason}" if self.reason else self.kind
        return f"{text}: {self.message}" if self.message else text


def read_state(pod: Any) -> PodState:
    """Interpret a V1Pod (the client's model) as a PodState."""
    meta, status = pod.metadata, pod.status
    if meta is not None and meta.deletion_timestamp is not None:
        return PodState(PodState.FAILED, "deleted", "Terminating", "the pod is being deleted")
    if status is None:
        return PodState(PodState.STARTING, "pending")
    phase = status.phase or "Pending"
    if phase in ("Failed", "Succeeded"):
        if not status.reason:  # no eviction, deadline or node loss: did the container fail to run at all?
            for cs in status.container_statuses or []:
                t = cs.state.terminated if cs.state is not None else None
                if t is not None and t.reason in START_ERRORS:
                    return PodState(PodState.FAILED, "container", t.reason,
                                    f"exit code {t.exit_code}: {t.message or ''}".strip(), retryable=False)
        return PodState(PodState.FAILED, "terminated", status.reason or phase, status.message or "")
    for cs in status.container_statuses or []:
        state = cs.state
        if state is None:
            continue
        if state.waiting is not None and state.waiting.reason:
            reason, message = state.waiting.reason, state.waiting.message or ""
            if reason in PULL_ERRORS:
                return PodState(PodState.FAILED, "image_pull", reason, message,
                                retryable=reason not in PERMANENT_PULL_ERRORS)
            if reason in CONFIG_ERRORS:
                return PodState(PodState.FAILED, "container", reason, message, retryable=False)
        if state.terminated is not None:
            t = state.terminated
            return PodState(PodState.FAILED, "container", t.reason or "Terminated",
                            f"exit code {t.exit_code}: {t.message or ''}".strip(), retryable=False)
    conditions = {c.type: c for c in status.conditions or []}
    ready = conditions.get("Ready")
    if phase == "Running" and ready is not None and ready.status == "True":
        return PodState(PodState.READY)
    scheduled = conditions.get("PodScheduled")
    if scheduled is not None and scheduled.status == "False":
        return PodState(PodState.STARTING, "unschedulable", scheduled.reason or "Unschedulable",
                        scheduled.message or "")
    waiting = [cs.state.waiting.reason for cs in status.container_statuses or []
               if cs.state is not None and cs.state.waiting is not None and cs.state.waiting.reason]
    return PodState(PodState.STARTING, "starting", ", ".join(waiting) or phase, "")


# --------------------------------------------------------------------------- the reference template


def reference_template() -> dict:
    """k8s/sandbox/pod-template.yaml: the pod of an example task with the default config, as a
    PodTemplate object (documentation in the cluster; tests/k8s/test_manifests.py keeps it equal
    to what `pod_manifest` makes). Regenerate:
    python -m actors.sandbox.kubernetes.pod > k8s/sandbox/pod-template.yaml"""
    from actors.sandbox.config import KubernetesSandboxConfig
    from harnesses.tasks import EnvironmentSpec, Task

    config = KubernetesSandboxConfig()
    task = Task(name="example-task", path="/nonexistent", instruction="an example",
                environment=EnvironmentSpec(docker_image="example/task-image:1", cpus=1, memory_mb=2048,
                                            storage_mb=10240))
    labels = pod_labels(task, run="RUN", episode="EPISODE", instance="INSTANCE")
    pod = pod_manifest(task, Limits(), config, labels, name="sh-example-task-0000", creator="CREATOR")
    meta = pod["metadata"]
    return {"apiVersion": "v1", "kind": "PodTemplate",
            "metadata": {"name": "selfharness-sandbox", "namespace": config.namespace,
                         "labels": {"app.kubernetes.io/name": "selfharness-sandbox",
                                    "app.kubernetes.io/managed-by": "self-harness"},
                         "annotations": {"selfharness.io/note": "documentation: the backend builds each pod "
                                                                "with actors/sandbox/kubernetes/pod.py:pod_manifest"}},
            "template": {"metadata": {"labels": meta["labels"], "annotations": meta["annotations"]},
                         "spec": pod["spec"]}}


if __name__ == "__main__":
    import sys

    import yaml

    sys.stdout.write("# Generated by `python -m actors.sandbox.kubernetes.pod`: the pod the kubernetes backend\n"
                     "# makes for an example task (cpus 1, memory 2G, storage 10G) with the default\n"
                     "# KubernetesSandboxConfig. UPPERCASE label values are per run, episode and backend instance.\n")
    sys.stdout.write(yaml.safe_dump(reference_template(), sort_keys=False))
