"""The sandbox backend a config selects."""

from __future__ import annotations

from actors.sandbox.config import DockerSandboxConfig, KubernetesSandboxConfig, LocalSandboxConfig, SandboxConfig
from harnesses.sandbox import SandboxBackend, SandboxError


def build_backend(config: SandboxConfig) -> SandboxBackend:
    if isinstance(config, LocalSandboxConfig):
        from actors.sandbox.local import LocalSandboxBackend

        return LocalSandboxBackend(base_dir=config.base_dir)
    if isinstance(config, KubernetesSandboxConfig):
        try:
            import kubernetes  # noqa: F401
        except ImportError:
            from actors.sandbox.kubernetes.api import INSTALL_HINT

            raise SandboxError(INSTALL_HINT) from None
        from actors.sandbox.kubernetes import KubernetesSandboxBackend

        return KubernetesSandboxBackend(config)
    if isinstance(config, DockerSandboxConfig):
        from actors.sandbox.docker.backend import DockerSandboxBackend

        return DockerSandboxBackend(config)
    raise ValueError(f"sandbox.kind: unsupported backend {type(config).__name__}")
