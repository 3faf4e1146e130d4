"""The backend that makes sandbox containers: the task's image (images.py), one container per episode
with task.toml's limits and no network, handed to a DockerSandbox; every container it made is removed,
whatever happens, and the sweep removes what a dead process left."""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import socket
import threading
import time
from typing import Any

import psutil

from actors.sandbox.docker.images import Images
from actors.sandbox.docker.sandbox import DockerSandbox
from actors.sandbox.kubernetes.pod import (EPISODE_LABEL, INSTANCE_LABEL, KEEP_ALIVE, RUN_LABEL, SANDBOX_LABEL,
                                           TASK_LABEL, label_value, pod_name)
from harnesses.sandbox import Limits, SandboxError

log = logging.getLogger(__name__)

OWNER_LABEL = "selfharness.io/owner"
"""host:pid:start-time of the process that made the container: the sweep removes it once that process is gone."""
DEADLINE_LABEL = "selfharness.io/deadline"
"""Unix time after which no episode can still need the container (its timeouts plus a margin)."""
INSTALL_HINT = ("the docker sandbox backend needs the Docker SDK: pip install 'self-harness[docker]' "
                "(or pip install docker)")
DROPPED_CAPS = ["NET_RAW", "MKNOD", "AUDIT_WRITE", "SETFCAP"]
"""Of Docker's default capabilities, those no task needs (the container has no network to speak raw to)."""


def connect(config: Any) -> Any:
    """A client for the daemon the docker CLI would use (`host`, else $DOCKER_HOST, else the default socket)."""
    try:
        import docker
    except ImportError:
        raise SandboxError(INSTALL_HINT) from None
    where = config.host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        client = docker.DockerClient(base_url=where, timeout=int(config.api_timeout_s))
        client.ping()
        return client
    except Exception as e:  # noqa: BLE001 - every way of not reaching a daemon
        raise SandboxError(
            f"no Docker daemon answers at {where} ({type(e).__name__}: {str(e)[:200]}). Start one: "
            "`sudo systemctl start docker`, or as root `dockerd --iptables=false --bridge=none &`, or a private one "
            "with `python -m actors.sandbox.docker.dockerd /tmp/shd` and set sandbox.host (or DOCKER_HOST) to "
            "what it prints") from None


def _owner() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{int(psutil.Process(pid).create_time())}"


def _owner_alive(owner: str) -> bool:
    """Whether the process an owner label names still runs (True when it ran on another host: not ours to judge)."""
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        return int(psutil.Process(int(pid)).create_time()) == int(started or 0)
    except (psutil.NoSuchProcess, ValueError):
        return False


