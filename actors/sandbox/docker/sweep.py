"""Remove sandbox containers from a daemon: a dead run's (`--run RUN`), every one (`--all`), or, with
neither, those no episode can use any more (exited, past their deadline, their process gone).

    python -m actors.sandbox.docker.sweep --run my-run [--host unix:///tmp/shd/docker.sock]
"""

from __future__ import annotations

import argparse
import sys

from actors.sandbox.config import DockerSandboxConfig
from actors.sandbox.docker.backend import connect, sweep
from harnesses.sandbox import SandboxError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None)
    parser.add_argument("--run", default=None, help="every container of this run (its selfharness.io/run label)")
    parser.add_argument("--all", action="store_true", help="every sandbox container")
    args = parser.parse_args(argv)
    try:
        client = connect(DockerSandboxConfig(host=args.host))
    except SandboxError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"removed {sweep(client, run=args.run, everything=args.all)} sandbox container(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
