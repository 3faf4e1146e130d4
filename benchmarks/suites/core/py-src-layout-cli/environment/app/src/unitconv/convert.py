"""Conversions between length units and between temperature units."""

# metres per unit
LENGTH = {"m": 1.0, "km": 1000.0, "mi": 1609.344, "ft": 0.3048, "in": 0.0254}


def _to_celsius(value, unit):
    if unit == "c":
        return value
    if unit == "f":
        return (value - 32) * 9 / 5
    if unit == "k":
        return value - 273.15
    raise ValueError(f"unknown temperature unit {unit}")


def _from_celsius(value, unit):
    if unit == "c":
        return value
    if unit == "f":
        return value * 9 / 5 + 32
    if unit == "k":
        return value + 273.15
    raise ValueError(f"unknown temperature unit {unit}")


def convert(value, src, dst):
    """Convert value from unit src to unit dst (both length or both temperature)."""
    if src in LENGTH and dst in LENGTH:
        return value * LENGTH[dst] / LENGTH[src]
    return _from_celsius(_to_celsius(value, src), dst)
