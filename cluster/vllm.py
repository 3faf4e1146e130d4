"""The vLLM backend on Ray: `replicas` engines (actors/model/vllm_replica.py), each in a
STRICT_PACK placement group that reserves its GPUs, behind a conversation-sticky router
(cluster/replicas.py)."""

from __future__ import annotations

from typing import Any

from actors.model.config import VLLMModelConfig
from actors.model.vllm import EngineFactory, VLLMEngineFactory, VLLMStartError, engine_args, served_name
from actors.model.vllm_replica import VLLMReplica
from cluster.replicas import PLACEMENT_TIMEOUT_S, PlacedLauncher, start_router, stop_router


def replica_bundles(config: VLLMModelConfig) -> list[dict[str, float]]:
    """One bundle per GPU of a replica; vLLM's tensor-parallel workers take one GPU each."""
    return [{"GPU": 1, "CPU": 1} for _ in range(config.tensor_parallel_size)]


def replica_options(config: VLLMModelConfig) -> dict[str, Any]:
    """Ray actor options of a replica (the launcher adds its placement group)."""
    return dict(
        num_cpus=1,
        # TP=1: the engine runs in this actor's process tree and needs the GPU itself. TP>1: vLLM's Ray
        # executor starts one worker per GPU bundle (capturing child tasks keeps them in this group),
        # and the actor only drives them.
        num_gpus=1 if config.tensor_parallel_size == 1 else 0,
        max_restarts=config.max_restarts,
        max_task_retries=0,  # the router retries a request on a live replica instead of waiting for this one
    )


def vllm_launcher(config: VLLMModelConfig, factory: EngineFactory,
                  placement_timeout_s: float = PLACEMENT_TIMEOUT_S) -> PlacedLauncher:
    """Per replica a STRICT_PACK group of its GPUs (tensor parallel wants one node)."""
    tp = config.tensor_parallel_size
    return PlacedLauncher(
        name=f"vllm-{served_name(config)}", count=config.replicas, bundles=replica_bundles(config),
        strategy="STRICT_PACK", replica_cls=VLLMReplica, args=(config, factory), options=replica_options(config),
        placement_timeout_s=placement_timeout_s, error=VLLMStartError,
        need=f"{config.replicas} replica(s) x tensor_parallel_size={tp} need {config.replicas * tp} GPUs: per "
             f"replica a placement group of {tp} bundles {{GPU: 1, CPU: 1}} on one node")


def start_vllm(config: VLLMModelConfig, engine_factory: EngineFactory | None = None, *,
               placement_timeout_s: float = PLACEMENT_TIMEOUT_S):
    """Start `config.replicas` engines on Ray behind a router; returns the router's actor handle, which
    answers `complete.remote(ModelRequest) -> ModelReply` and `stats.remote() -> dict` (with "model")
    like a ModelServer. Blocks until every replica has loaded its model. Stop it with `stop_vllm`."""
    engine_args(config)  # a bad engine_kwargs fails here, before any GPU is reserved
    launcher = vllm_launcher(config, engine_factory or VLLMEngineFactory(), placement_timeout_s)
    return start_router(served_name(config), launcher, health_check_s=config.health_check_s)


stop_vllm = stop_router
"""Stop the replicas, free their GPUs (placement groups) and the router."""
