"""A private Docker daemon: its own socket, data root and exec root under one directory, stopped on exit.

For the tests and benchmarks (and a user without a running daemon): `PrivateDockerd(root).start()` runs
`dockerd --iptables=false --bridge=none` as root (no host firewall or bridge is touched; containers run
with network none, builds on the host network), and `.host` is what `DockerSandboxConfig.host` takes.

    python -m actors.sandbox.docker.dockerd /tmp/shd     # prints the DOCKER_HOST to use; Ctrl-C stops it
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from harnesses.sandbox import SandboxError

START_TIMEOUT_S = 60.0


class PrivateDockerd:
    """One dockerd of our own. Root is short (a unix socket path holds at most 107 bytes)."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.socket = self.root / "docker.sock"
        self.host = f"unix://{self.socket}"
        self.log_path = self.root / "dockerd.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = START_TIMEOUT_S) -> "PrivateDockerd":
        binary = shutil.which("dockerd")
        if binary is None:
            raise SandboxError("dockerd is not installed: `apt-get install docker.io` (cluster/setup.sh does it)")
        if os.geteuid() != 0:
            raise SandboxError("a private dockerd needs root (rootless Docker is another setup: see docs.docker.com)")
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
                "--pidfile", str(self.root / "dockerd.pid"), "-H", self.host, "--iptables=false",
                "--ip-masq=false", "--bridge=none", "--storage-driver=overlay2"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout_s
        import docker

        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SandboxError(f"dockerd exited ({self.proc.returncode}) while starting: {self.tail()}")
            if self.socket.exists():
                try:
                    docker.DockerClient(base_url=self.host, timeout=5).ping()
                    return self
                except Exception:  # noqa: BLE001 - not answering yet
                    pass
            time.sleep(0.2)
        self.stop()
        raise SandboxError(f"dockerd did not answer within {timeout_s:g}s: {self.tail()}")

    def tail(self, n: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """SIGTERM (dockerd stops its containers and containerd), SIGKILL after 30 s; then what it left mounted."""
        if self.proc is None or self.proc.poll() is not None:
            self.unmount()
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.unmount()

    def unmount(self) -> None:
        """What dockerd leaves mounted under its root once it is gone (its netns file, overlay layers of a
        killed daemon), deepest first, so the directory can be removed."""
        prefix = str(self.root.resolve()) + "/"
        with open("/proc/mounts") as f:
            points = [line.split()[1] for line in f if line.split()[1].startswith(prefix)]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True)

    def __enter__(self) -> "PrivateDockerd":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="a short directory for its socket, data and state")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # `kill` stops the daemon too, as Ctrl-C does
    with PrivateDockerd(args.root) as d:
        print(f"export DOCKER_HOST={d.host}", flush=True)
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
