"""Aggregate measurements over collections of shapes."""
from geometry.shapes import Circle, Polygon


def total_area(shapes):
    return sum(s.area() for s in shapes)


def largest(shapes):
    return max(shapes, key=lambda s: s.area())


def unit_shapes():
    """A unit circle and a unit square, handy for demos."""
    return [Circle(1), Polygon([(0, 0), (1, 0), (1, 1), (0, 1)])]
