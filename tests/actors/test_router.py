"""The router's choices, without Ray: sticky conversations, least load, failover, a bounded memory."""

from __future__ import annotations

import asyncio

import pytest
import ray.exceptions

from actors.model.router import NoReplica, ReplicaDead, Router, RouterActor
from harnesses.model import Message, ModelError, ModelReply, ModelRequest


def test_a_conversation_sticks_to_its_replica():
    r = Router(3)
    first = r.pick("ep-1")
    for _ in range(5):
        r.begin(r.pick("other-" + str(_)))  # load elsewhere does not move it
        assert r.pick("ep-1") == first
    assert r.replica_of("ep-1") == first


def test_new_conversations_go_to_the_least_loaded_healthy_replica():
    r = Router(3)
    r.begin(0)
    r.begin(0)
    r.begin(1)
    assert r.pick("new") == 2
    r.begin(2)
    r.begin(2)
    assert r.pick("newer") == 1  # 1 request in flight against 2 and 2
    r.end(0)
    r.end(0)
    assert r.pick("newest") == 0


def test_an_idle_cluster_spreads_conversations():
    r = Router(3)
    assert sorted(r.pick(f"ep-{i}") for i in range(3)) == [0, 1, 2]
    assert [s.conversations for s in r.states] == [1, 1, 1]


def test_requests_without_a_conversation_are_not_remembered():
    r = Router(2)
    r.pick("")
    assert r.conversations == 0


def test_an_unhealthy_replica_gets_no_new_work_and_its_conversations_move():
    r = Router(2)
    a, b = r.pick("a"), r.pick("b")
    assert a != b
    r.mark_unhealthy(a, "health check failed")
    assert r.pick("c") == b
    assert r.pick("a") == b and r.replica_of("a") == b and r.moved == 1
    assert r.states[a].conversations == 0 and r.states[b].conversations == 3
    assert r.mark_healthy(a) and not r.mark_healthy(a)
    assert r.pick("a") == b  # moved conversations stay where their cache now is
    assert r.pick("d") == a


def test_no_healthy_replica_is_a_model_error_naming_the_causes():
    r = Router(2)
    r.mark_unhealthy(0, "actor died")
    r.mark_unhealthy(1, "health check took too long")
    with pytest.raises(NoReplica, match="actor died.*took too long"):
        r.pick("x")


def test_the_stickiness_map_is_a_bounded_lru():
    r = Router(2, max_conversations=3)
    for cid in ("a", "b", "c"):
        r.pick(cid)
    r.pick("a")  # a is now the most recent
    r.pick("d")  # evicts b, the least recent
    assert r.conversations == 3
    assert r.replica_of("b") is None and r.replica_of("a") is not None
    assert sum(s.conversations for s in r.states) == 3
    for i in range(100):
        r.pick(f"x{i}")
    assert r.conversations == 3 and sum(s.conversations for s in r.states) == 3


def test_in_flight_counts_and_snapshot():
    r = Router(2)
    i = r.pick("a")
    r.begin(i)
    snap = r.snapshot()
    assert snap[i]["in_flight"] == 1 and snap[i]["requests"] == 1 and snap[i]["healthy"]
    r.end(i)
    assert r.states[i].in_flight == 0


# -- the router actor's logic on plain asyncio, with fake replica handles (no Ray) -------------------

class _Method:
    def __init__(self, fn):
        self.fn = fn

    def remote(self, *args):
        return self.fn(*args)  # a coroutine: awaitable like an ObjectRef


class FakeReplica:
    """What the router needs of a replica handle; `state` says how it fails."""

    def __init__(self, index: int):
        self.index, self.state, self.served = index, "ok", 0
        self.complete, self.health, self.stats = _Method(self._complete), _Method(self._health), _Method(self._stats)

    async def _complete(self, request):
        await asyncio.sleep(0)
        if self.state == "actor_dead":
            raise ray.exceptions.ActorDiedError()
        if self.state == "engine_dead":
            raise ReplicaDead("vLLM engine is dead")
        if self.state == "bad_request":
            raise ModelError("vLLM: prompt too long")
        self.served += 1
        return ModelReply(text=f"from {self.index}", model="m")

    async def _health(self):
        if self.state in ("actor_dead", "engine_dead"):
            raise ReplicaDead("dead") if self.state == "engine_dead" else ray.exceptions.ActorDiedError()
        return True

    async def _stats(self):
        if self.state == "actor_dead":
            raise ray.exceptions.ActorDiedError()
        return {"served": self.served}


class FakeLauncher:
    def __init__(self, n: int):
        self.replicas = [FakeReplica(i) for i in range(n)]
        self.stopped = False

    async def launch(self):
        return self.replicas

    async def shutdown(self):
        self.stopped = True


