"""The `vllm` model backend: vLLM's async engine (v1 `AsyncLLM`) behind the `Model` protocol.

Three layers, so each can be used and tested on its own:

- `AsyncVLLMModel` turns a `ModelRequest` into one engine request (the model's own chat
  template, sampling from the request) and the final `RequestOutput` into a `ModelReply`.
- `VLLMModel` is the sync `Model` for one process: the engine on its own event-loop thread.
- `VLLMReplica` (vllm_replica.py) is one engine as an async actor class; `cluster/vllm.py`
  starts `replicas` of them, each in a STRICT_PACK placement group that reserves its GPUs,
  behind a `RouterActor` (router.py) that keeps a conversation on one replica for its prefix
  cache and fails over when one dies.

vLLM is imported only when an engine is built; the engine comes from an `EngineFactory`, so
tests run everything here against a double of the engine (benchmarks/doubles/vllm_engine.py).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import threading
import time
import uuid
from typing import Any, Protocol

import msgspec

from actors.model.config import VLLMModelConfig
from actors.model.router import EngineStats, ReplicaDead
from harnesses.model import (OVERFLOW_WORDS, ContextOverflow, ModelError, ModelReply, ModelRequest, sampling_seed,
                             strip_reasoning)

VLLM_HINT = "model.kind vllm needs the `vllm` extra (pip install 'self-harness[vllm]') and a GPU"
CONFIG_OWNED = ("model", "served_model_name", "tensor_parallel_size", "max_model_len", "gpu_memory_utilization",
                "dtype", "enable_prefix_caching")
"""Engine arguments the config sets itself; `engine_kwargs` may not override them (the placement follows them)."""


class VLLMStartError(RuntimeError):
    """The replicas could not start: no GPUs to place them on, or an engine failed to load."""


def require_vllm():
    """vllm, or an error that says what to install. Importing it can fail in other ways than ImportError
    (no CUDA driver, a CPU-only machine), so any failure is reported with the same hint."""
    try:
        import vllm
    except Exception as e:
        raise ImportError(f"{VLLM_HINT}; importing vllm failed: {type(e).__name__}: {e}") from None
    return vllm


def served_name(config: VLLMModelConfig) -> str:
    return config.served_model_name or config.model


def engine_args(config: VLLMModelConfig) -> dict[str, Any]:
    """Keyword arguments of vLLM's AsyncEngineArgs for this config."""
    clash = sorted(set(config.engine_kwargs) & set(CONFIG_OWNED))
    if clash:
        raise ValueError(f"model.engine_kwargs: {clash} are model fields of their own; set them there")
    args: dict[str, Any] = dict(model=config.model, served_model_name=served_name(config),
                                tensor_parallel_size=config.tensor_parallel_size,
                                gpu_memory_utilization=config.gpu_memory_utilization, dtype=config.dtype,
                                enable_prefix_caching=config.enable_prefix_caching)
    if config.max_model_len is not None:
        args["max_model_len"] = config.max_model_len
    if config.tensor_parallel_size > 1:
        # One Ray worker per GPU bundle of the replica's placement group (vLLM finds the group itself).
        args["distributed_executor_backend"] = "ray"
    args.update(config.engine_kwargs)
    return args


def sampling_kwargs(request: ModelRequest, config: VLLMModelConfig) -> dict[str, Any]:
    """SamplingParams for one request: the harness's temperature and the episode's seed travel in the request."""
    return dict(n=1, temperature=request.temperature, top_p=config.top_p, seed=sampling_seed(request),
                max_tokens=request.max_tokens or config.max_tokens)


def chat_messages(request: ModelRequest) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in request.messages]


