import unittest

from geometry.shapes import Polygon


class PolygonTest(unittest.TestCase):
    def test_square_area(self):
        self.assertAlmostEqual(Polygon([(1, 1), (3, 1), (3, 3), (1, 3)]).area(), 4)

    def test_triangle_area(self):
        self.assertAlmostEqual(Polygon([(2, 1), (6, 2), (3, 5)]).area(), 7.5)

    def test_clockwise_area_is_positive(self):
        self.assertAlmostEqual(Polygon([(1, 3), (3, 3), (3, 1), (1, 1)]).area(), 4)

    def test_perimeter(self):
        self.assertAlmostEqual(Polygon([(0, 0), (3, 0), (3, 4)]).perimeter(), 12)
