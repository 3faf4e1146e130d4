"""The kubernetes sandbox backend: one pod per episode, from the task's own image.

`open(task, limits)`:

1. A pod from `pod_manifest` (pod.py): the task's `docker_image` (or a registry mirror of
   it), requests and limits from task.toml, no service-account token, labels for the run, the
   episode, the task and this backend instance. With a warm pool, a ready pod of the same
   template is taken instead (relabelled for its episode).
2. Its status is polled until it is Ready or `ready_timeout_s` passes. An image-pull error, a
   pod that cannot be scheduled, one that is not ready in time or dies while starting is an
   infrastructure failure: the pod is deleted and a new one tried after a backoff, up to
   `start_retries` times; then `SandboxError`, which the episode records as `infra_error`,
   never as the agent's failure. Errors no new pod can fix (an invalid image name, a container
   that cannot be created) are not retried.
3. A probe checks that the image has what the exec protocol needs (stream.py); tasks whose
   image was not built from their Dockerfile get their environment files copied in.

Commands, files and the verifier then run through the exec stream (stream.py), each with a
deadline. The verifier runs in the clean context of container_verify.py: before it, every
process the agent left in the pod is stopped (unless the task declares `keep_processes`), so
none can change the reward after `test.sh` writes it; `/tests` and `/logs/verifier` are
compared with the snapshot taken at start (tampering is recorded) and replaced. A stream that
breaks or hangs is retried when nothing can have run twice (a refused handshake; file copies
and probes, which are idempotent); an agent command whose stream broke after it started is not
re-run: that is a `SandboxError` (infrastructure), since the command may or may not have had
its effect.

`close()` always deletes the pod (a finalizer does it too if a sandbox is dropped unclosed);
`KubernetesSandboxBackend.close()` deletes whatever this backend still has. A periodic sweep
(sweeper.py) deletes finished pods and this instance's orphans; `python -m
actors.sandbox.kubernetes.sweeper --run RUN` deletes the pods of a dead run by its label.

The modules: `backend` makes and deletes the pods, `sandbox` is one episode's pod, `stream` runs
commands and copies files through the exec API, `pod` is the manifest and what a pod's status
says, `api` the API calls, `sweeper` and `warm` the sweep and the warm pool; the output is kept by
actors/sandbox/output.py, as in the local backend. The names below load on first use, so that
`python -m actors.sandbox.kubernetes.pod` (or `.sweeper`) runs its module once.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KubernetesSandbox", "KubernetesSandboxBackend"]


def __getattr__(name: str) -> Any:
    if name == "KubernetesSandboxBackend":
        from actors.sandbox.kubernetes.backend import KubernetesSandboxBackend

        return KubernetesSandboxBackend
    if name == "KubernetesSandbox":
        from actors.sandbox.kubernetes.sandbox import KubernetesSandbox

        return KubernetesSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