class DockerSandboxBackend:
    """Makes sandbox containers (see actors/sandbox/docker/__init__.py). Thread-safe."""

    def __init__(self, config: Any, *, client: Any = None):
        self.config = config
        self.client = client or connect(config)
        self.images = Images(self.client, config)
        self.run = label_value(config.run_label or os.environ.get("SELFHARNESS_RUN") or "adhoc")
        self.instance = label_value(f"{socket.gethostname()[:24]}-{os.getpid()}-{secrets.token_hex(3)}")
        self.owner = _owner()
        self._lock = threading.Lock()
        self._live: set[str] = set()
        self._closed = False
        self._storage_opt: bool | None = None
        """Whether the daemon's storage driver takes a size limit (overlay2 on xfs with pquota); None: not tried."""
        self.stats = {"containers_created": 0, "containers_removed": 0, "start_retries": 0}
        self._stop = threading.Event()
        self.sweep()
        if config.sweep_interval_s:
            threading.Thread(target=self._sweep_loop, name="docker-sweeper", daemon=True).start()
        atexit.register(self.close)

    # ------------------------------------------------------------------ public

    def open(self, task: Any, limits: Limits = Limits()) -> DockerSandbox:
        if self._closed:
            raise SandboxError("the docker sandbox backend is closed")
        image, upload = self.images.for_task(task)
        last: Exception | None = None
        for attempt in range(self.config.start_retries + 1):
            if attempt:
                self.stats["start_retries"] += 1
                time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                container_id, name = self._start(task, limits, image)
            except SandboxError as e:
                last = e
                if "No such image" in str(e):
                    break
                log.warning("task %s: a container did not start (%s)", task.name, e)
                continue
            return DockerSandbox(self, container_id, name, image, task, limits).ready(upload)
        raise SandboxError(f"task {task.name}: no container of image {image} started: {last}")

    def _start(self, task: Any, limits: Limits, image: str) -> tuple[str, str]:
        import docker
        import requests

        env = task.environment
        name = pod_name(task.name)
        deadline = time.time() + task.agent_timeout_s + task.verifier_timeout_s + self.config.deadline_margin_s
        labels = {SANDBOX_LABEL: "true", RUN_LABEL: self.run, EPISODE_LABEL: secrets.token_hex(6),
                  TASK_LABEL: label_value(task.name), INSTANCE_LABEL: self.instance, OWNER_LABEL: self.owner,
                  DEADLINE_LABEL: str(int(deadline))}
        memory = f"{int(env.memory_mb)}m"
        kwargs: dict[str, Any] = dict(
            entrypoint=list(KEEP_ALIVE), command=[], detach=True, name=name, labels=labels, hostname="sandbox",
            network_mode=self.config.internet_network if env.allow_internet else "none",
            nano_cpus=int(env.cpus * 1e9), mem_limit=memory, memswap_limit=memory,
            pids_limit=int(limits.max_processes), cap_drop=DROPPED_CAPS, security_opt=["no-new-privileges"],
            ipc_mode="private", log_config={"type": "none", "config": {}}, stop_signal="SIGTERM")
        if self._storage_opt is not False:
            kwargs["storage_opt"] = {"size": f"{int(env.storage_mb)}m"}
        with self._lock:
            self._live.add(name)  # tracked before it exists: close() and the sweep never miss it
        try:
            try:
                container = self.client.containers.run(image, **kwargs)
                if "storage_opt" in kwargs:
                    self._storage_opt = True
            except docker.errors.APIError as e:
                if "storage_opt" not in kwargs or "storage" not in str(e).lower():
                    raise
                self._storage_opt = False  # the driver cannot bound a container's disk: only files are bounded
                log.info("docker: this storage driver takes no size limit (%s); disk is bounded per file only",
                         str(e)[:200])
                self._remove(name)
                kwargs.pop("storage_opt")
                container = self.client.containers.run(image, **kwargs)
            self.stats["containers_created"] += 1
            return container.id, name
        except (docker.errors.APIError, requests.RequestException) as e:
            self.release(name)
            raise SandboxError(f"docker: container {name} did not start: {e}") from None

    def live_names(self) -> set[str]:
        with self._lock:
            return set(self._live)

    def release(self, name: str) -> None:
        """Remove a container (force: its processes are killed). A failure is logged; the sweep retries."""
        self._remove(name)
        with self._lock:
            self._live.discard(name)

    def _remove(self, name_or_id: str) -> bool:
        import docker
        import requests

        try:
            self.client.api.remove_container(name_or_id, force=True, v=True)
            self.stats["containers_removed"] += 1
            return True
        except docker.errors.NotFound:
            return True
        except (docker.errors.APIError, requests.RequestException) as e:
            if "already in progress" in str(e):
                return True
            log.warning("could not remove sandbox container %s (the sweep will): %s", name_or_id, e)
            return False

    def close(self) -> None:
        """Remove every container this backend still has and stop its sweeper. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        try:
            atexit.unregister(self.close)
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
        for name in sorted(self.live_names()):
            self.release(name)

    # ------------------------------------------------------------------ the sweep

    def _sweep_loop(self) -> None:
        while not self._stop.wait(self.config.sweep_interval_s):
            try:
                self.sweep()
            except Exception as e:  # noqa: BLE001 - the next sweep tries again
                log.warning("docker sweep failed: %s", e)

    def sweep(self) -> int:
        """Remove sandbox containers that no episode can still use: exited ones, those past their deadline,
        and those whose owning process (on this host) is gone. Returns how many were removed."""
        return sweep(self.client, keep=self.live_names())


def sweep(client: Any, *, run: str | None = None, everything: bool = False, keep: set[str] = frozenset()) -> int:
    """The sweep of one daemon's sandbox containers (see DockerSandboxBackend.sweep). `run`: every container of
    that run, whatever its state; `everything`: every sandbox container."""
    import docker
    import requests

    filters = {"label": [f"{SANDBOX_LABEL}=true"] + ([f"{RUN_LABEL}={label_value(run)}"] if run else [])}
    try:
        found = client.api.containers(all=True, filters=filters)
    except (docker.errors.APIError, requests.RequestException) as e:
        log.warning("docker sweep: cannot list containers: %s", e)
        return 0
    now, removed = time.time(), 0
    for c in found:
        labels, names = c.get("Labels") or {}, [n.lstrip("/") for n in c.get("Names") or []]
        if keep.intersection(names) or c["Id"] in keep:
            continue
        deadline = labels.get(DEADLINE_LABEL, "")
        stale = (run is not None or everything or c.get("State") in ("exited", "dead")
                 or (deadline.isdigit() and int(deadline) < now)
                 or not _owner_alive(labels.get(OWNER_LABEL, "")))
        if not stale:
            continue
        try:
            client.api.remove_container(c["Id"], force=True, v=True)
            removed += 1
        except docker.errors.NotFound:
            pass
        except (docker.errors.APIError, requests.RequestException) as e:
            log.warning("docker sweep: could not remove %s: %s", names or c["Id"], e)
    return removed
