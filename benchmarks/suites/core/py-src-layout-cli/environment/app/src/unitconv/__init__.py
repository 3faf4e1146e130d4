"""Unit conversion: python3 -m unitconv VALUE FROM TO."""
from .convert import convert

__all__ = ["convert"]
