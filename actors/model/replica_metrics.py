"""A model replica's counters (vllm, llamacpp) through ray.util.metrics, so they reach Ray's Prometheus
endpoint and the Grafana dashboard: requests, errors, tokens (and those the prefix cache served), requests
in flight, seconds per request (whose rate is the replica's busy fraction).

The table of names is `actors/metrics.py` (where="ModelReplica"); a test keeps the two equal.
"""

from __future__ import annotations

import time
from typing import Awaitable, Callable

from harnesses.model import ModelReply

LATENCY_BUCKETS_S = [0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300]


class ReplicaMetrics:
    def __init__(self, backend: str, model: str, replica: int):
        from ray.util import metrics

        keys = ("backend", "model", "replica")
        tags = {"backend": backend, "model": model, "replica": str(replica)}

        def made(metric):
            metric.set_default_tags(tags)
            return metric

        self.requests = made(metrics.Counter("selfharness_replica_requests", "Requests a model replica took", keys))
        self.errors = made(metrics.Counter("selfharness_replica_errors", "Requests a model replica failed", keys))
        self.prompt_tokens = made(metrics.Counter("selfharness_replica_prompt_tokens", "Prompt tokens", keys))
        self.cached_tokens = made(metrics.Counter("selfharness_replica_cached_tokens",
                                                  "Prompt tokens the prefix cache served (not evaluated again)", keys))
        self.completion_tokens = made(metrics.Counter("selfharness_replica_completion_tokens", "Completion tokens",
                                                      keys))
        self.in_flight = made(metrics.Gauge("selfharness_replica_in_flight", "Requests in flight on a replica", keys))
        self.latency = made(metrics.Histogram("selfharness_replica_latency_s", "Seconds per request",
                                              LATENCY_BUCKETS_S, keys))

    async def observe(self, call: Awaitable[ModelReply], in_flight: Callable[[], int]) -> ModelReply:
        """Await one request, counting it: `in_flight()` is the replica's count while it is not running."""
        self.requests.inc()
        self.in_flight.set(in_flight() + 1)
        start = time.monotonic()
        try:
            reply = await call
        except BaseException:
            self.errors.inc()
            raise
        finally:
            self.in_flight.set(in_flight())
        self.latency.observe(time.monotonic() - start)
        for counter, n in ((self.prompt_tokens, reply.prompt_tokens), (self.cached_tokens, reply.cached_tokens),
                           (self.completion_tokens, reply.completion_tokens)):
            if n > 0:  # Ray's counters refuse 0 (an empty reply has no completion tokens)
                counter.inc(n)
        return reply
