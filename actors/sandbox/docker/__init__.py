"""The docker sandbox backend: one container per episode, from the task's own image, on a real daemon.

`open(task, limits)`:

1. The task's image (images.py): built from `environment/Dockerfile` (FROM lines rewritten by
   `base_images`, tagged by a hash of the build context, so it is built once per daemon) or pulled
   from `docker_image`, as `images` says; a failed build or pull is retried, then is an
   infrastructure error.
2. A container of it running the keep-alive of kubernetes pods (commands come through exec), with
   task.toml's limits (cpus, memory with no swap, storage where the driver takes a size), the run's
   process cap as its pids limit, no network unless the task allows the internet, four default
   capabilities dropped, no-new-privileges, nothing of the host mounted. Labels name the run, the
   episode, the task, the backend instance, the owning process and a deadline.
3. The probe and the task's files, then the verifier's baseline (container_sandbox.py, shared with
   the kubernetes backend, as is the verifier's clean context in container_verify.py).

`close()` removes the container (a finalizer does it too); the backend's `close()` removes all it
still has; its sweep (at start and every `sweep_interval_s`) removes exited containers, those past
their deadline and those whose owning process on this host is gone (a killed episode leaves no
container behind for longer than one sweep). `python -m actors.sandbox.docker.sweep --run RUN`
removes a run's containers.

Modules: `backend` (containers, the sweep), `sandbox` (one container; the exec over its raw socket),
`images` (build, pull, cache), `dockerd` (a private daemon for tests and offline sites), `baseimage`
(offline base images with debootstrap).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DockerSandbox", "DockerSandboxBackend"]


def __getattr__(name: str) -> Any:
    if name == "DockerSandboxBackend":
        from actors.sandbox.docker.backend import DockerSandboxBackend

        return DockerSandboxBackend
    if name == "DockerSandbox":
        from actors.sandbox.docker.sandbox import DockerSandbox

        return DockerSandbox
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
