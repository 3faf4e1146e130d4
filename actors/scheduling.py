"""Who runs which episode, and when one runs again: the pure rules under the cluster's scheduler.

`EpisodeQueue` holds a batch's jobs and is the one rule of reruns, shared with resume: a
job runs until it gives a trace that is not an infrastructure error (a lost worker, a
sandbox that did not start, a model outage, a crashed verifier), at most
`1 + max_infra_retries` times; a job whose episode is already recorded never runs again.
`place_workers` sizes and spreads rollout workers over nodes by what each node offers.
Nothing here imports Ray: `cluster/fleet.py` and `cluster/compose.py` drive these.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Generic, TypeVar

import msgspec

from harnesses.trace import Trace

J = TypeVar("J")


class EpisodeQueue(Generic[J]):
    """A batch's jobs: which to run next, which to run again, which are final.

    `recorded(i)` says whether job i's episode is already in the run directory (resume's rule):
    such a job is never dispatched, and a late second result for it is dropped.
    """

    def __init__(self, jobs: list[J], *, max_infra_retries: int, recorded: Callable[[int], bool] = lambda i: False,
                 infra_trace: Callable[[J, str, int], Trace]):
        if max_infra_retries < 0:
            raise ValueError("max_infra_retries: must not be negative")
        self.jobs, self.max_retries, self.recorded, self.infra_trace = jobs, max_infra_retries, recorded, infra_trace
        self.pending: deque[int] = deque(range(len(jobs)))
        self.tries = [0] * len(jobs)
        self.running: set[int] = set()
        self.final: dict[int, Trace] = {}
        self.skipped: set[int] = set()
        """Jobs found recorded when their turn came: the caller reads them from the run directory."""
        self.reruns = 0
        """Dispatches beyond each job's first: what faults cost."""

    def __len__(self) -> int:
        return len(self.pending)

    @property
    def finished(self) -> bool:
        return not self.pending and not self.running

    def next(self) -> int | None:
        """The next job to dispatch (None: nothing is waiting); recorded jobs are skipped for good."""
        while self.pending:
            i = self.pending.popleft()
            if i in self.final or i in self.running or i in self.skipped:
                continue
            if self.recorded(i):  # another life of this run recorded it: never run twice
                self.skipped.add(i)
                continue
            if self.tries[i]:
                self.reruns += 1
            self.tries[i] += 1
            self.running.add(i)
            return i
        return None

    def done(self, i: int, trace: Trace) -> Trace | None:
        """Job i gave `trace`: the trace to record (its retries counted in it), or None when i runs again."""
        self.running.discard(i)
        if i in self.final or i in self.skipped:
            return None  # a late duplicate
        if trace.infra_error is not None and self.tries[i] <= self.max_retries:
            self.pending.appendleft(i)  # first in line: a retry should not wait behind the whole batch
            return None
        trace = msgspec.structs.replace(trace, infra_retries=self.tries[i] - 1)
        self.final[i] = trace
        return trace

    def lost(self, i: int, reason: str) -> Trace | None:
        """Job i's worker is gone: run it again, or (out of retries) the infrastructure-error trace to record."""
        if i not in self.running:
            return None
        return self.done(i, self.infra_trace(self.jobs[i], reason, self.tries[i]))


class NodeOffer(msgspec.Struct, frozen=True):
    """What one node offers the run's sandboxes: its id and how many sandbox slots it can hold."""

    node_id: str
    slots: int


class WorkerPlan(msgspec.Struct, frozen=True):
    node_id: str
    slots: int


def place_workers(offers: list[NodeOffer], held: dict[str, int], *, want: int, per_worker: int) -> list[WorkerPlan]:
    """New workers so that the run holds `want` slots: each of at most `per_worker` slots, each on the node
    the run fills least in proportion to what it offers (`held`: what the run's live workers already take
    there), so workers spread by capacity and a node with a little less free room still gets its share.
    Fewer when the nodes are full; the caller tries again when nodes join."""
    offered = {o.node_id: o.slots for o in offers if o.slots > 0}
    taken = {n: held.get(n, 0) for n in offered}
    order = {o.node_id: k for k, o in enumerate(offers)}
    missing = want - sum(held.values())
    plans: list[WorkerPlan] = []
    while missing > 0:
        room = [n for n in offered if offered[n] > taken[n]]
        if not room:
            break
        node = min(room, key=lambda n: (taken[n] / offered[n], -(offered[n] - taken[n]), order[n]))
        n = min(per_worker, missing, offered[node] - taken[node])
        plans.append(WorkerPlan(node_id=node, slots=n))
        taken[node] += n
        missing -= n
    return plans


def run_in_threads(jobs: list[J], run: Callable[[J], Trace], *, concurrency: int, max_infra_retries: int,
                   infra_trace: Callable[[J, str, int], Trace], recorded: Callable[[int], bool] = lambda i: False,
                   on_trace: Callable[[int, Trace], None] = lambda i, t: None) -> list[Trace | None]:
    """The queue's rule in this process: `concurrency` threads pull jobs (in-process runs, tests)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    queue = EpisodeQueue(jobs, max_infra_retries=max_infra_retries, recorded=recorded, infra_trace=infra_trace)
    out: list[Trace | None] = [None] * len(jobs)
    with ThreadPoolExecutor(concurrency) as pool:
        futures: dict = {}
        while not queue.finished:
            while len(futures) < concurrency:
                i = queue.next()
                if i is None:
                    break
                futures[pool.submit(run, jobs[i])] = i
            if not futures:
                break
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for f in done:
                i = futures.pop(f)
                try:
                    trace = f.result()
                except Exception as e:  # one broken episode never stops a batch
                    trace = infra_trace(jobs[i], f"episode crashed: {type(e).__name__}: {e}"[:500], queue.tries[i])
                final = queue.done(i, trace)
                if final is not None:
                    out[i] = final
                    on_trace(i, final)
    return out
