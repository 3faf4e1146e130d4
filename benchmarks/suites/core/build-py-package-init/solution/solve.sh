#!/bin/bash
# Oracle: add the two missing __init__.py files, fix the two shape bugs, run the suite.

printf '"""Shapes: circles and polygons."""\nfrom .circle import Circle\nfrom .polygon import Polygon\n__all__ = ["Circle", "Polygon"]\n' > /app/geometry/shapes/__init__.py

touch /app/tests/shapes/__init__.py

python3 -m unittest discover -s /app/tests -t /app 2>&1 | tail -n 25

sed -i 's/return math.pi \* self.r$/return 2 * math.pi * self.r/' /app/geometry/shapes/circle.py

sed -i 's/s = sum(pts\[i\]\[0\] \* pts\[i + 1\]\[1\] - pts\[i + 1\]\[0\] \* pts\[i\]\[1\] for i in range(n - 1))/s = sum(pts[i][0] * pts[(i + 1) % n][1] - pts[(i + 1) % n][0] * pts[i][1] for i in range(n))/' /app/geometry/shapes/polygon.py

# sim: prefers pytest -v /app/tests > /app/test_report.txt 2>&1
python3 -m unittest discover -s /app/tests -t /app -v > /app/test_report.txt 2>&1
