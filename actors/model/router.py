"""Routing model requests across engine replicas: sticky conversations, least load, failover.

Every turn of an episode resends the whole conversation, so the replica that answered the
last turn already holds its prefix in the KV cache: `Router` sends a conversation back to it.
A new conversation goes to the healthy replica with the fewest requests in flight. A replica
that fails a health check or dies gets no new work, and its conversations move on their next
turn (a cache miss, not a failure). The stickiness map is an LRU with a bound, because a run
makes tens of thousands of episodes and only the recent ones can still hit the cache.

`Router` is plain logic; `RouterActor` is the async Ray actor around it that compose.py talks
to (the same `complete` / `stats` as a ModelServer), checks replica health and retries a
request on another replica when one dies under it. Ray restarts the dead replica
(`max_restarts`); the health checks take it back once it answers again.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any, Protocol

import msgspec

from harnesses.model import ModelError, ModelReply, ModelRequest, relayed

MAX_CONVERSATIONS = 10_000
"""Sticky entries kept; an episode older than this many newer ones has left the prefix cache anyway."""
RESTART_WAIT_S = 900.0
"""How long a request waits for some replica to be healthy again (a restarted replica reloads its weights)."""
ROUTINGS = ("sticky", "round_robin")
MAX_FAILOVERS = 2
"""Retries of one request on another replica. A request that kills two replicas in a row is likely the
cause (a prompt that crashes the engine): stop before it takes down every replica."""
MIN_HEALTH_TIMEOUT_S = 10.0
"""A health check answers within max(health_check_s, this) or counts as failed (a busy event loop is slow, not dead)."""


class NoReplica(ModelError):
    """No healthy replica can take the request."""


class ReplicaDead(ModelError):
    """A replica's engine is dead though its actor lives: it must be restarted, and the request retried elsewhere."""


class EngineStats(msgspec.Struct, kw_only=True):
    """One replica's engine counters (vllm, llamacpp), which the router's stats show per replica."""

    requests: int = 0
    in_flight: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int = 0
    """Prompt tokens served from the prefix cache: what sticky routing buys."""
    latency_s: float = 0.0
    """Summed over answered requests: with the replica's uptime, how busy it was."""


class ReplicaState(msgspec.Struct, kw_only=True):
    index: int
    healthy: bool = True
    in_flight: int = 0
    requests: int = 0
    failures: int = 0
    """Requests it failed by dying, and failed health checks."""
    conversations: int = 0
    """Sticky conversations that point at it now."""
    restarts: int = 0
    """Restarts the router asked Ray for (an engine dead in a live actor)."""
    last_error: str = ""


class Router:
    """Which replica answers a request; no I/O, no Ray, not thread-safe (one event loop owns it)."""

    def __init__(self, replicas: int, max_conversations: int = MAX_CONVERSATIONS, routing: str = "sticky"):
        if replicas < 1 or max_conversations < 1:
            raise ValueError("a router needs at least one replica and room for one conversation")
        if routing not in ROUTINGS:
            raise ValueError(f"routing: {routing!r} is not one of {', '.join(ROUTINGS)}")
        self.routing = routing
        self._turn = 0
        self.states = [ReplicaState(index=i) for i in range(replicas)]
        self.max_conversations = max_conversations
        self._sticky: OrderedDict[str, int] = OrderedDict()
        self.moved = 0
        """Conversations that had to leave their replica (unhealthy or dead)."""

    def pick(self, conversation_id: str = "") -> int:
        """The replica for this request: its conversation's, while healthy; else the least loaded healthy one.
        (`round_robin` ignores conversations: the baseline the routing benchmark measures sticky against.)"""
        if self.routing == "round_robin":
            healthy = [s.index for s in self.states if s.healthy]
            if not healthy:
                raise NoReplica(f"no healthy replica among {len(self.states)}")
            self._turn += 1
            return healthy[self._turn % len(healthy)]
        index = self._sticky.get(conversation_id) if conversation_id else None
        if index is not None and self.states[index].healthy:
            self._sticky.move_to_end(conversation_id)
            return index
        healthy = [s for s in self.states if s.healthy]
        if not healthy:
            raise NoReplica(f"no healthy replica among {len(self.states)}: "
                            + "; ".join(f"{s.index}: {s.last_error or 'unhealthy'}" for s in self.states))
        # Ties (an idle cluster) go to the replica holding fewer conversations, so episodes spread out.
        best = min(healthy, key=lambda s: (s.in_flight, s.conversations, s.index)).index
        if conversation_id:
            if index is not None:
                self.states[index].conversations -= 1
                self.moved += 1
            self._sticky[conversation_id] = best
            self._sticky.move_to_end(conversation_id)
            self.states[best].conversations += 1
            while len(self._sticky) > self.max_conversations:
                _, old = self._sticky.popitem(last=False)
                self.states[old].conversations -= 1
        return best

    def begin(self, index: int) -> None:
        self.states[index].in_flight += 1
        self.states[index].requests += 1

    def end(self, index: int) -> None:
        self.states[index].in_flight -= 1

    def mark_unhealthy(self, index: int, reason: str) -> bool:
        """Take a replica out of rotation; True if it was in rotation (so the caller acts once)."""
        state = self.states[index]
        was = state.healthy
        state.healthy, state.last_error = False, reason
        state.failures += 1
        return was

    def mark_healthy(self, index: int) -> bool:
        """Put a replica back; True if it was out."""
        state = self.states[index]
        was = state.healthy
        state.healthy = True
        return not was

    def replica_of(self, conversation_id: str) -> int | None:
        return self._sticky.get(conversation_id)

    @property
    def conversations(self) -> int:
        return len(self._sticky)

    def snapshot(self) -> list[dict]:
        return [msgspec.to_builtins(s) for s in self.states]


