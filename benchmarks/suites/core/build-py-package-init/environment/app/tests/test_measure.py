import math
import unittest

from geometry.measure import largest, total_area, unit_shapes
from geometry.shapes import Circle, Polygon


class MeasureTest(unittest.TestCase):
    def test_total_area(self):
        shapes = [Circle(1), Polygon([(1, 1), (3, 1), (3, 3), (1, 3)])]
        self.assertAlmostEqual(total_area(shapes), math.pi + 4)

    def test_largest(self):
        self.assertIsInstance(largest(unit_shapes()), Circle)
