"""Joining Ray: a cluster `ray start` recorded is joined when it answers; a stale record (its head
was killed) must not make every command hang."""

from __future__ import annotations

import socket

import ray._private.services as services

from cluster.ray_init import live_or_local


def test_a_stale_record_means_a_local_cluster_and_a_live_one_is_joined(monkeypatch):
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen()
        monkeypatch.setattr(services, "find_bootstrap_address", lambda _: f"127.0.0.1:{live.getsockname()[1]}")
        assert live_or_local() is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setattr(services, "find_bootstrap_address", lambda _: f"127.0.0.1:{dead}")
    assert live_or_local() == "local"
    monkeypatch.setattr(services, "find_bootstrap_address", lambda _: None)
    assert live_or_local() is None
