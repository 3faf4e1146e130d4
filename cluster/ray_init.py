"""Joining or starting the Ray cluster a command runs on: the one `ray.init` of the project."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def ray_address(address: str | None = None) -> str:
    """Where a command's Ray lives: `address`, else RAY_ADDRESS (set by `ray job submit`), else a local cluster of
    its own. A cluster some `ray start` left on the machine is joined only when asked (`RAY_ADDRESS=auto`), and
    not when its record is stale."""
    address = address or os.environ.get("RAY_ADDRESS") or "local"
    if address == "auto" and live_or_local() == "local":
        return "local"
    return address


def init_ray(address: str | None = None) -> None:
    """Join a cluster or start a local one (`ray_address`); quiet on a laptop."""
    import ray

    if ray.is_initialized():
        return
    address = ray_address(address)
    # The project ships as source on the driver's path; workers on this machine import it from there.
    root = str(Path(__file__).resolve().parent.parent)
    env = {"env_vars": {"PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}}
    ray.init(address=address, runtime_env=env, include_dashboard=False, log_to_driver=False,
             configure_logging=False, ignore_reinit_error=True)


def existing_cluster() -> str | None:
    """The address of a Ray cluster that is already up (RAY_ADDRESS, or the one `ray start` recorded and that
    answers), or None: for commands that only look at a run and must not start a cluster of their own."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    try:
        from ray._private.services import find_bootstrap_address

        recorded = find_bootstrap_address(None)
    except Exception:
        return None
    return recorded if recorded and live_or_local() is None else None


def live_or_local() -> str | None:
    """None (Ray joins the cluster `ray start` recorded, as documented) when that cluster answers;
    "local" when the record is stale (its head was killed), where joining would hang for minutes."""
    import socket

    try:
        from ray._private.services import find_bootstrap_address

        recorded = find_bootstrap_address(None)
    except Exception:  # the private helper moved: keep Ray's own behaviour
        return None
    if not recorded:
        return None
    host, _, port = recorded.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
        return None
    except (OSError, ValueError):
        print(f"self-harness: ignoring a stale Ray cluster record ({recorded} does not answer); starting a "
              "local cluster", file=sys.stderr)
        return "local"
