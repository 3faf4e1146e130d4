"""Configuration of what a command runs, as typed data: every knob, its default, why.

Backend configs are tagged unions selected by `kind`; unknown keys are errors that name
the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import msgspec
import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
SUITES_DIR = REPO_ROOT / "benchmarks" / "suites"


class ConfigError(ValueError):
    """A bad configuration: names the file and the field."""


class _Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass


class SimModelConfig(_Config, tag="sim", tag_field="kind"):
    """The simulated model (the default): scripted choices, real everything else."""

    profile: str = "minimax"
    """A quirk profile name from actors/model/profiles/ or a path to one."""


class OpenAIModelConfig(_Config, tag="openai", tag_field="kind"):
    """Any OpenAI-compatible endpoint (vLLM, SGLang, LiteLLM, a hosted API, our own Serve app)."""

    base_url: str
    """The endpoint's base URL, e.g. http://127.0.0.1:8000/v1."""
    model: str
    """The model name the endpoint serves."""
    api_key_env: str | None = "OPENAI_API_KEY"
    """The environment variable that holds the API key; the key itself never enters a config or a run."""
    timeout_s: float = 120.0
    """Per request."""
    max_retries: int = 5
    """Retries on 429, 5xx, timeouts and unparseable replies (Retry-After honoured, else exponential backoff)."""
    outage_s: float = 300.0
    """How long to keep trying an endpoint that refuses connections before the episode is an infrastructure failure."""
    concurrency: int = 16
    """Requests in flight at once from one model server."""
    max_tokens: int | None = None
    """Per reply; None leaves it to the endpoint."""
    max_reply_chars: int = 100_000
    """Longer replies are cut (head and tail kept) and the cut is recorded."""
    extra_body: dict[str, object] = {}
    """Sent as is with every request (e.g. {"chat_template_kwargs": {"enable_thinking": false}} for vLLM)."""

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: must start with http:// or https://, got {self.base_url!r}")
        if self.concurrency < 1 or self.max_retries < 0 or self.timeout_s <= 0:
            raise ValueError("concurrency >= 1, max_retries >= 0 and timeout_s > 0 are required")


