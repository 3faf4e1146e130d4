"""The llamacpp backend on Ray: `replicas` llama.cpp models (actors/model/llamacpp.py), each on its own
placement group of `n_threads` CPUs, behind the conversation-sticky router (cluster/replicas.py)."""

from __future__ import annotations

from actors.model.config import LlamaCppModelConfig
from actors.model.gguf import GGUFError, resolve, served_name
from actors.model.llamacpp import LlamaCppReplica
from cluster.replicas import PLACEMENT_TIMEOUT_S, PlacedLauncher, ReplicaStartError, start_router, stop_router


def llamacpp_launcher(config: LlamaCppModelConfig,
                      placement_timeout_s: float = PLACEMENT_TIMEOUT_S) -> PlacedLauncher:
    """Per replica one bundle of `cpus` (default `n_threads`) CPUs, which the replica actor takes whole: with the
    default, llama.cpp's threads never share a core with a sandbox Ray placed there."""
    cpus = config.cpus or float(config.n_threads)
    return PlacedLauncher(
        name=f"llamacpp-{served_name(config)}", count=config.replicas, bundles=[{"CPU": cpus}],
        strategy="PACK", replica_cls=LlamaCppReplica, args=(config,),
        options=dict(num_cpus=cpus, max_restarts=config.max_restarts, max_task_retries=0),
        placement_timeout_s=placement_timeout_s,
        need=f"{config.replicas} replica(s) need {cpus:g} CPUs each on one node")


def start_llamacpp(config: LlamaCppModelConfig, *, placement_timeout_s: float = PLACEMENT_TIMEOUT_S):
    """Start the replicas behind a router (see `start_router`); the weights are found (or assembled from
    their packages) here first, so a missing extra or a bad checksum fails before anything is reserved."""
    try:
        from llama_cpp import Llama  # noqa: F401
    except ImportError:
        from actors.model.gguf import EXTRA_HINT

        raise ReplicaStartError(f"model.kind llamacpp needs llama-cpp-python: {EXTRA_HINT}") from None
    resolve(config.gguf, config.cache_dir)
    return start_router(served_name(config), llamacpp_launcher(config, placement_timeout_s),
                        health_check_s=config.health_check_s, passthrough=(GGUFError,), routing=config.routing)


stop_llamacpp = stop_router
