"""Joining Ray: a local command starts its own cluster unless told to join; a cluster `ray start` recorded
is joined (RAY_ADDRESS=auto) when it answers; a stale record (its head was killed) must not make every
command hang."""

from __future__ import annotations

import socket

import ray._private.services as services

from cluster.ray_init import live_or_local, ray_address


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


def test_a_local_command_starts_its_own_cluster_unless_told_to_join(monkeypatch):
    with socket.socket() as live:
        live.bind(("127.0.0.1", 0))
        live.listen()
        recorded = f"127.0.0.1:{live.getsockname()[1]}"
        monkeypatch.setattr(services, "find_bootstrap_address", lambda _: recorded)
        monkeypatch.delenv("RAY_ADDRESS", raising=False)
        assert ray_address() == "local"  # a live `ray start` cluster on the machine is not joined by itself
        monkeypatch.setenv("RAY_ADDRESS", "auto")
        assert ray_address() == "auto"
        monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
        assert ray_address() == "10.0.0.5:6379" and ray_address("ray://h:10001") == "ray://h:10001"
    monkeypatch.setenv("RAY_ADDRESS", "auto")
    assert ray_address() == "local"  # the record went stale
