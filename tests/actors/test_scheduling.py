"""The rerun rule (one for retries and resume) and the spread of workers by capacity, without Ray."""

from __future__ import annotations

import threading

import pytest

from actors.scheduling import EpisodeQueue, NodeOffer, WorkerPlan, place_workers, run_in_threads
from harnesses.trace import Trace


def trace(job: str, infra: str | None = None) -> Trace:
    return Trace(task=job, harness_id="h", model="m", attempt=0, seed=0, reward=None if infra else 1.0,
                 infra_error=infra)


def lost_trace(job: str, reason: str, tries: int) -> Trace:
    return trace(job, infra=reason)


def queue(jobs, retries=2, recorded=lambda i: False) -> EpisodeQueue:
    return EpisodeQueue(jobs, max_infra_retries=retries, recorded=recorded, infra_trace=lost_trace)


def test_a_lost_worker_reruns_the_episode_and_counts_it():
    q = queue(["a", "b"])
    assert q.next() == 0 and q.next() == 1 and q.next() is None
    assert q.lost(0, "worker lost") is None  # runs again
    assert q.next() == 0 and q.reruns == 1
    final = q.done(0, trace("a"))
    assert final.passed and final.infra_retries == 1
    assert q.done(1, trace("b")).infra_retries == 0
    assert q.finished


def test_infra_errors_are_retried_up_to_the_limit_then_recorded():
    q = queue(["a"], retries=2)
    for _ in range(2):
        assert q.next() == 0
        assert q.done(0, trace("a", infra="sandbox: did not start")) is None
    assert q.next() == 0
    final = q.done(0, trace("a", infra="sandbox: did not start"))
    assert final.infra_error and final.infra_retries == 2 and q.finished and q.reruns == 2


def test_no_retries_means_the_first_infra_error_is_final():
    q = queue(["a"], retries=0)
    q.next()
    assert q.lost(0, "worker lost").infra_error == "worker lost"


def test_a_recorded_episode_is_never_run_and_a_late_duplicate_is_dropped():
    recorded = {1}
    q = queue(["a", "b", "c"], recorded=lambda i: i in recorded)
    assert [q.next(), q.next(), q.next()] == [0, 2, None]
    assert q.skipped == {1}
    assert q.done(0, trace("a")) is not None
    assert q.done(0, trace("a")) is None  # a zombie's second answer changes nothing
    assert q.lost(0, "late") is None
    q.done(2, trace("c"))
    assert q.finished and set(q.final) == {0, 2}


def test_a_retry_goes_first_in_line():
    q = queue(["a", "b", "c"])
    assert q.next() == 0
    q.lost(0, "worker lost")
    assert q.next() == 0


def test_negative_retries_are_refused():
    with pytest.raises(ValueError, match="max_infra_retries"):
        queue(["a"], retries=-1)


def test_workers_spread_over_equal_nodes():
    offers = [NodeOffer("a", 8), NodeOffer("b", 8), NodeOffer("c", 8)]
    plans = place_workers(offers, {}, want=6, per_worker=1)
    assert sorted(p.node_id for p in plans) == ["a", "a", "b", "b", "c", "c"]


def test_a_node_with_a_little_less_room_still_gets_its_share():
    offers = [NodeOffer("a", 8), NodeOffer("b", 6), NodeOffer("c", 8)]  # b: another actor holds some CPU
    plans = place_workers(offers, {}, want=6, per_worker=1)
    assert sorted(p.node_id for p in plans) == ["a", "a", "b", "b", "c", "c"]


def test_workers_follow_capacity_and_stop_when_nodes_are_full():
    offers = [NodeOffer("big", 6), NodeOffer("small", 2)]
    plans = place_workers(offers, {}, want=10, per_worker=2)
    per_node = {n: sum(p.slots for p in plans if p.node_id == n) for n in ("big", "small")}
    assert per_node == {"big": 6, "small": 2}  # 8 of 10: the rest waits for a node to join


def test_a_lost_nodes_slots_are_placed_again_on_the_rest():
    offers = [NodeOffer("a", 4), NodeOffer("b", 4)]
    assert place_workers(offers, {"a": 2}, want=4, per_worker=2) == [WorkerPlan("b", 2)]
    assert place_workers(offers, {"a": 2, "b": 2}, want=4, per_worker=2) == []


def test_threads_apply_the_same_rule():
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def run(job: str) -> Trace:
        with lock:
            seen[job] = seen.get(job, 0) + 1
            first = seen[job] == 1
        if job == "flaky" and first:
            return trace(job, infra="model: outage")
        if job == "crash" and first:
            raise RuntimeError("boom")
        return trace(job)

    got = []
    out = run_in_threads(["ok", "flaky", "crash", "done"], run, concurrency=2, max_infra_retries=1,
                         infra_trace=lost_trace, recorded=lambda i: i == 3, on_trace=lambda i, t: got.append(i))
    assert [t.passed if t else None for t in out] == [True, True, True, None]
    assert [t.infra_retries for t in out[:3]] == [0, 1, 1]
    assert sorted(got) == [0, 1, 2] and "done" not in seen