def ask(cid: str = "ep") -> ModelRequest:
    return ModelRequest(messages=(Message("user", "hi"),), conversation_id=cid)


def run(coro):
    return asyncio.run(coro)


def test_router_actor_fails_over_when_a_replica_dies_mid_request():
    async def go():
        launcher = FakeLauncher(2)
        actor = RouterActor("m", launcher, health_check_s=60)
        assert (await actor.start())["model"] == "m"
        first = await actor.complete(ask("a"))
        home = actor.replica_of("a")
        assert first.text == f"from {home}" and not first.events
        launcher.replicas[home].state = "actor_dead"
        reply = await actor.complete(ask("a"))
        assert reply.text == f"from {1 - home}"
        assert reply.events == (f"failover: replica {home} died mid-request (ActorDiedError), retried",)
        stats = await actor.stats()
        assert stats["failovers"] == 1 and stats["healthy"] == 1 and actor.replica_of("a") == 1 - home
        assert "error" in stats["replicas"][home]["engine"]  # a dead replica leaves the stats readable
        await actor.shutdown()
        assert launcher.stopped

    run(go())


def test_a_dead_engine_in_a_live_actor_is_restarted_by_killing_the_actor(monkeypatch):
    killed = []
    monkeypatch.setattr("ray.kill", lambda handle, no_restart=True: killed.append((handle.index, no_restart)))

    async def go():
        launcher = FakeLauncher(2)
        actor = RouterActor("m", launcher, health_check_s=60)
        await actor.start()
        launcher.replicas[0].state = "engine_dead"
        await actor.complete(ask("a"))  # idle tie: replica 0 first
        assert await actor.check_health() == [False, True]
        assert killed == [(0, False)]  # once, though it failed twice
        launcher.replicas[0].state = "ok"  # Ray restarted it
        assert await actor.check_health() == [True, True]
        assert actor.router.states[0].restarts == 1

    run(go())


def test_a_request_waits_for_a_replica_to_come_back():
    async def go():
        launcher = FakeLauncher(1)
        actor = RouterActor("m", launcher, health_check_s=0.02, restart_wait_s=60)
        await actor.start()
        launcher.replicas[0].state = "actor_dead"

        async def restart():
            await asyncio.sleep(0.1)
            launcher.replicas[0].state = "ok"

        task = asyncio.create_task(restart())
        reply = await actor.complete(ask())
        await task
        assert reply.text == "from 0" and reply.events[0].startswith("failover: replica 0")
        await actor.shutdown()

    run(go())


def test_without_any_replica_back_in_time_the_request_is_a_model_error():
    async def go():
        launcher = FakeLauncher(2)
        actor = RouterActor("m", launcher, health_check_s=0.01, restart_wait_s=0.05)
        await actor.start()
        for r in launcher.replicas:
            r.state = "actor_dead"
        with pytest.raises(ModelError, match="no healthy replica"):
            await actor.complete(ask())
        await actor.shutdown()

    run(go())


def test_a_request_that_kills_replicas_is_not_retried_forever(monkeypatch):
    monkeypatch.setattr("ray.kill", lambda handle, no_restart=True: None)

    async def go():
        launcher = FakeLauncher(4)
        actor = RouterActor("m", launcher, health_check_s=60)
        await actor.start()
        for r in launcher.replicas:
            r.state = "engine_dead"
        with pytest.raises(ModelError, match="gave up after 3 replicas died"):
            await actor.complete(ask())
        assert sum(not s.healthy for s in actor.router.states) == 3  # the fourth was never tried

    run(go())


def test_a_bad_request_is_the_callers_error_and_not_a_failover():
    async def go():
        launcher = FakeLauncher(2)
        actor = RouterActor("m", launcher, health_check_s=60)
        await actor.start()
        launcher.replicas[0].state = launcher.replicas[1].state = "bad_request"
        with pytest.raises(ModelError, match="prompt too long"):
            await actor.complete(ask())
        stats = await actor.stats()
        assert stats["failovers"] == 0 and stats["errors"] == 1 and stats["healthy"] == 2

    run(go())


def test_round_robin_ignores_conversations_and_skips_unhealthy_replicas():
    r = Router(3, routing="round_robin")
    assert [r.pick("a") for _ in range(4)] == [1, 2, 0, 1]
    r.mark_unhealthy(2, "down")
    assert {r.pick("a") for _ in range(4)} == {0, 1} and r.conversations == 0
    with pytest.raises(ValueError, match="routing: 'random' is not one of sticky, round_robin"):
        Router(2, routing="random")
