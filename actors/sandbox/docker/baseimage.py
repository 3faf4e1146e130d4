"""Base images made offline, for a daemon with no registry to pull from (our tests, an air-gapped site):
`debootstrap --variant=minbase bookworm` with a few packages, imported into Docker under the names the
suites' Dockerfiles start FROM (so `FROM python:3.11-slim` builds with no registry at all).

The root filesystem is kept as a tar in a cache directory keyed by the recipe (release, packages,
mirror): a second machine-local build imports it in seconds instead of running debootstrap again.

    python -m actors.sandbox.docker.baseimage --host unix:///tmp/shd/docker.sock   # the core suite's bases
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harnesses.sandbox import SandboxError

MIRROR = os.environ.get("SELFHARNESS_DEBIAN_MIRROR", "http://deb.debian.org/debian")
RELEASE = "bookworm"
PACKAGES = ("python3", "python-is-python3", "python3-pip", "gcc", "libc6-dev", "make", "git", "ca-certificates",
            "procps")
"""Bookworm's Python is 3.11 (its pip refuses system installs, PEP 668, as the local backend's host Python
does); gcc, make and git are what the core suite's gcc:12 and buildpack-deps images give its tasks (the
local backend gives them the host's)."""
CORE_TAGS = ("python:3.11-slim", "gcc:12", "buildpack-deps:bookworm-scm", "python:3.11-slim-bookworm",
             "debian:bookworm-slim")
"""The images the core suite's Dockerfiles start FROM, and those of the tests' fixture suites."""
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "selfharness" / "docker-base"


def recipe_key(release: str = RELEASE, packages: tuple[str, ...] = PACKAGES, mirror: str = MIRROR) -> str:
    return hashlib.sha256(f"{release}\n{' '.join(sorted(packages))}\n{mirror}".encode()).hexdigest()[:16]


def rootfs_tar(release: str = RELEASE, packages: tuple[str, ...] = PACKAGES, mirror: str = MIRROR,
               cache: Path = CACHE, log=print) -> Path:
    """The cached root filesystem tar of this recipe, made with debootstrap when missing (root only)."""
    target = cache / f"{release}-{recipe_key(release, packages, mirror)}.tar"
    if target.is_file():
        return target
    if shutil.which("debootstrap") is None:
        raise SandboxError("debootstrap is not installed: `apt-get install debootstrap` (cluster/setup.sh does it)")
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=cache) as tmp:
        root = Path(tmp) / "root"
        start = time.monotonic()
        log(f"debootstrap {release} (minbase + {', '.join(packages)}) from {mirror} ...")
        run = subprocess.run(["debootstrap", "--variant=minbase", f"--include={','.join(packages)}", release,
                              str(root), mirror], capture_output=True, text=True)
        if run.returncode != 0:
            raise SandboxError(f"debootstrap {release} failed (exit {run.returncode}): {run.stderr[-800:]}")
        shutil.rmtree(root / "var" / "cache" / "apt" / "archives", ignore_errors=True)
        (root / "var" / "cache" / "apt" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        part = target.with_suffix(".part")
        subprocess.run(["tar", "-C", str(root), "--numeric-owner", "-cf", str(part), "."], check=True)
        part.rename(target)
        log(f"rootfs {target.name}: {target.stat().st_size >> 20} MiB in {time.monotonic() - start:.0f}s")
    return target


def import_base(client, tags: tuple[str, ...] = CORE_TAGS, *, log=print, cache: Path = CACHE, **recipe) -> str:
    """Import the recipe's root filesystem under every tag (skipped where the tag already is this recipe's
    image); returns the image id."""
    key = recipe_key(**recipe)
    label = f"selfharness.io/base={key}"
    have = [i for i in client.images.list(filters={"label": label})]
    if have and all(t in (have[0].tags or []) for t in tags):
        return have[0].id
    from docker.utils import parse_repository_tag

    tar = rootfs_tar(log=log, cache=cache, **recipe)
    start = time.monotonic()
    repo, tag = parse_repository_tag(tags[0])
    changes = [f"LABEL {label}", 'CMD ["bash"]',
               "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "ENV LANG=C.UTF-8"]
    client.api.import_image_from_file(str(tar), repository=repo, tag=tag or "latest", changes=changes)
    image = client.images.get(tags[0])
    for name in tags[1:]:
        r, t = parse_repository_tag(name)
        image.tag(r, t or "latest")
    log(f"imported {tar.name} as {', '.join(tags)} in {time.monotonic() - start:.1f}s")
    return image.id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=None, help="the daemon (default: $DOCKER_HOST, else the default socket)")
    parser.add_argument("--tag", action="append", help=f"names for the image (default: {', '.join(CORE_TAGS)})")
    args = parser.parse_args()
    import docker

    client = docker.DockerClient(base_url=args.host) if args.host else docker.from_env()
    try:
        print(import_base(client, tuple(args.tag or CORE_TAGS)))
    except SandboxError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