def render_prompt(tokenizer, request: ModelRequest) -> dict[str, Any]:
    """The conversation through the model's chat template, as a TokensPrompt.

    The template is rendered to text and tokenized without special tokens, as vLLM's own chat
    endpoint does: the template already holds the BOS token where the model wants one. Templates
    that refuse a system message (Gemma's) get it folded into the first user message."""
    messages = chat_messages(request)
    try:
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except Exception as e:
        if not (messages and messages[0]["role"] == "system" and "system" in str(e).lower()):
            raise
        system, rest = messages[0]["content"], messages[1:]
        if rest and rest[0]["role"] == "user":
            rest = [{"role": "user", "content": f"{system}\n\n{rest[0]['content']}"}] + rest[1:]
        else:
            rest = [{"role": "user", "content": system}] + rest
        text = tokenizer.apply_chat_template(rest, tokenize=False, add_generation_prompt=True)
    return {"prompt_token_ids": list(tokenizer.encode(text, add_special_tokens=False)), "prompt": text}


def reply_from_output(output, name: str, prompt: dict[str, Any] | None = None) -> ModelReply:
    """The final (cumulative) RequestOutput as a ModelReply: a leading `<think>` block is kept out of
    the text; token counts are the engine's own."""
    completion = output.outputs[0]
    text, reasoning = strip_reasoning(completion.text)
    prompt_ids = output.prompt_token_ids if output.prompt_token_ids is not None else (prompt or {}).get(
        "prompt_token_ids", ())
    events = ()
    if getattr(completion, "finish_reason", None) == "length":
        events = (f"reply stopped at the token limit ({len(completion.token_ids)} tokens)",)
    return ModelReply(text=text, model=name, seeded=True, prompt_tokens=len(prompt_ids),
                      completion_tokens=len(completion.token_ids),
                      reasoning_chars=reasoning, events=events)


def engine_is_dead(engine, exc: BaseException) -> bool:
    """vLLM raises EngineDeadError once its EngineCore is gone, and `errored` stays true: nothing but a
    new engine helps. Other errors (a bad request, a failed generate) leave the engine serving."""
    if any("EngineDeadError" in c.__name__ for c in type(exc).__mro__):
        return True
    try:
        return bool(getattr(engine, "errored", False))
    except Exception:
        return True


def describe(exc: BaseException) -> str:
    """One line: vLLM's EngineGenerateError says nothing itself; its cause does."""
    text = f"{type(exc).__name__}: {exc}".rstrip(": ")
    cause = exc.__cause__
    if cause is not None:
        text += f" (from {type(cause).__name__}: {cause})"
    return text[:500]


class EngineFactory(Protocol):
    """Where an engine and its SamplingParams come from: vLLM's own by default, a double in tests."""

    def engine(self, config: VLLMModelConfig) -> Any:
        """An engine with vLLM's async API: generate, get_tokenizer, check_health, abort, shutdown."""
        ...

    def sampling_params(self, **kwargs) -> Any: ...


class VLLMEngineFactory:
    """vLLM's v1 AsyncLLM; inside a Ray actor its engine metrics go to Ray's Prometheus endpoint too."""

    def engine(self, config: VLLMModelConfig) -> Any:
        require_vllm()
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        stat_loggers = None
        if _in_ray_actor():
            try:
                from vllm.v1.metrics.ray_wrappers import RayPrometheusStatLogger

                stat_loggers = [RayPrometheusStatLogger]
            except ImportError:
                pass
        return AsyncLLM.from_engine_args(AsyncEngineArgs(**engine_args(config)), stat_loggers=stat_loggers)

    def sampling_params(self, **kwargs) -> Any:
        require_vllm()
        from vllm import SamplingParams
        from vllm.sampling_params import RequestOutputKind

        # Only the final output is wanted: no intermediate RequestOutput is built or sent.
        return SamplingParams(**kwargs, output_kind=RequestOutputKind.FINAL_ONLY)


def _in_ray_actor() -> bool:
    try:
        import ray

        return ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None
    except Exception:
        return False


