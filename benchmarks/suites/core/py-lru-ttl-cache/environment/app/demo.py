"""Exercise lrucache.cached with a fake clock and print what happens."""
from lrucache import cached


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


clock = FakeClock()
calls = []


@cached(maxsize=3, ttl=30, clock=clock)
def price(item, qty=1, discount=0):
    """Compute a price (slowly, in real life)."""
    calls.append((item, qty, discount))
    return {"apple": 3, "pear": 5, "plum": 2, "kiwi": 7}[item] * qty - discount


def show(label, value):
    info = price.cache_info()
    print(f"{label}: value={value} calls={len(calls)} hits={info['hits']} misses={info['misses']} size={info['size']}")


show("apple", price("apple"))
show("apple again", price("apple"))
show("pear x2", price("pear", qty=2))
show("pear x2 kw", price("pear", qty=2))
show("plum", price("plum", discount=1, qty=4))
show("plum reordered", price("plum", qty=4, discount=1))
show("kiwi", price("kiwi"))
show("pear x2 after kiwi", price("pear", qty=2))
show("apple evicted", price("apple"))
clock.now = 29.5
show("kiwi at 29.5", price("kiwi"))
clock.now = 40
show("kiwi at 40", price("kiwi"))
show("pear at 40", price("pear", qty=2))
try:
    price("banana")
except KeyError:
    show("banana fails", None)
try:
    price("banana")
except KeyError:
    show("banana fails again", None)
price.cache_clear()
show("cleared", price("plum", qty=4, discount=1))
print(f"name={price.__name__} doc={price.__doc__}")
