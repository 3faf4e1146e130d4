import math


class Circle:
    def __init__(self, r):
        if r < 0:
            raise ValueError("radius must not be negative")
        self.r = r

    def area(self):
        return math.pi * self.r ** 2

    def perimeter(self):
        return math.pi * self.r
