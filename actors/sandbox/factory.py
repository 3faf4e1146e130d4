"""The sandbox backend a config selects."""

from __future__ import annotations

from actors.sandbox.base import SandboxBackend
from cluster.config import LocalSandboxConfig, SandboxConfig


def build_backend(config: SandboxConfig) -> SandboxBackend:
    if isinstance(config, LocalSandboxConfig):
        from actors.sandbox.local import LocalSandboxBackend

        return LocalSandboxBackend(base_dir=config.base_dir)
    raise ValueError(f"sandbox.kind: unsupported backend {type(config).__name__}")
