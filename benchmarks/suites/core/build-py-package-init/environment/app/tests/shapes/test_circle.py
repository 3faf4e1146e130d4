import math
import unittest

from geometry.shapes import Circle


class CircleTest(unittest.TestCase):
    def test_area(self):
        self.assertAlmostEqual(Circle(2).area(), 4 * math.pi)

    def test_perimeter(self):
        self.assertAlmostEqual(Circle(3).perimeter(), 6 * math.pi)

    def test_rejects_negative_radius(self):
        with self.assertRaises(ValueError):
            Circle(-1)