class VLLMModelConfig(_Config, tag="vllm", tag_field="kind"):
    """vLLM's async engine inside Ray actors, one per replica, GPUs pinned by placement groups."""

    model: str
    """A Hugging Face model id or a local path."""
    served_model_name: str | None = None
    """The name traces and the Serve endpoint show (default: `model`)."""
    tensor_parallel_size: int = 1
    """GPUs per replica."""
    replicas: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    dtype: str = "auto"
    max_tokens: int = 4096
    top_p: float = 1.0
    enable_prefix_caching: bool = True
    engine_kwargs: dict[str, object] = {}
    """Passed to vLLM's AsyncEngineArgs as is."""
    health_check_s: float = 30.0
    """How often the router checks each replica; an unhealthy one gets no new episodes."""
    max_restarts: int = 3
    """Ray restarts a crashed replica actor this many times."""

    def __post_init__(self) -> None:
        for name in ("tensor_parallel_size", "replicas"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError("gpu_memory_utilization: must be in (0, 1]")


ModelConfig = SimModelConfig | OpenAIModelConfig | VLLMModelConfig


class LocalSandboxConfig(_Config, tag="local", tag_field="kind"):
    """bubblewrap on this machine."""

    base_dir: str | None = None
    """Where sandbox directories are made (default: the system temp dir)."""


class KubernetesSandboxConfig(_Config, tag="kubernetes", tag_field="kind"):
    """One pod per episode on a Kubernetes cluster (`actors/sandbox/kubernetes.py`; the `kubernetes` extra).

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
        if self.max_read_mb < 1 or self.connection_pool < 1:
            raise ValueError("max_read_mb and connection_pool: must be at least 1")
        if self.run_as_user is not None and self.run_as_user < 1:
            raise ValueError("run_as_user: must be a non-root uid (>= 1) or null")


SandboxConfig = LocalSandboxConfig | KubernetesSandboxConfig


class RolloutConfig(_Config):
    """One rollout: a harness (or a calibration agent) on one split of a suite."""

    suite: str = "core"
    """A built-in suite name (benchmarks/suites/NAME) or a path to a suite folder."""
    split: str = "train"
    """train, val, test, or all."""
    harness: str = "harnesses/minimal.yaml"
    agent: Literal["model", "oracle", "noop"] = "model"
    """`model` runs the harness with the model; `oracle` and `noop` are calibration agents."""
    model: ModelConfig = SimModelConfig()
    sandbox: SandboxConfig = LocalSandboxConfig()
    attempts: int = 2
    seed: int = 0
    """Attempt k of every task uses seed `seed + k`: runs pair by (task, attempt, seed)."""
    concurrency: int = 4
    """Episodes running at once (the sandbox pool's size)."""
    workers: int = 2
    """Rollout worker actors; each runs up to `concurrency / workers` episodes at a time."""
    run_dir: str | None = None
    """Where traces and the summary go (default: runs/rollout-<time>)."""

    def __post_init__(self) -> None:
        for name in ("attempts", "concurrency", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")


def resolve_suite(suite: str) -> Path:
    """A suite name or path -> its folder."""
    path = Path(suite)
    if path.is_dir():
        return path.resolve()
    builtin = SUITES_DIR / suite
    if builtin.is_dir():
        return builtin
    known = sorted(p.name for p in SUITES_DIR.iterdir() if (p / "suite.yaml").exists())
    raise ConfigError(f"suite {suite!r}: no such folder and no built-in suite of that name (built-in: {known})")


def resolve_path(path: str) -> Path:
    """A path as given, or relative to the repository (so built-in files work from anywhere)."""
    p = Path(path)
    return p if p.exists() or p.is_absolute() else REPO_ROOT / p


def load_config(path: Path | str, cls: type[msgspec.Struct] = RolloutConfig):
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{path}: {e}") from None
    try:
        return msgspec.convert(raw, cls)
    except (msgspec.ValidationError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None


class MiningConfig(_Config):
    """How failures become clusters."""

    embedder: Literal["hashing", "semantic"] = "hashing"
    """hashing: fast, no dependencies. semantic: all-MiniLM-L6-v2 from local files (the `semantic` extra)."""
    threshold: float = 0.9
    """Cosine similarity above which a failure joins an existing cluster."""
    min_failures: int = 2
    min_tasks: int = 2
    """A cluster the proposer may target has at least this many failures on at least this many tasks."""
    max_examples: int = 5
    """Representative failures with raw excerpts per cluster in the brief."""
    model_labels: bool | None = None
    """Also ask the model to label each failure (the paper's stage labelling), merged with the extractor's.
    None: on for real models (openai, vllm), off for the sim."""


def _approval_default():
    from actors.approvals import ApprovalConfig

    return ApprovalConfig()


def _acceptance_default():
    from actors.validator import AcceptanceConfig

    return AcceptanceConfig()


class RunConfig(_Config):
    """A whole Self-Harness run: rounds of rollout, mine, propose, validate, merge, promote."""

    name: str = "run"
    suite: str = "core"
    """A built-in suite name or a path to a suite folder with a suite.yaml that fixes its splits."""
    limit: int | None = None
    """Use at most this many tasks of each split (quick runs and tests); None = all."""
    initial_harness: str = "harnesses/minimal.yaml"
    model: ModelConfig = SimModelConfig()
    sandbox: SandboxConfig = LocalSandboxConfig()
    attempts: int = 2
    """Attempts per task; attempt k uses seed `seed + k`, so parent and candidate are paired."""
    seed: int = 0
    rounds: int = 3
    k: int = 4
    """Proposals asked for per round."""
    acceptance: "AcceptanceConfig" = msgspec.field(default_factory=_acceptance_default)
    approval: "ApprovalConfig" = msgspec.field(default_factory=_approval_default)
    """Whether a validated winner waits for a person before it is promoted (default: no, as in the paper)."""
    mining: MiningConfig = MiningConfig()
    concurrency: int = 4
    workers: int = 2
    run_dir: str | None = None
    """Default: runs/<name>-<time>."""
    progress: bool = True

    def __post_init__(self) -> None:
        for name in ("attempts", "rounds", "k", "concurrency", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")


from actors.approvals import ApprovalConfig  # noqa: E402  (the annotations above name them)
from actors.validator import AcceptanceConfig  # noqa: E402