class ReplicaLauncher(Protocol):
    """Starts the replicas (GPU placement, engines) inside the router actor, and stops them."""

    async def launch(self) -> list[Any]:
        """Replica actor handles with async `complete(request)`, `health()` and `stats()`."""
        ...

    async def shutdown(self) -> None: ...


def _cause(exc: BaseException) -> BaseException:
    """The exception a remote call raised, without Ray's wrapper (whose text is a whole traceback)."""
    import ray.exceptions

    if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
        return exc.cause
    return exc


def restarted() -> bool:
    """Whether this Ray actor is a restart (its first life ended); False outside Ray."""
    try:
        import ray

        # asking for the runtime context outside Ray would start a local cluster
        return ray.is_initialized() and ray.get_runtime_context().was_current_actor_reconstructed
    except Exception:
        return False


class RouterActor:
    """The model server compose.py sees for a replicated backend; made an async Ray actor by its starter.

    It owns its replicas (they are created from inside it), so killing it stops them too.
    """

    def __init__(self, name: str, launcher: ReplicaLauncher, *, health_check_s: float = 30.0,
                 max_conversations: int = MAX_CONVERSATIONS, restart_wait_s: float = RESTART_WAIT_S,
                 routing: str = "sticky"):
        self.name = name
        self.launcher = launcher
        self.health_check_s = health_check_s
        self.health_timeout_s = max(health_check_s, MIN_HEALTH_TIMEOUT_S)
        self.max_conversations = max_conversations
        self.restart_wait_s = restart_wait_s
        self.routing = routing
        self.replicas: list[Any] = []
        self.router: Router | None = None
        self.failovers = 0
        self.requests = 0
        self.errors = 0
        self._watchers: list[asyncio.Task] = []
        self._back: asyncio.Event | None = None
        self._restarting: set[int] = set()
        self._starting: asyncio.Lock | None = None
        self.launched = restarted()
        """This actor is a restart of one that had started (Ray gives a restarted actor a new life, not a flag)."""

    async def start(self) -> dict:
        """Launch the replicas, wait until every one answers, then watch their health. A router Ray restarted
        (its node lost) starts again on its first request: its replicas died with it, as their owner."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self.router is None:
                await self._launch()
        return await self.stats()

    async def _launch(self) -> None:
        try:
            self.replicas = await self.launcher.launch()
        except BaseException:
            await self.launcher.shutdown()  # a pending placement group would take GPUs later, for nobody
            raise
        self.router = Router(len(self.replicas), self.max_conversations, self.routing)
        self._back = asyncio.Event()
        self._watchers = [asyncio.create_task(self._watch(i)) for i in range(len(self.replicas))]

    async def complete(self, request: ModelRequest) -> ModelReply:
        if self.router is None and self.launched:
            await self.start()
        router = self._router()
        self.requests += 1
        events: list[str] = []
        for _ in range(MAX_FAILOVERS + 1):
            index = await self._pick(request.conversation_id)
            router.begin(index)
            try:
                reply = await self.replicas[index].complete.remote(request)
            except Exception as e:
                cause = _cause(e)
                if not self._is_death(cause):
                    self.errors += 1
                    if isinstance(cause, ModelError):
                        raise relayed(cause) from None
                    raise ModelError(f"replica {index}: {type(cause).__name__}: {cause}") from None
                self.failovers += 1
                events.append(f"failover: replica {index} died mid-request ({type(cause).__name__}), retried")
                self._failed(index, cause)
                continue
            finally:
                router.end(index)
            if events:
                reply = msgspec.structs.replace(reply, events=reply.events + tuple(events))
            return reply
        self.errors += 1
        raise ModelError(f"{self.name}: gave up after {len(events)} replicas died under the request: "
                         + "; ".join(events))

    async def check_health(self) -> list[bool]:
        """One health check of every replica now (the watchers do it every health_check_s)."""
        return list(await asyncio.gather(*(self._probe(i) for i in range(len(self.replicas)))))

    def replica_of(self, conversation_id: str) -> int | None:
        """Where a conversation's turns go (for tests and debugging)."""
        return self._router().replica_of(conversation_id)

    async def stats(self) -> dict:
        """The model's served name (as a ModelServer's stats), routing counters and each replica's own stats."""
        out: dict[str, Any] = {"model": self.name, "requests": self.requests, "errors": self.errors,
                               "failovers": self.failovers}
        if self.router is None:
            return out
        out.update(conversations=self.router.conversations, moved=self.router.moved,
                   healthy=sum(s.healthy for s in self.router.states), replicas=self.router.snapshot())

        async def one(i: int) -> dict:
            try:
                return await asyncio.wait_for(self._await(self.replicas[i].stats.remote()), self.health_timeout_s)
            except Exception as e:  # a dead or busy replica still leaves the rest of the stats readable
                return {"error": f"{type(_cause(e)).__name__}: {_cause(e)}"}

        for state, engine in zip(out["replicas"], await asyncio.gather(*(one(i) for i in range(len(self.replicas))))):
            state["engine"] = engine
        return out

    async def shutdown(self) -> None:
        """Stop watching, stop the replicas and free their GPUs."""
        for task in self._watchers:
            task.cancel()
        self._watchers = []
        await self.launcher.shutdown()

    # -- internals -------------------------------------------------------------------------

    def _router(self) -> Router:
        if self.router is None:
            raise ModelError(f"{self.name}: the router was not started")
        return self.router

    @staticmethod
    async def _await(ref):
        return await ref

    @staticmethod
    def _is_death(exc: BaseException) -> bool:
        import ray.exceptions

        return isinstance(exc, (ray.exceptions.RayActorError, ReplicaDead))

    async def _pick(self, conversation_id: str) -> int:
        """A healthy replica, waiting (bounded) for one to come back when none is."""
        router = self._router()
        deadline = time.monotonic() + self.restart_wait_s
        while True:
            try:
                return router.pick(conversation_id)
            except NoReplica:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                self._back.clear()
                try:
                    await asyncio.wait_for(self._back.wait(), timeout=min(left, self.health_check_s))
                except asyncio.TimeoutError:
                    pass

    def _failed(self, index: int, cause: BaseException) -> None:
        """A replica failed: out of rotation; an engine dead in a live actor is restarted by killing the actor."""
        router = self._router()
        router.mark_unhealthy(index, f"{type(cause).__name__}: {cause}"[:300])
        if isinstance(cause, ReplicaDead) and index not in self._restarting:
            import ray

            self._restarting.add(index)
            router.states[index].restarts += 1
            ray.kill(self.replicas[index], no_restart=False)  # Ray restarts it within max_restarts

    async def _probe(self, index: int) -> bool:
        try:
            await asyncio.wait_for(self._await(self.replicas[index].health.remote()), self.health_timeout_s)
        except asyncio.TimeoutError:
            self._router().mark_unhealthy(index, f"health check took over {self.health_timeout_s:g}s")
            return False
        except Exception as e:
            self._failed(index, _cause(e))
            return False
        self._restarting.discard(index)
        if self._router().mark_healthy(index):
            self._back.set()
        return True

    async def _watch(self, index: int) -> None:
        while True:
            await asyncio.sleep(self.health_check_s)
            await self._probe(index)
