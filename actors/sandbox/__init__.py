"""Sandbox backends behind one `SandboxBackend` protocol: local (bubblewrap), kubernetes."""
