"""Model replicas on Ray, whatever their engine: one placement group per replica reserves what it runs on
(GPUs for vllm, CPU threads for llamacpp), a replica actor starts in it, and a restartable router
(actors/model/router.py) in front keeps each conversation on the replica that holds its cache."""

from __future__ import annotations

import asyncio
from typing import Any

import ray

from actors.model.router import RouterActor
from cluster.ray_init import init_ray

PLACEMENT_TIMEOUT_S = 300.0
"""How long a start waits for its placement groups (an autoscaling cluster may have to add a node first)."""


class ReplicaStartError(RuntimeError):
    """The replicas could not be placed or did not load their model."""


class PlacedLauncher:
    """Reserves `count` placement groups of `bundles` and starts `replica_cls(*args, index)` in bundle 0 of each;
    runs inside the router actor, which so owns the replicas. Groups are named, so a restarted router frees
    its last life's before it reserves again."""

    def __init__(self, *, name: str, count: int, bundles: list[dict[str, float]], strategy: str, replica_cls,
                 args: tuple, options: dict[str, Any], placement_timeout_s: float = PLACEMENT_TIMEOUT_S,
                 need: str = "", error: type[Exception] = ReplicaStartError):
        self.name, self.count, self.bundles, self.strategy = name, count, bundles, strategy
        self.replica_cls, self.args, self.options = replica_cls, args, options
        self.placement_timeout_s, self.need, self.error = placement_timeout_s, need, error
        self.groups: list[Any] = []
        self.replicas: list[Any] = []

    def group_names(self) -> list[str]:
        return [f"selfharness-{self.name}-{i}" for i in range(self.count)]

    async def launch(self) -> list[Any]:
        from ray.util import get_placement_group, remove_placement_group
        from ray.util.placement_group import placement_group

        for name in self.group_names():  # a restarted router's groups of its last life: free them first
            try:
                remove_placement_group(get_placement_group(name))
            except Exception:
                pass
        self.groups = [placement_group(self.bundles, strategy=self.strategy, name=n) for n in self.group_names()]
        try:
            await asyncio.wait_for(asyncio.gather(*(_awaited(g.ready()) for g in self.groups)),
                                   self.placement_timeout_s)
        except asyncio.TimeoutError:
            total, free = ray.cluster_resources(), ray.available_resources()
            kinds = list(dict.fromkeys(k for b in self.bundles for k in b))
            have = ", ".join(f"{total.get(k, 0):g} {k}s ({free.get(k, 0):g} free)" for k in kinds)
            raise self.error(f"{self.name}: {self.need or f'{self.count} x {self.bundles}'}; not placed within "
                             f"{self.placement_timeout_s:g}s (the cluster has {have})") from None
        remote = ray.remote(self.replica_cls)
        self.replicas = [remote.options(**self.options, scheduling_strategy=pinned(g)).remote(*self.args, i)
                         for i, g in enumerate(self.groups)]
        results = await asyncio.gather(*(_awaited(r.start.remote()) for r in self.replicas), return_exceptions=True)
        failed = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
        if failed:
            i, e = failed[0]
            cause = getattr(e, "cause", None) or e
            raise self.error(f"{self.name} replica {i} of {self.count} did not start: {type(cause).__name__}: {cause}")
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


def pinned(group):
    """A replica in bundle 0 of its group; what it starts (vLLM's tensor-parallel workers) stays in the group."""
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    return PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=0,
                                            placement_group_capture_child_tasks=True)


async def _awaited(ref):
    return await ref


def start_router(name: str, launcher: PlacedLauncher, *, health_check_s: float,
                 passthrough: tuple[type[Exception], ...] = (), routing: str = "sticky"):
    """Start the router and, through it, the replicas; block until every replica has loaded its model. Returns
    the router's handle, which answers `complete.remote(ModelRequest)` and `stats.remote()` like a ModelServer.
    A start that fails kills the router (and so its replicas) and raises the cause, when it is one of
    `passthrough`, else `launcher.error`."""
    if not ray.is_initialized():
        init_ray()
    # Restarted on a live node when its own dies; it then starts new replicas on its first request.
    Router = ray.remote(RouterActor).options(num_cpus=0, max_restarts=-1, max_task_retries=-1)
    router = Router.remote(name, launcher, health_check_s=health_check_s, routing=routing)
    try:
        ray.get(router.start.remote())
    except Exception as e:
        ray.kill(router, no_restart=True)
        cause = getattr(e, "cause", None)
        if isinstance(cause, (launcher.error, ImportError, ValueError, *passthrough)):
            raise type(cause)(str(cause)) from None
        raise launcher.error(f"{name}: the router did not start: {e}") from None
    return router


def stop_router(router, timeout_s: float = 60.0) -> None:
    """Stop the replicas, free their placement groups, then the router."""
    try:
        ray.get(router.shutdown.remote(), timeout=timeout_s)
    except Exception:
        pass
    ray.kill(router, no_restart=True)
