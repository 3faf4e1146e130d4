"""The vLLM backend on Ray: `replicas` engines (actors/model/vllm_replica.py), each in a
STRICT_PACK placement group that reserves its GPUs, behind a conversation-sticky router."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from actors.model.config import VLLMModelConfig
from actors.model.router import RouterActor
from actors.model.vllm import EngineFactory, VLLMEngineFactory, VLLMStartError, engine_args, served_name
from actors.model.vllm_replica import VLLMReplica
from cluster.ray_init import init_ray

PLACEMENT_TIMEOUT_S = 300.0
"""How long start_vllm waits for the GPUs (an autoscaling cluster may have to add a node first)."""


def replica_bundles(config: VLLMModelConfig) -> list[dict[str, float]]:
    """One bundle per GPU of a replica; vLLM's tensor-parallel workers take one GPU each."""
    return [{"GPU": 1, "CPU": 1} for _ in range(config.tensor_parallel_size)]


def replica_options(config: VLLMModelConfig, group) -> dict[str, Any]:
    """Ray actor options of a replica in its placement group."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    return dict(
        num_cpus=1,
        # TP=1: the engine runs in this actor's process tree and needs the GPU itself. TP>1: vLLM's Ray
        # executor starts one worker per GPU bundle (capturing child tasks keeps them in this group),
        # and the actor only drives them.
        num_gpus=1 if config.tensor_parallel_size == 1 else 0,
        max_restarts=config.max_restarts,
        max_task_retries=0,  # the router retries a request on a live replica instead of waiting for this one
        scheduling_strategy=PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=0,
                                                             placement_group_capture_child_tasks=True),
    )


class VLLMLauncher:
    """Reserves each replica's GPUs with a STRICT_PACK placement group (tensor parallel wants one node)
    and starts the replica actors; runs inside the router actor, which so owns them."""

    def __init__(self, config: VLLMModelConfig, factory: EngineFactory, placement_timeout_s: float):
        self.config, self.factory, self.placement_timeout_s = config, factory, placement_timeout_s
        self.groups: list[Any] = []
        self.replicas: list[Any] = []

    async def launch(self) -> list[Any]:
        from ray.util.placement_group import placement_group

        cfg = self.config
        names = [f"selfharness-vllm-{served_name(cfg)}-{i}" for i in range(cfg.replicas)]
        for name in names:  # a restarted router's groups of its last life: free their GPUs first
            try:
                from ray.util import get_placement_group, remove_placement_group

                remove_placement_group(get_placement_group(name))
            except Exception:
                pass
        self.groups = [placement_group(replica_bundles(cfg), strategy="STRICT_PACK", name=name) for name in names]
        try:
            await asyncio.wait_for(asyncio.gather(*(_awaited(g.ready()) for g in self.groups)),
                                   self.placement_timeout_s)
        except asyncio.TimeoutError:
            total, free = ray.cluster_resources(), ray.available_resources()
            have = ", ".join(f"{total.get(k, 0):g} {k}s ({free.get(k, 0):g} free)" for k in ("GPU", "CPU"))
            raise VLLMStartError(
                f"vllm: {cfg.replicas} replica(s) x tensor_parallel_size={cfg.tensor_parallel_size} need "
                f"{cfg.replicas * cfg.tensor_parallel_size} GPUs: per replica a placement group of "
                f"{cfg.tensor_parallel_size} bundles {{GPU: 1, CPU: 1}} on one node; not placed within "
                f"{self.placement_timeout_s:g}s (the cluster has {have})") from None
        Replica = ray.remote(VLLMReplica)
        self.replicas = [Replica.options(**replica_options(cfg, g)).remote(cfg, self.factory, i)
                         for i, g in enumerate(self.groups)]
        results = await asyncio.gather(*(_awaited(r.start.remote()) for r in self.replicas), return_exceptions=True)
        failed = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
        if failed:
            i, e = failed[0]
            cause = getattr(e, "cause", None) or e
            raise VLLMStartError(f"vllm replica {i} of {cfg.replicas} did not start: {type(cause).__name__}: {cause}")
        return self.replicas

    async def shutdown(self) -> None:
        from ray.util.placement_group import remove_placement_group

        async def stop(replica):
            try:
                await asyncio.wait_for(_awaited(replica.shutdown.remote()), 30)
            except Exception:
                pass
            ray.kill(replica, no_restart=True)

        await asyncio.gather(*(stop(r) for r in self.replicas))
        for group in self.groups:
            try:
                remove_placement_group(group)
            except Exception:
                pass
        self.replicas, self.groups = [], []


async def _awaited(ref):
    return await ref


def start_vllm(config: VLLMModelConfig, engine_factory: EngineFactory | None = None, *,
               placement_timeout_s: float = PLACEMENT_TIMEOUT_S):
    """Start `config.replicas` engines on Ray behind a router; returns the router's actor handle, which
    answers `complete.remote(ModelRequest) -> ModelReply` and `stats.remote() -> dict` (with "model")
    like a ModelServer. Blocks until every replica has loaded its model. Stop it with `stop_vllm`."""

    engine_args(config)  # a bad engine_kwargs fails here, before any GPU is reserved
    if not ray.is_initialized():
        init_ray()
    # Restarted on a live node when its own dies; it then starts new replicas on its first request.
    Router = ray.remote(RouterActor).options(num_cpus=0, max_restarts=-1, max_task_retries=-1)
    router = Router.remote(served_name(config), VLLMLauncher(config, engine_factory or VLLMEngineFactory(),
                                                               placement_timeout_s),
                           health_check_s=config.health_check_s)
    try:
        ray.get(router.start.remote())
    except Exception as e:
        ray.kill(router, no_restart=True)
        cause = getattr(e, "cause", None)
        if isinstance(cause, (VLLMStartError, ImportError, ValueError)):
            raise type(cause)(str(cause)) from None
        raise VLLMStartError(f"vllm: the router did not start: {e}") from None
    return router


def stop_vllm(router, timeout_s: float = 60.0) -> None:
    """Stop the replicas, free their GPUs (placement groups) and the router."""

    try:
        ray.get(router.shutdown.remote(), timeout=timeout_s)
    except Exception:
        pass
    ray.kill(router, no_restart=True)
