"""SandboxPool: bounds how many sandboxes run at once, across every rollout worker.

Workers take a lease before opening a sandbox and give it back after; the pool counts
what ran, so a run can show its real concurrency. Ray restarts it when it dies (its node
lost): the new pool knows none of the old leases, so giving one of those back is a no-op,
and the fleet's slots still bound what runs. (The kubernetes backend will keep warm pods here.)
"""

from __future__ import annotations

import asyncio
import time

from actors import metrics


class SandboxPool:
    """An async Ray actor at the composition root; a plain asyncio object in tests."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError("SandboxPool size must be at least 1")
        self.size = size
        self._sem: asyncio.Semaphore | None = None
        self.active = 0
        self.peak = 0
        self.leases = 0
        self._held: set[int] = set()
        metrics.set_gauge("selfharness_sandbox_pool_size", size)
        metrics.set_gauge("selfharness_sandbox_pool_busy", 0)

    def _semaphore(self) -> asyncio.Semaphore:
        if self._sem is None:  # made on first use, inside the actor's event loop
            self._sem = asyncio.Semaphore(self.size)
        return self._sem

    async def acquire(self) -> int:
        start = time.monotonic()
        await self._semaphore().acquire()
        self.active += 1
        self.leases += 1
        self.peak = max(self.peak, self.active)
        self._held.add(self.leases)
        metrics.observe("selfharness_sandbox_lease_wait_s", time.monotonic() - start)
        metrics.set_gauge("selfharness_sandbox_pool_busy", self.active)
        return self.leases

    async def release(self, lease: int) -> None:
        if lease not in self._held:  # taken from a pool that died: this one never counted it
            return
        self._held.discard(lease)
        self.active -= 1
        self._semaphore().release()
        metrics.set_gauge("selfharness_sandbox_pool_busy", self.active)

    async def stats(self) -> dict:
        return {"size": self.size, "active": self.active, "peak": self.peak, "leases": self.leases}
