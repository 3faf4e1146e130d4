"""A small 2-D geometry toolkit."""

__version__ = "0.2.0"
