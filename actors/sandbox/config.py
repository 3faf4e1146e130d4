"""The sandbox backends' configs, a tagged union selected by `kind`."""

from __future__ import annotations

from typing import Literal

from actors.config import Config


class LocalSandboxConfig(Config, tag="local", tag_field="kind"):
    """bubblewrap on this machine."""

    base_dir: str | None = None
    """Where sandbox directories are made (default: the system temp dir)."""
    cpus: float = 0.25
    """Ray CPU each running sandbox reserves on its worker's node: a node of N CPUs holds N / cpus
    sandboxes at once (an agent's sandbox mostly waits on the model; raise it for CPU-heavy tasks)."""

    def __post_init__(self) -> None:
        if not self.cpus > 0:
            raise ValueError("cpus: must be positive")


class KubernetesSandboxConfig(Config, tag="kubernetes", tag_field="kind"):
    """One pod per episode on a Kubernetes cluster (`actors/sandbox/kubernetes/`; the `kubernetes` extra).

    The API server is found in this order: `host` when given; else `kubeconfig`/`context` when given;
    else the in-cluster service account (a Ray worker pod); else the default kubeconfig.
    """

    namespace: str = "selfharness-sandbox"
    """Where sandbox pods run (k8s/sandbox/ makes it, with the Role this backend needs)."""
    host: str | None = None
    """The API server's URL, bypassing every config file, e.g. `kubectl proxy` at http://127.0.0.1:8001."""
    token_env: str | None = None
    """With `host`: the environment variable holding a bearer token (the token never enters a config)."""
    verify_ssl: bool = True
    """With `host`: check the server's certificate."""
    kubeconfig: str | None = None
    """A kubeconfig file; None: in-cluster config first, then ~/.kube/config."""
    context: str | None = None
    """A kubeconfig context; None: the file's current context."""
    run_label: str | None = None
    """The `selfharness.io/run` label of every pod (what the sweeper deletes a dead run's pods by).
    None: $SELFHARNESS_RUN, else `adhoc`."""
    image: str | None = None
    """One image for every task, the task's environment files copied in at start; None: each task's docker_image."""
    default_image: str = "python:3.11-slim"
    """For tasks without a docker_image (their environment files are copied in, as the local backend does)."""
    registry: str | None = None
    """A registry (mirror) prefix for task images: `registry/<docker_image>`."""
    image_pull_policy: Literal["IfNotPresent", "Always", "Never"] = "IfNotPresent"
    image_pull_secrets: list[str] = []
    """Secrets in `namespace` for private registries."""
    service_account: str = "selfharness-sandbox"
    """The sandbox pods' account: no rights, and its token is never mounted (automountServiceAccountToken: false)."""
    run_as_user: int | None = None
    """Run sandboxes as this uid (runAsNonRoot, every capability dropped); only for images whose working
    directory that user can write. None keeps the image's user (root for Terminal-Bench images)."""
    cpu_request_fraction: float = 1.0
    """CPU request = the task's `cpus` times this (the limit is the task's cpus); < 1 packs idle sandboxes."""
    node_selector: dict[str, str] = {}
    tolerations: list[dict[str, object]] = []
    priority_class: str | None = None
    pod_deadline_margin_s: float = 600.0
    """activeDeadlineSeconds = the task's agent + verifier timeouts + this: a forgotten pod stops by itself."""
    ready_timeout_s: float = 300.0
    """How long one pod may take to be scheduled, pulled and started before the attempt is given up."""
    poll_interval_s: float = 1.0
    """Pod status polls while waiting (up to 4x this, growing)."""
    start_retries: int = 3
    """New pods tried after an image-pull, scheduling or readiness failure (with backoff); then infra error."""
    backoff_s: float = 2.0
    """First backoff between retries (doubling, jittered, up to backoff_max_s)."""
    backoff_max_s: float = 60.0
    api_timeout_s: float = 30.0
    """Per REST call."""
    api_retries: int = 5
    """Retries of a REST call on 429, 5xx and broken connections (Retry-After honoured)."""
    exec_connect_timeout_s: float = 30.0
    """For the exec websocket's handshake."""
    exec_grace_s: float = 15.0
    """How long past a command's own timeout its status may take before the stream counts as hung."""
    exec_retries: int = 2
    """Retries of an exec that never started (refused handshake), and of copies and probes (idempotent).
    An agent command whose stream breaks after it started is never re-run: it is an infrastructure error."""
    file_timeout_s: float = 120.0
    """Per file copy in or out."""
    max_read_mb: int = 256
    """The largest file read_file brings back."""
    warm_pool: int = 0
    """Ready pods kept per pod template (image, resources) once a template is used; 0: none."""
    warm_max_idle_s: float = 1800.0
    """A warm pod unused this long is replaced."""
    sweep_interval_s: float | None = 600.0
    """How often each backend deletes finished, expired and orphaned sandbox pods; None: never."""
    connection_pool: int = 32
    """HTTP connections to the API server per process."""
    capacity: int = 64
    """Sandbox pods this run may have at once in the Kubernetes cluster: the run's slots are
    min(concurrency, capacity), spread over the Ray nodes (the pods' CPU is Kubernetes', not Ray's)."""

    def __post_init__(self) -> None:
        import re

        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", self.namespace) or len(self.namespace) > 63:
            raise ValueError(f"namespace: not a DNS label: {self.namespace!r}")
        if self.host is not None and not self.host.startswith(("http://", "https://")):
            raise ValueError(f"host: must start with http:// or https://, got {self.host!r}")
        for name in ("ready_timeout_s", "poll_interval_s", "api_timeout_s", "exec_connect_timeout_s",
                     "file_timeout_s", "warm_max_idle_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive")
        for name in ("start_retries", "api_retries", "exec_retries", "warm_pool", "backoff_s", "exec_grace_s",
                     "pod_deadline_margin_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if not 0 < self.cpu_request_fraction <= 1:
            raise ValueError("cpu_request_fraction: must be in (0, 1]")
        if self.max_read_mb < 1 or self.connection_pool < 1 or self.capacity < 1:
            raise ValueError("max_read_mb, connection_pool and capacity: must be at least 1")
        if self.run_as_user is not None and self.run_as_user < 1:
            raise ValueError("run_as_user: must be a non-root uid (>= 1) or null")


class DockerSandboxConfig(Config, tag="docker", tag_field="kind"):
    """One container per episode on a Docker daemon (`actors/sandbox/docker/`; the `docker` extra).

    The daemon is found as the docker CLI finds it: `host` when given, else $DOCKER_HOST, else the default
    socket (unix:///var/run/docker.sock).
    """

    host: str | None = None
    """The daemon's address, e.g. unix:///tmp/d/docker.sock or tcp://10.0.0.5:2375; None: $DOCKER_HOST or the default."""
    images: Literal["build", "pull"] = "build"
    """build: each task's image from its environment/Dockerfile (cached by a hash of the build context; a task
    without one runs `default_image` with its files copied in); pull: the task's `docker_image` (built only when
    it names none)."""
    base_images: dict[str, str] = {}
    """Rewrites of FROM (and COPY --from) images before a build, e.g. {"python:3.11-slim": "local/py311"}: how an
    offline site, and the tests, build with local images."""
    registry: str | None = None
    """With images: pull, a registry (mirror) prefix: `registry/<docker_image>`."""
    default_image: str = "python:3.11-slim"
    build_network: str = "host"
    """The network of `RUN` lines during a build (Terminal-Bench Dockerfiles apt-get and pip install)."""
    internet_network: str = "bridge"
    """The network of a task that allows the internet; every other task runs with none."""
    build_retries: int = 2
    """Builds and pulls tried again after a failure (with backoff); then an infrastructure error."""
    start_retries: int = 2
    """Containers tried again when one fails to be created or started."""
    backoff_s: float = 2.0
    api_timeout_s: float = 120.0
    """Per call to the daemon (a build or pull has build_timeout_s of its task's, at least this)."""
    exec_grace_s: float = 15.0
    """How long past a command's own timeout its exec may take before it counts as hung."""
    exec_retries: int = 2
    """Retries of our own scripts and file copies whose exec failed (never of an agent command)."""
    file_timeout_s: float = 120.0
    max_read_mb: int = 256
    deadline_margin_s: float = 600.0
    """A container lives at most its task's agent + verifier timeouts + this; the sweeper removes it after."""
    sweep_interval_s: float | None = 300.0
    """How often a backend removes containers past their deadline and those of dead processes on this host."""
    run_label: str | None = None
    """The `selfharness.io/run` label of every container; None: $SELFHARNESS_RUN, else `adhoc`."""
    cpus: float = 0.25
    """Ray CPU each running sandbox reserves on its worker's node (the container's own CPU limit is task.toml's)."""

    def __post_init__(self) -> None:
        for name in ("api_timeout_s", "exec_grace_s", "file_timeout_s", "cpus"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: must be positive")
        for name in ("build_retries", "start_retries", "exec_retries", "backoff_s", "deadline_margin_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must not be negative")
        if self.max_read_mb < 1:
            raise ValueError("max_read_mb: must be at least 1")
        for src, dest in self.base_images.items():
            if not src.strip() or not dest.strip() or any(c.isspace() for c in src + dest):
                raise ValueError(f"base_images: {src!r} -> {dest!r}: image names have no spaces and are not empty")


SandboxConfig = LocalSandboxConfig | KubernetesSandboxConfig | DockerSandboxConfig
