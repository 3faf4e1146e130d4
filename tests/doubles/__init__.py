"""Test doubles: stand-ins for what cannot exist here (a GPU engine, a misbehaving endpoint)."""
