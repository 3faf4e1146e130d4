"""The base of every config type: frozen, keyword-only, and an unknown key is an error.

Each component owns its config next to it (actors/model/config.py, actors/sandbox/config.py,
the miner, the validator, approvals); cluster/config.py composes them into a run's config.
"""

import msgspec


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    pass
