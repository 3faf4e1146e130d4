"""A memoizing decorator with LRU eviction and an optional time-to-live.

Not written yet: see the task description for the contract of `cached`.
"""
import time


def cached(maxsize=128, ttl=None, clock=time.monotonic):
    raise NotImplementedError
