#!/bin/bash
# Oracle: an OrderedDict keyed by (args, sorted kwargs), stamped with clock().

cat > /app/lrucache.py <<'PY'
"""A memoizing decorator with LRU eviction and an optional time-to-live."""
import functools
import time
from collections import OrderedDict
def cached(maxsize=128, ttl=None, clock=time.monotonic):
    if maxsize < 1:
        raise ValueError("maxsize must be at least 1")
    def decorate(func):
        entries = OrderedDict()
        stats = {"hits": 0, "misses": 0}
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            key = (args, tuple(sorted(kwargs.items())))
            if key in entries:
                value, stamp = entries[key]
                if ttl is None or clock() - stamp < ttl:
                    stats["hits"] += 1
                    entries.move_to_end(key)
                    return value
                del entries[key]
            stats["misses"] += 1
            value = func(*args, **kwargs)
            entries[key] = (value, clock())
            entries.move_to_end(key)
            while len(entries) > maxsize:
                entries.popitem(last=False)
            return value
        def cache_info():
            return {"hits": stats["hits"], "misses": stats["misses"], "size": len(entries), "maxsize": maxsize}
        def cache_clear():
            entries.clear()
            stats["hits"] = stats["misses"] = 0
        wrapper.cache_info = cache_info
        wrapper.cache_clear = cache_clear
        return wrapper
    return decorate
PY

python3 /app/demo.py > /app/demo_output.txt
