"""One vLLM engine as an async actor class, with its counters in Ray's metrics (actors/model/replica_metrics.py).

A plain class: `cluster/vllm.py` makes it remote inside the replica's placement group.
"""

from __future__ import annotations

import asyncio
import os
import warnings

from actors.model.config import VLLMModelConfig
from actors.model.replica_metrics import ReplicaMetrics
from actors.model.vllm import AsyncVLLMModel, EngineFactory, served_name
from harnesses.model import ModelReply, ModelRequest


class VLLMReplica:
    """One engine as an async Ray actor, placed in its placement group by `VLLMLauncher`.

    The engine is built on first use, on the actor's loop: after Ray restarts the actor, the
    router's next health check builds it again."""

    def __init__(self, config: VLLMModelConfig, factory: EngineFactory, index: int):
        import ray

        self.config, self.factory, self.index = config, factory, index
        self.core: AsyncVLLMModel | None = None
        self._lock = asyncio.Lock()
        self.metrics = ReplicaMetrics("vllm", served_name(config), index)
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
        return await self.metrics.observe(core.complete(request), lambda: core.counters.in_flight)

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