class AsyncVLLMModel:
    """The `Model` protocol's async twin on one engine; lives on one event loop (vLLM binds to it)."""

    def __init__(self, config: VLLMModelConfig, engine, tokenizer, factory: EngineFactory):
        self.config, self.engine, self.tokenizer, self.factory = config, engine, tokenizer, factory
        self.name = served_name(config)
        self.counters = EngineStats()
        # Chat templates and tokenizers are CPU work: off the event loop, one at a time (HF tokenizers
        # are not safe to share across threads).
        self._render = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="vllm-render")

    @classmethod
    async def create(cls, config: VLLMModelConfig, factory: EngineFactory) -> "AsyncVLLMModel":
        """Build the engine on the running loop (its output handler starts there) and fetch its tokenizer."""
        engine = factory.engine(config)
        tokenizer = engine.get_tokenizer()
        if inspect.isawaitable(tokenizer):  # vLLM before 0.10 made get_tokenizer a coroutine
            tokenizer = await tokenizer
        return cls(config, engine, tokenizer, factory)

    async def complete(self, request: ModelRequest) -> ModelReply:
        start = time.monotonic()
        c = self.counters
        c.requests += 1
        c.in_flight += 1
        request_id = f"{request.conversation_id or 'request'}-{uuid.uuid4().hex[:16]}"
        prompt = None
        try:
            prompt = await asyncio.get_running_loop().run_in_executor(self._render, render_prompt, self.tokenizer,
                                                                      request)
            params = self.factory.sampling_params(**sampling_kwargs(request, self.config))
            final = None
            async for output in self.engine.generate(prompt, params, request_id):
                final = output
            if final is None or not final.finished:
                raise ModelError(f"vLLM ended request {request_id} without a final output")
        except asyncio.CancelledError:
            raise  # vLLM aborts the request itself when its generator is closed
        except ModelError:
            c.errors += 1
            raise
        except Exception as e:
            c.errors += 1
            if engine_is_dead(self.engine, e):
                raise ReplicaDead(f"vLLM engine is dead: {describe(e)}") from None
            if OVERFLOW_WORDS.search(str(e)):
                raise ContextOverflow(f"vLLM: {describe(e)}"[:1000]) from None
            raise ModelError(f"vLLM: {describe(e)}") from None
        finally:
            c.in_flight -= 1
        reply = reply_from_output(final, self.name, prompt)
        c.prompt_tokens += reply.prompt_tokens
        c.completion_tokens += reply.completion_tokens
        c.cached_prompt_tokens += getattr(final, "num_cached_tokens", None) or 0
        c.latency_s += time.monotonic() - start
        return reply

    async def health(self) -> None:
        """Raises ReplicaDead when the engine can no longer serve."""
        try:
            await self.engine.check_health()
        except Exception as e:
            raise ReplicaDead(f"vLLM health check: {describe(e)}") from None

    def stats(self) -> dict:
        return {"model": self.name, **msgspec.to_builtins(self.counters)}

    def shutdown(self) -> None:
        try:
            self.engine.shutdown()
        finally:
            self._render.shutdown(wait=False)


class VLLMModel:
    """A `Model` on one in-process vLLM engine, for a single process with its own GPUs (no Ray placement:
    under Ray, `start_vllm` is the way). Callers on any thread; the engine runs on this model's loop thread."""

    def __init__(self, config: VLLMModelConfig, engine_factory: EngineFactory | None = None):
        self.config = config
        self.factory = engine_factory or VLLMEngineFactory()
        self.name = served_name(config)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=f"vllm-loop-{self.name}", daemon=True)
        self._thread.start()
        try:
            self.core: AsyncVLLMModel = self._run(AsyncVLLMModel.create(config, self.factory))
        except BaseException:
            self._stop_loop()
            raise

    def complete(self, request: ModelRequest) -> ModelReply:
        return self._run(self.core.complete(request))

    def health(self) -> None:
        self._run(self.core.health())

    def stats(self) -> dict:
        return self.core.stats()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self._loop.call_soon_threadsafe(self.core.shutdown)
        finally:
            self._stop_loop()

    def _run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        if not self._thread.is_alive():
            self._loop.close()
