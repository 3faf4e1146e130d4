"""One vLLM engine as an async actor class, with its counters in Ray's metrics.

A plain class: `cluster/vllm.py` makes it remote inside the replica's placement group.
"""

from __future__ import annotations

import asyncio
import os
import time
import warnings

from actors.model.config import VLLMModelConfig
from actors.model.vllm import AsyncVLLMModel, EngineFactory, served_name
from harnesses.model import ModelReply, ModelRequest

LATENCY_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300]


class ReplicaMetrics:
    """A replica's counters through ray.util.metrics, so they reach Ray's Prometheus endpoint
    (and the Grafana dashboard) next to vLLM's own engine metrics."""

    def __init__(self, model: str, replica: int):
        from ray.util import metrics

        keys = ("model", "replica")
        tags = {"model": model, "replica": str(replica)}

        def made(metric):
            metric.set_default_tags(tags)
            return metric

        self.requests = made(metrics.Counter("selfharness_vllm_requests", "Requests a vLLM replica took", keys))
        self.errors = made(metrics.Counter("selfharness_vllm_errors", "Requests a vLLM replica failed", keys))
        self.prompt_tokens = made(metrics.Counter("selfharness_vllm_prompt_tokens", "Prompt tokens", keys))
        self.completion_tokens = made(metrics.Counter("selfharness_vllm_completion_tokens", "Completion tokens",
                                                      keys))
        self.in_flight = made(metrics.Gauge("selfharness_vllm_in_flight", "Requests in flight on a replica", keys))
        self.latency = made(metrics.Histogram("selfharness_vllm_latency_s", "Seconds per request",
                                              LATENCY_BUCKETS_S, keys))


class VLLMReplica:
    """One engine as an async Ray actor, placed in its placement group by `VLLMLauncher`.

    The engine is built on first use, on the actor's loop: after Ray restarts the actor, the
    router's next health check builds it again."""

    def __init__(self, config: VLLMModelConfig, factory: EngineFactory, index: int):
        import ray

        self.config, self.factory, self.index = config, factory, index
        self.core: AsyncVLLMModel | None = None
        self._lock = asyncio.Lock()
        self.metrics = ReplicaMetrics(served_name(config), index)
        with warnings.catch_warnings():  # Ray's own property trips its deprecation of actor_id
            warnings.simplefilter("ignore", DeprecationWarning)
            self.reconstructed = ray.get_runtime_context().was_current_actor_reconstructed

    async def _engine(self) -> AsyncVLLMModel:
        if self.core is None:
            async with self._lock:
                if self.core is None:
                    self.core = await AsyncVLLMModel.create(self.config, self.factory)
        return self.core

    async def start(self) -> dict:
        await self._engine()
        return await self.stats()

    async def complete(self, request: ModelRequest) -> ModelReply:
        core = await self._engine()
        m = self.metrics
        m.requests.inc()
        m.in_flight.set(core.counters.in_flight + 1)
        start = time.monotonic()
        try:
            reply = await core.complete(request)
        except BaseException:
            m.errors.inc()
            raise
        finally:
            m.in_flight.set(core.counters.in_flight)
        m.latency.observe(time.monotonic() - start)
        m.prompt_tokens.inc(reply.prompt_tokens)
        m.completion_tokens.inc(reply.completion_tokens)
        return reply

    async def health(self) -> bool:
        await (await self._engine()).health()
        return True

    async def stats(self) -> dict:
        out = {"replica": self.index, "pid": os.getpid(), "reconstructed": self.reconstructed}
        if self.core is not None:
            out.update(self.core.stats())
        return out

    async def shutdown(self) -> None:
        if self.core is not None:
            self.core.shutdown()
