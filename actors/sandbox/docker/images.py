"""A task's image on a Docker daemon: built from its `environment/Dockerfile` or pulled from its
`docker_image`, as `DockerSandboxConfig.images` says.

A build is tagged `selfharness/task-<name>:<hash>`, the hash taken over the build context (every
file's path, mode and bytes), the Dockerfile as rewritten by `base_images`, and the ids of the local
base images it names: an unchanged task is built once per daemon, and a rebuilt base image or an
edited file makes a new one. Builds of one tag are serialized, so concurrent episodes of a task
wait for one build. A failed build or pull is tried again (`build_retries`, with backoff) and then
is a `SandboxError`: an infrastructure failure of the episode, never the agent's.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

from harnesses.sandbox import SandboxError

log = logging.getLogger(__name__)

TASK_REPO = "selfharness/task"
_FROM = re.compile(r"^(\s*FROM\s+(?:--\S+\s+)*)(\S+)(.*)$", re.IGNORECASE)
_COPY_FROM = re.compile(r"(--from=)(\S+)", re.IGNORECASE)
_COPY = re.compile(r"^\s*(COPY|ADD)\b", re.IGNORECASE)


def rewrite_bases(dockerfile: str, base_images: dict[str, str]) -> tuple[str, list[str]]:
    """The Dockerfile with FROM and COPY --from images replaced per `base_images`, and the images it
    names (after the rewrite; stage names included, which the daemon never resolves as images)."""
    out, named = [], []
    for line in dockerfile.splitlines(keepends=True):
        m = _FROM.match(line)
        if m:
            image = base_images.get(m.group(2), m.group(2))
            named.append(image)
            line = f"{m.group(1)}{image}{m.group(3)}" + ("\n" if line.endswith("\n") else "")
        elif _COPY.match(line):
            def swap(c: re.Match) -> str:
                image = base_images.get(c.group(2), c.group(2))
                named.append(image)
                return c.group(1) + image
            line = _COPY_FROM.sub(swap, line)
        out.append(line)
    return "".join(out), named


_LINK = re.compile(r"\s--link(?:=(?:true|false))?(?=\s)", re.IGNORECASE)
_CACHE_MOUNT = re.compile(r"\s--mount=type=cache(?:,\S*)?(?=\s)", re.IGNORECASE)
_CHMOD = re.compile(r"\s--chmod=([0-7]{3,4})(?=\s)")


def for_classic_builder(dockerfile: str, env_dir: Path | None = None) -> str:
    """What the daemon's classic builder (the one its build API runs) lacks from BuildKit, rewritten where the
    image's files come out the same: `COPY --link` (a layer-cache strategy) and `RUN --mount=type=cache` (a
    download cache) dropped, `COPY --chmod=755 src dest` as the COPY and a `RUN chmod`. Other BuildKit-only forms
    (heredocs, secret mounts) fail the build, and the error says so."""
    out = []
    for line in dockerfile.splitlines(keepends=True):
        if _COPY.match(line):
            line = _LINK.sub("", line)
            mode = _CHMOD.search(line)
            words = _CHMOD.sub("", line).split()
            if mode and not line.rstrip().endswith(("]", "\\")) and len(words) >= 3:
                line = " ".join(words) + "\n"
                sources, dest = [w for w in words[1:-1] if not w.startswith("--")], words[-1]
                targets = []
                for src in sources:
                    is_dir = src.endswith("/") or (env_dir is not None and (env_dir / src).is_dir())
                    one = dest if (len(sources) == 1 and not dest.endswith("/")) or is_dir \
                        else f"{dest.rstrip('/')}/{Path(src).name}"
                    targets.append(("-R ", one) if is_dir else ("", one))
                line += "".join(f"RUN chmod {r}{mode.group(1)} {t}\n" for r, t in targets)
        elif re.match(r"^\s*RUN\b", line, re.IGNORECASE):
            line = _CACHE_MOUNT.sub("", line)
        out.append(line)
    return "".join(out)


def context_tar(env_dir: Path, dockerfile: str) -> bytes:
    """The build context as Docker reads it: every file under environment/, the Dockerfile replaced."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path in sorted(env_dir.rglob("*")):
            rel = path.relative_to(env_dir).as_posix()
            if rel == "Dockerfile" or not (path.is_file() or path.is_dir() or path.is_symlink()):
                continue
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0  # the hash is of contents, not of when they were checked out
            with (open(path, "rb") if info.isfile() else io.BytesIO()) as f:
                tar.addfile(info, f if info.isfile() else None)
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size, info.mode = len(data), 0o644
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.")[:100] or "task"


