"""Checks the cached() contract with a fake clock, then the saved demo output."""
import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("lrucache", "/app/lrucache.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
cached = mod.cached


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


# hits, misses, call counts, wraps
calls = []


@cached(maxsize=2)
def sq(x):
    """square"""
    calls.append(x)
    return x * x


assert sq.__name__ == "sq" and sq.__doc__ == "square"
assert [sq(2), sq(2), sq(3)] == [4, 4, 9] and calls == [2, 3]
assert sq.cache_info() == {"hits": 1, "misses": 2, "size": 2, "maxsize": 2}, sq.cache_info()
# LRU order is now 2 (hit), then 3, so 2 is the least recently used
sq(4)  # evicts 2
sq(3)  # hit
sq(2)  # miss, evicts 4
assert calls == [2, 3, 4, 2], calls
sq(3)
assert calls == [2, 3, 4, 2], "3 should still be cached"
sq(4)
assert calls == [2, 3, 4, 2, 4], calls
info = sq.cache_info()
assert info == {"hits": 3, "misses": 5, "size": 2, "maxsize": 2}, info
sq.cache_clear()
assert sq.cache_info() == {"hits": 0, "misses": 0, "size": 0, "maxsize": 2}
sq(3)
assert calls[-1] == 3

# keyword order does not matter; positional vs keyword are different calls
kcalls = []


@cached()
def k(a, b=0, c=0):
    kcalls.append(1)
    return a + 10 * b + 100 * c


assert k(1, b=2, c=3) == 321 and k(1, c=3, b=2) == 321 and len(kcalls) == 1
assert k.cache_info()["maxsize"] == 128

# TTL with an injected clock; expired entries stay counted until looked up
clock = Clock()
tcalls = []


@cached(maxsize=10, ttl=10, clock=clock)
def t(x):
    tcalls.append(x)
    return x


t(1)
clock.now = 5
t(2)
clock.now = 9.99
t(1)
assert tcalls == [1, 2], tcalls
clock.now = 10.0
assert t.cache_info()["size"] == 2
t(1)
assert tcalls == [1, 2, 1], "entry must expire when clock() - stamp >= ttl"
clock.now = 14.99
t(2)
assert tcalls == [1, 2, 1], "entry 2 was stamped at 5, still fresh at 14.99"
clock.now = 19.99
t(1)
assert tcalls == [1, 2, 1], "re-stored entry 1 is stamped at 10"
assert t.cache_info() == {"hits": 3, "misses": 3, "size": 2, "maxsize": 10}, t.cache_info()

# exceptions are not cached
state = {"n": 0}


@cached()
def flaky(x):
    state["n"] += 1
    if state["n"] == 1:
        raise RuntimeError("first call fails")
    return x


try:
    flaky(1)
    raise AssertionError("the exception must propagate")
except RuntimeError:
    pass
assert flaky.cache_info()["size"] == 0
assert flaky(1) == 1 and flaky(1) == 1 and state["n"] == 2
assert flaky.cache_info() == {"hits": 1, "misses": 2, "size": 1, "maxsize": 128}

for bad in (0, -1):
    try:
        cached(maxsize=bad)
        raise AssertionError(f"cached(maxsize={bad}) must raise ValueError")
    except ValueError:
        pass

expected = """apple: value=3 calls=1 hits=0 misses=1 size=1
apple again: value=3 calls=1 hits=1 misses=1 size=1
pear x2: value=10 calls=2 hits=1 misses=2 size=2
pear x2 kw: value=10 calls=2 hits=2 misses=2 size=2
plum: value=7 calls=3 hits=2 misses=3 size=3
plum reordered: value=7 calls=3 hits=3 misses=3 size=3
kiwi: value=7 calls=4 hits=3 misses=4 size=3
pear x2 after kiwi: value=10 calls=4 hits=4 misses=4 size=3
apple evicted: value=3 calls=5 hits=4 misses=5 size=3
kiwi at 29.5: value=7 calls=5 hits=5 misses=5 size=3
kiwi at 40: value=7 calls=6 hits=5 misses=6 size=3
pear at 40: value=10 calls=7 hits=5 misses=7 size=3
banana fails: value=None calls=8 hits=5 misses=8 size=3
banana fails again: value=None calls=9 hits=5 misses=9 size=3
cleared: value=7 calls=10 hits=0 misses=1 size=1
name=price doc=Compute a price (slowly, in real life)."""
path = Path("/app/demo_output.txt")
assert path.is_file(), "/app/demo_output.txt is missing"
got = path.read_text().strip()
assert got == expected.strip(), f"got:\n{got}\nexpected:\n{expected}"
print("ok")
