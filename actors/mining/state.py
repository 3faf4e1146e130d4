"""rounds/<n>/miner_state.json: what the miner carries from one round to the next (the cluster
index and the mechanism vocabulary), typed, so a resume continues bit for bit."""

from __future__ import annotations

import msgspec


class ClusterState(msgspec.Struct, kw_only=True):
    id: str
    key: str
    count: int
    sum: str
    """The members' summed vectors as base64 float64 bytes."""
    members: list[str]


class MechanismEntry(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""
    aliases: tuple[str, ...] = ()
    """Other names models used for it (kept for the brief and the report)."""


class VocabularyState(msgspec.Struct, kw_only=True):
    version: int
    threshold: float
    entries: list[MechanismEntry]


class MinerState(msgspec.Struct, kw_only=True):
    """The cluster index's state (actors/mining/clustering.py) and the mechanism vocabulary."""

    version: int
    dim: int
    threshold: float
    same_key: bool
    chunk: int
    space: str
    next: int
    clusters: list[ClusterState]
    mechanisms: VocabularyState | None = None
