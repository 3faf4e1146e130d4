"""Checks /app/inventory.py directly, that the tests are untouched, and the saved report."""
import hashlib
import importlib.util
import re
from pathlib import Path

TEST_SHA = "b546856bbfd5d71066e0be48e37518465905fca16f856d0bfa6c9d7713b4afc0"
assert hashlib.sha256(Path("/app/tests/test_inventory.py").read_bytes()).hexdigest() == TEST_SHA, "tests were modified"

spec = importlib.util.spec_from_file_location("inventory", "/app/inventory.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)

inv = mod.Inventory()
inv.add("a", 3)
inv.add("b", 7)
inv.add("c", 2)
inv.remove("a", 3)
assert inv.quantity("a") == 0 and "a" not in inv.items, "removing the whole stock must work and drop the item"
inv.remove("b", 6)
assert inv.quantity("b") == 1
try:
    inv.remove("c", 3)
    raise AssertionError("removing more than the stock must raise ValueError")
except ValueError:
    pass
assert inv.low_stock(2) == ["b"], inv.low_stock(2)
assert inv.low_stock(3) == ["b", "c"], inv.low_stock(3)
assert inv.low_stock(1) == [], inv.low_stock(1)

path = Path("/app/test_report.txt")
assert path.is_file(), "/app/test_report.txt is missing"
report = path.read_text()
assert re.search(r"^Ran 7 tests? in ", report, re.M), "report does not show 7 tests run"
assert re.search(r"^OK\s*$", report, re.M), "report does not end with OK"
assert "FAIL" not in report and "ERROR" not in report, "report shows failures"
for name in ["test_remove_all_drops_item", "test_low_stock_is_strict", "test_total_value"]:
    assert name in report, f"verbose report lacks {name}"
print("ok")
