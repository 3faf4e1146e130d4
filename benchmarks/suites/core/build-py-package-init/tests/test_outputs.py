"""Checks the package layout, the fixed shapes, untouched tests and the saved unittest report."""
import hashlib
import math
import random
import re
import subprocess
import sys
from pathlib import Path

HASHES = {'tests/shapes/test_circle.py': '72a9f2f78f27e60cd5c1f61f715939bf38c4a8a606d65d702f6edd486329799a', 'tests/shapes/test_polygon.py': '8cb130315c23aabc0ae5775718fac249cac66f8279a0e1153622cf7af0ba52e9', 'tests/test_measure.py': '8ffafab1b83d8be0b0b3914155a0f0c623b5387c4e5898e6ac6bedc697939b6e'}
for rel, digest in HASHES.items():
    p = Path("/app") / rel
    assert p.is_file() and hashlib.sha256(p.read_bytes()).hexdigest() == digest, f"/app/{rel} was modified or moved"

assert Path("/app/geometry/shapes/__init__.py").is_file(), "geometry/shapes is not a regular package"
assert Path("/app/tests/shapes/__init__.py").is_file(), "tests/shapes is not a package, unittest cannot collect it"

sys.path.insert(0, "/app")
from geometry.shapes import Circle, Polygon  # noqa: E402
from geometry.measure import total_area  # noqa: E402

rng = random.Random(11)
for _ in range(20):
    r = rng.uniform(0, 50)
    assert math.isclose(Circle(r).perimeter(), 2 * math.pi * r), "Circle.perimeter is wrong"
    assert math.isclose(Circle(r).area(), math.pi * r * r)
    # a random convex polygon: points on a circle, sorted by angle
    cx, cy, rad = rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(1, 10)
    angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(rng.randint(3, 9)))
    pts = [(cx + rad * math.cos(a), cy + rad * math.sin(a)) for a in angles]
    want = abs(sum(pts[i][0] * pts[(i + 1) % len(pts)][1] - pts[(i + 1) % len(pts)][0] * pts[i][1] for i in range(len(pts)))) / 2
    assert math.isclose(Polygon(pts).area(), want, rel_tol=1e-9), "Polygon.area is wrong"
    assert math.isclose(Polygon(pts[::-1]).area(), want, rel_tol=1e-9), "Polygon.area depends on orientation"
assert math.isclose(total_area([Circle(1), Polygon([(5, 5), (7, 5), (7, 7), (5, 7)])]), math.pi + 4)

r = subprocess.run([sys.executable, "-m", "unittest", "discover", "-s", "/app/tests", "-t", "/app"],
                   capture_output=True, text=True, timeout=60, cwd="/tmp")
assert r.returncode == 0 and re.search(r"^Ran 9 tests", r.stderr, re.M), f"suite does not pass with 9 tests:\n{r.stderr}"

path = Path("/app/test_report.txt")
assert path.is_file(), "/app/test_report.txt is missing"
report = path.read_text()
assert re.search(r"^Ran 9 tests in ", report, re.M), "report does not show 9 tests run"
assert re.search(r"^OK\s*$", report, re.M), "report does not show OK"
for name in ("test_perimeter", "test_triangle_area", "test_clockwise_area_is_positive", "test_total_area"):
    assert name in report, f"verbose report lacks {name}"
assert "FAIL" not in report and "ERROR" not in report
print("ok")