class Images:
    """Builds, pulls and remembers the images of a backend's tasks (thread-safe)."""

    def __init__(self, client: Any, config: Any):
        self.client, self.config = client, config
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.stats = {"builds": 0, "build_cache_hits": 0, "build_failures": 0, "pulls": 0, "pull_failures": 0}
        self.build_seconds: dict[str, float] = {}
        """Seconds each image built by this process took (the benchmark's numbers)."""

    def for_task(self, task: Any) -> tuple[str, bool]:
        """(image, whether the task's files must be copied in: only when the image is not the task's own)."""
        dockerfile = Path(task.path) / "environment" / "Dockerfile"
        own = task.environment.docker_image
        if self.config.images == "pull" and own:
            return self.pull(self._registry(own)), False
        if dockerfile.is_file():
            return self.build(task), False
        if own:
            return self.pull(self._registry(own)), False
        return self.pull(self.config.default_image), True

    def _registry(self, image: str) -> str:
        return f"{self.config.registry.rstrip('/')}/{image}" if self.config.registry else image

    def _serial(self, key: str) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(key, threading.Lock())

    def _exists(self, ref: str) -> str | None:
        import docker

        try:
            return self.client.images.get(ref).id
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.APIError as e:
            raise SandboxError(f"docker: cannot look up image {ref}: {e}") from None

    def plan(self, task: Any) -> tuple[str, bytes]:
        """(tag, context tar) of a task's build: what `build` would make, without the daemon building it."""
        env_dir = Path(task.path) / "environment"
        text, named = rewrite_bases((env_dir / "Dockerfile").read_text(), self.config.base_images)
        text = for_classic_builder(text, env_dir)
        blob = context_tar(env_dir, text)
        digest = hashlib.sha256(blob)
        for image in sorted(set(named)):
            digest.update(f"\n{image}={self._exists(image) or '-'}".encode())
        return f"{TASK_REPO}-{_slug(task.name)}:{digest.hexdigest()[:16]}", blob

    def build(self, task: Any) -> str:
        tag, blob = self.plan(task)
        with self._serial(tag):
            if self._exists(tag):
                self.stats["build_cache_hits"] += 1
                return tag
            timeout = max(self.config.api_timeout_s, task.environment.build_timeout_s)
            last = ""
            for attempt in range(self.config.build_retries + 1):
                if attempt:
                    time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
                start = time.monotonic()
                try:
                    self._build_once(tag, blob, task, timeout)
                    self.stats["builds"] += 1
                    self.build_seconds[tag] = time.monotonic() - start
                    log.info("built %s for task %s in %.1fs", tag, task.name, self.build_seconds[tag])
                    return tag
                except SandboxError as e:
                    self.stats["build_failures"] += 1
                    last = str(e)
                    log.warning("task %s: image build failed (attempt %d): %s", task.name, attempt + 1, last[-300:])
                    if last.startswith("docker build: the Dockerfile"):
                        break  # the daemon refused the Dockerfile itself: no retry changes that
            raise SandboxError(f"task {task.name}: its image did not build ({self.config.build_retries + 1} tries): "
                               f"{last}")

    def _build_once(self, tag: str, blob: bytes, task: Any, timeout: float) -> None:
        import docker
        import requests

        lines: list[str] = []
        try:
            stream = self.client.api.build(
                fileobj=io.BytesIO(blob), custom_context=True, tag=tag, rm=True, forcerm=True, pull=False,
                decode=True, timeout=timeout, network_mode=self.config.build_network,
                labels={"selfharness.io/task": _slug(task.name)})
            for chunk in stream:
                if "stream" in chunk:
                    lines.extend(chunk["stream"].splitlines())
                    del lines[:-40]
                if "error" in chunk:
                    detail = (chunk.get("errorDetail") or {}).get("message") or chunk["error"]
                    raise SandboxError(f"{detail.strip()} (after: {' | '.join(lines[-6:])[-600:]})")
        except docker.errors.APIError as e:
            said = e.explanation or str(e)
            if e.status_code == 400:
                raise SandboxError(f"docker build: the Dockerfile was refused: {said}") from None
            raise SandboxError(f"docker build: {said}") from None
        except (docker.errors.BuildError, requests.RequestException) as e:
            raise SandboxError(f"docker build: {e}") from None
        if not self._exists(tag):
            raise SandboxError(f"docker build ended without image {tag}: {' | '.join(lines[-6:])[-600:]}")

    def pull(self, ref: str) -> str:
        import docker
        import requests
        from docker.utils import parse_repository_tag

        with self._serial(ref):
            if self._exists(ref):
                return ref
            repo, tag = parse_repository_tag(ref)
            last = ""
            for attempt in range(self.config.build_retries + 1):
                if attempt:
                    time.sleep(self.config.backoff_s * 2 ** (attempt - 1))
                try:
                    self.client.images.pull(repo, tag=tag or "latest")
                    self.stats["pulls"] += 1
                    return ref
                except (docker.errors.APIError, requests.RequestException) as e:
                    self.stats["pull_failures"] += 1
                    last = str(e)
                    if "not found" in last.lower() or "denied" in last.lower():
                        break  # no retry makes a missing image appear
            raise SandboxError(f"image {ref} is not on the daemon and could not be pulled: {last[-400:]} "
                               "(offline: build it, import it (actors/sandbox/docker/baseimage.py), or map it "
                               "with sandbox.base_images)")
