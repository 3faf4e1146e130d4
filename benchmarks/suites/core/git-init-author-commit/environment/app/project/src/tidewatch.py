"""Warn when the water level drops below a threshold."""


def dries_out(levels, threshold=0.5):
    return [i for i, level in enumerate(levels) if level < threshold]
