"""Sandbox backends behind one `SandboxBackend` protocol: local (bubblewrap), docker, kubernetes."""
