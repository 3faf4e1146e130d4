"""The run's rollout workers on the cluster's nodes: placed by what each node offers, replaced
when lost, grown when nodes join.

A worker is a threaded actor pinned to one node; it holds `slots` episodes at once and
reserves `slots x` the sandbox's Ray CPU there, so Ray never puts more sandboxes on a node
than its CPUs were said to hold. The fleet holds `concurrency` slots in all when the
cluster can; what it cannot place now is asked of the autoscaler and placed when a node
joins. A worker whose node dies (or that dies) is dropped; the scheduler reruns its
episodes and the next `refresh` places its slots elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from actors.sandbox.config import KubernetesSandboxConfig, SandboxConfig
from actors.scheduling import NodeOffer, place_workers

REFRESH_S = 2.0
"""How often the fleet looks at the cluster's nodes (deaths are also seen at once from failed calls)."""


def slot_cpus(sandbox: SandboxConfig) -> float:
    """Ray CPU one running sandbox takes on the worker's node (a local or docker sandbox runs there; a
    kubernetes pod runs elsewhere)."""
    return 0.0 if isinstance(sandbox, KubernetesSandboxConfig) else sandbox.cpus


def node_offer(sandbox: SandboxConfig, node: dict, free_cpus: float | None = None, held: int = 0) -> NodeOffer:
    """How many sandbox slots a node (an entry of `ray.nodes()`) offers the run: what its free CPU holds
    (others' actors, a Serve app, take theirs first) plus the `held` slots the run's workers have there."""
    cpus = float(node.get("Resources", {}).get("CPU", 0.0))
    if isinstance(sandbox, KubernetesSandboxConfig):
        slots = sandbox.capacity if cpus >= 1 else 0  # the pods' capacity is the Kubernetes cluster's
    else:
        slots = int((cpus if free_cpus is None else free_cpus) / sandbox.cpus + 1e-9) + held
    return NodeOffer(node_id=node["NodeID"], slots=slots)


def free_cpus_per_node() -> dict[str, float] | None:
    """Unreserved CPU per node id; None when Ray no longer answers it (then nodes offer their totals)."""
    try:
        from ray._private.state import available_resources_per_node

        return {n: float(r.get("CPU", 0.0)) for n, r in available_resources_per_node().items()}
    except Exception:
        return None


@dataclass(eq=False)
class Member:
    """One worker actor and what the scheduler knows of it."""

    handle: Any
    node_id: str
    slots: int
    ready_ref: Any
    ready: bool = False
    since: float = field(default_factory=time.monotonic)
    running: set = field(default_factory=set)

    @property
    def free(self) -> int:
        return self.slots - len(self.running) if self.ready else 0


class Fleet:
    """Worker actors made by `make(options)`: pinned to a node and sized by `place_workers`."""

    def __init__(self, make: Callable[[dict], Any], sandbox: SandboxConfig, *, concurrency: int, workers: int):
        self.make, self.sandbox, self.concurrency = make, sandbox, concurrency
        self.per_worker = max(1, -(-concurrency // max(1, workers)))
        self.members: list[Member] = []
        self._checked = 0.0
        self._warned = 0.0

    def refresh(self, force: bool = False) -> None:
        """Drop workers on dead nodes; place the slots the run lacks on the nodes with room."""
        import ray

        now = time.monotonic()
        if not force and now - self._checked < REFRESH_S:
            return
        self._checked = now
        alive = [n for n in ray.nodes() if n.get("Alive")]
        ids = {n["NodeID"] for n in alive}
        for m in [m for m in self.members if m.node_id not in ids]:
            self.drop(m)
        held: dict[str, int] = {}
        for m in self.members:
            held[m.node_id] = held.get(m.node_id, 0) + m.slots
        free = free_cpus_per_node()
        offers = [node_offer(self.sandbox, n, None if free is None else free.get(n["NodeID"], 0.0),
                             held.get(n["NodeID"], 0) if free is not None else 0) for n in alive]
        want = min(self.concurrency, self.sandbox.capacity) if isinstance(self.sandbox, KubernetesSandboxConfig) \
            else self.concurrency
        for plan in place_workers(offers, held, want=want, per_worker=self.per_worker):
            self._start(plan.node_id, plan.slots)
        missing = want - sum(m.slots for m in self.members)
        if missing > 0:
            self._ask_autoscaler(missing)
        pending = self.pending_ready()
        if pending:  # workers that came up while nobody was dispatching
            ready, _ = ray.wait(pending, num_returns=len(pending), timeout=0)
            for ref in ready:
                self.mark_ready(ref)
        waiting = [m for m in self.members if not m.ready and now - m.since > 60]
        if (not self.members or waiting) and now - self._warned > 60:
            self._warned = now
            import sys

            print(f"self-harness: rollout workers wait for CPU: {sum(m.slots for m in self.members if m.ready)} of "
                  f"{want} sandbox slots are placed ({slot_cpus(self.sandbox):g} CPU each, `sandbox.cpus`); free "
                  "slots per node: " + ", ".join(f"{o.node_id[:8]}={o.slots - held.get(o.node_id, 0)}" for o in offers)
                  + ". Lower sandbox.cpus or concurrency, or add a node.", file=sys.stderr, flush=True)

    def _start(self, node_id: str, slots: int) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        handle = self.make(dict(max_concurrency=slots, num_cpus=slots * slot_cpus(self.sandbox), max_restarts=0,
                                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False)))
        self.members.append(Member(handle=handle, node_id=node_id, slots=slots, ready_ref=handle.ready.remote()))

    def _ask_autoscaler(self, slots: int) -> None:
        """Pending demand for the autoscaler (KubeRay): nodes it adds get workers at the next refresh."""
        cpus = slot_cpus(self.sandbox)
        if cpus <= 0:
            return
        try:
            from ray.autoscaler.sdk import request_resources

            request_resources(bundles=[{"CPU": cpus * self.per_worker}] * -(-slots // self.per_worker))
        except Exception:  # no autoscaler here: the slots wait for a node that joins by hand
            pass

    def drop(self, member: Member) -> set:
        """Forget a worker (dead, or on a dead node); returns the calls it had in flight."""
        import ray

        if member in self.members:
            self.members.remove(member)
            self._checked = 0.0  # place its slots again at once
        try:
            ray.kill(member.handle, no_restart=True)
        except Exception:
            pass
        return member.running

    def pending_ready(self) -> list:
        return [m.ready_ref for m in self.members if not m.ready]

    def mark_ready(self, ref) -> None:
        """A worker's `ready` call finished: usable, or dropped if it failed to start."""
        import ray

        for m in self.members:
            if m.ready_ref == ref and not m.ready:
                try:
                    ray.get(ref)
                    m.ready = True
                except Exception:
                    self.drop(m)
                return

    def free(self) -> list[Member]:
        """Ready workers with a free slot, the emptiest first (so load spreads over nodes)."""
        return sorted((m for m in self.members if m.free > 0), key=lambda m: -m.free / m.slots)

    def placement(self) -> dict[str, dict[str, int]]:
        """Workers and slots per node."""
        out: dict[str, dict[str, int]] = {}
        for m in self.members:
            cell = out.setdefault(m.node_id, {"workers": 0, "slots": 0})
            cell["workers"] += 1
            cell["slots"] += m.slots
        return out

    def close(self, call_close: bool = True) -> None:
        import ray

        if call_close:
            try:
                ray.get([m.handle.close.remote() for m in self.members if m.ready], timeout=120)
            except Exception:  # a dead worker holds nothing; the sweeper removes what a crash left
                pass
        for m in list(self.members):
            self.drop(m)
