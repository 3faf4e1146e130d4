import math


class Polygon:
    """A simple polygon given by its vertices in order (either orientation)."""

    def __init__(self, points):
        if len(points) < 3:
            raise ValueError("a polygon needs at least 3 points")
        self.points = [tuple(map(float, p)) for p in points]

    def area(self):
        pts = self.points
        n = len(pts)
        s = sum(pts[i][0] * pts[i + 1][1] - pts[i + 1][0] * pts[i][1] for i in range(n - 1))
        return abs(s) / 2

    def perimeter(self):
        pts = self.points
        return sum(math.dist(pts[i], pts[(i + 1) % len(pts)]) for i in range(len(pts)))
