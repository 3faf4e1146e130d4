"""A test double of the Kubernetes API server, for the calls the sandbox backend makes, on the
real wire protocol: HTTP/JSON for pods (create, get, list by label selector, delete, merge
patch, log) and the exec websocket with `v4.channel.k8s.io` framing (one channel byte per
message: 0 stdin, 1 stdout, 2 stderr, 3 the Status JSON with the exit code; `v5` when it is
told to offer it, with its close-stdin message). The real `kubernetes` client is what talks to
it; nothing here imports the backend.

Each pod becomes a local bubblewrap sandbox (actors/sandbox/local/) once it "starts", with one
pid namespace for the pod's life, as a container has: its pid 1 is a keep-alive shell (like
the pod's own command), every exec'd process joins that namespace (bwrap `--userns`/`--pidns`),
and what a command leaves running in the background lives on after the exec, until something
kills it or the pod goes. An
`ImageRegistry` maps an image name to the files the image would hold (a task's environment
files, from its Dockerfile's COPY lines, as the local backend places them), and an unknown
image fails to pull, as it would. Pods evolve as on a real node: Pending, then scheduled,
ContainerCreating, then Running and Ready.

An exec'd command runs in its pod's sandbox as `exec <stdin >stdout 2>stderr; exec ARGV`: stdin
is a FIFO fed from the websocket's channel 0 as frames arrive (so `head -c N | tar -x` sees
the bytes as a container would; in v4 stdin ends only when the client goes away), stdout and
stderr are files in a directory bound into the sandbox at /.kube-exec, sent back byte for byte
as channel 1 and 2 frames when the command ends, then the Status on channel 3, then a close.
A client that goes away kills its command.

Faults, injected on cue and counted in `injected`:

- `fail_http(method, path_regex, status, ...)`: a REST call (or an exec handshake) answered
  with an error Status (500, 409, 429 with Retry-After ...); `commit=True` does the work first
  and then fails, as a lost response does; `stall_s` answers only that much later.
- `fail_pods(kind, ...)`: `image_pull` (ErrImagePull, then ImagePullBackOff), `invalid_image`,
  `unschedulable` (Pending with PodScheduled False), `slow` (starts `seconds` late), `crash`
  (the container exits at start).
- `fail_exec(kind, ...)`: `drop` (the command runs, then the connection is cut before its
  status), `drop_before` (cut right after the handshake, nothing runs), `hang` (the handshake
  completes and then nothing ever comes).

It also records every request as the RBAC (resource, verb) it needs, so a test can check the
backend's Role covers exactly what it uses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import fcntl
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from aiohttp import WSMsgType, web

from actors.sandbox.local import LocalSandbox, LocalSandboxBackend
from harnesses.sandbox import Limits, SandboxError

SPOOL = "/.kube-exec"
"""Where each pod's exec FIFOs and output files appear inside its sandbox."""
V4, V5 = "v4.channel.k8s.io", "v5.channel.k8s.io"
CHUNK = 64 * 1024


# --------------------------------------------------------------------------- images


class ImageRegistry:
    """Image name -> what a container of it holds: (files to place, working directory)."""

    def __init__(self) -> None:
        self._images: dict[str, Any] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="kube-double-image-")  # removed with the registry
        self._empty = self._tmp.name

    @classmethod
    def from_suite(cls, suite: Any, base_images: tuple[str, ...] = ("python:3.11-slim",)) -> "ImageRegistry":
        reg = cls()
        for task in suite.tasks.values():
            if task.environment.docker_image:
                reg.add(task.environment.docker_image, task)
        for image in base_images:
            reg.add_base(image)
        return reg

    def add(self, image: str, task: Any) -> None:
        """An image built from `task`'s Dockerfile: its COPY sources at their destinations."""
        self._images[image] = task

    def add_base(self, image: str, workdir: str = "/app") -> None:
        self._images[image] = SimpleNamespace(name=image.replace("/", "_"), path=self._empty, app_files=(),
                                              workdir=workdir)

    def lookup(self, image: str) -> Any | None:
        """Exact name, else the name under a registry prefix (registry.example/mirror/<image>)."""
        parts = image.split("/")
        for i in range(len(parts)):
            found = self._images.get("/".join(parts[i:]))
            if found is not None:
                return found
        return None


# --------------------------------------------------------------------------- faults


@dataclass
class _Rule:
    times: int | None = 1
    """How many matching events it hits; None: all of them."""
    skip: int = 0
    """Matching events let through before it starts hitting."""
    seen: int = 0
    hits: int = 0

    def take(self) -> bool:
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.hits >= self.times):
            return False
        self.hits += 1
        return True


@dataclass
class HttpFault(_Rule):
    method: str = "GET"
    path: str = ""
    status: int = 500
    commit: bool = False
    retry_after: float | None = None
    reason: str = ""
    stall_s: float = 0.0
    """Wait this long before answering (a handshake or call that hangs)."""


@dataclass
class PodFault(_Rule):
    kind: str = "image_pull"
    image: str | None = None
    task: str | None = None
    seconds: float = 0.0


@dataclass
class ExecFault(_Rule):
    kind: str = "drop"
    when: Callable[[dict, list[str], int], bool] | None = None
    """(pod labels, argv, index of this exec in its pod) -> whether this exec is a candidate."""


# --------------------------------------------------------------------------- pods


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)([KMGTE]i?|m)?$")
_FACTOR = {None: 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3,
           "Ti": 1024 ** 4, "m": 1e-3}


def quantity_mb(value: Any, default: int) -> int:
    m = _QUANTITY.match(str(value or ""))
    if not m:
        return default
    return max(1, int(float(m.group(1)) * _FACTOR[m.group(2)] / (1024 ** 2)))


class Pod:
    def __init__(self, manifest: dict, fault: PodFault | None):
        self.manifest = manifest
        self.fault = fault
        meta, spec = manifest["metadata"], manifest["spec"]
        self.name, self.namespace = meta["name"], meta["namespace"]
        self.container = spec["containers"][0]
        self.image = self.container["image"]
        self.workdir = self.container.get("workingDir") or "/"
        self.phase = "Pending"
        self.scheduled: bool | None = None      # None: not yet; False: unschedulable
        self.waiting: tuple[str, str] | None = None
        self.terminated: tuple[str, int, str] | None = None
        self.ready = False
        self.started_at: str | None = None
        self.logs = ""
        self.sandbox: LocalSandbox | None = None
        self.spool: Path | None = None
        self.execs = 0
        self.deleted = False
        self.task: asyncio.Task | None = None

    @property
    def labels(self) -> dict[str, str]:
        return self.manifest["metadata"].setdefault("labels", {})

    def json(self) -> dict:
        pod = json.loads(json.dumps(self.manifest))
        status: dict[str, Any] = {"phase": self.phase, "qosClass": "Guaranteed"}
        conditions = []
        if self.scheduled is False:
            conditions.append({"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                               "message": "0/3 nodes are available: 3 Insufficient cpu.",
                               "lastTransitionTime": _now()})
        elif self.scheduled:
            conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": _now()})
            ready = "True" if self.ready else "False"
            conditions += [{"type": t, "status": ready, "lastTransitionTime": _now()}
                           for t in ("Initialized", "ContainersReady", "Ready")]
            state: dict[str, Any]
            if self.terminated:
                reason, code, message = self.terminated
                state = {"terminated": {"exitCode": code, "reason": reason, "message": message,
                                        "startedAt": self.started_at or _now(), "finishedAt": _now()}}
            elif self.ready:
                state = {"running": {"startedAt": self.started_at}}
            else:
                reason, message = self.waiting or ("ContainerCreating", "")
                state = {"waiting": {"reason": reason, "message": message}}
            status["containerStatuses"] = [{
                "name": self.container["name"], "image": self.image, "imageID": f"docker-pullable://{self.image}",
                "ready": self.ready, "restartCount": 0, "started": self.ready, "state": state}]
            status.update(hostIP="10.0.0.1", podIP="10.1.0.7", startTime=self.started_at or _now())
        status["conditions"] = conditions
        pod["status"] = status
        return pod


def _status(code: int, reason: str, message: str, *, details: dict | None = None,
            headers: dict | None = None) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return web.json_response(body, status=code, headers=headers)


_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "AlreadyExists",
            415: "UnsupportedMediaType", 422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def _selector(text: str) -> Callable[[dict], bool]:
    """Equality-based label selectors: k=v, k==v, k!=v, k, !k (comma-separated)."""
    tests: list[Callable[[dict], bool]] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        m = re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)", term)
        if m:
            key, op, value = m.groups()
            tests.append((lambda lb, k=key, v=value: lb.get(k) == v) if op != "!=" else
                         (lambda lb, k=key, v=value: lb.get(k) != v))
        elif re.fullmatch(r"![\w./-]+", term):
            tests.append(lambda lb, k=term[1:]: k not in lb)
        elif re.fullmatch(r"[\w./-]+", term):
            tests.append(lambda lb, k=term: k in lb)
        else:
            raise ValueError(f"unsupported label selector term {term!r}")
    return lambda labels: all(t(labels) for t in tests)


def _rbac(method: str, path: str) -> tuple[str, tuple[str, ...]] | None:
    m = re.fullmatch(r"/api/v1/namespaces/[^/]+/pods(?:/([^/]+)(?:/(exec|log))?)?", path)
    if not m:
        return None
    name, sub = m.groups()
    if sub == "exec":
        return "pods/exec", ("create", "get")  # a websocket GET: `get` before 1.35, `create` from 1.35
    if sub == "log":
        return "pods/log", ("get",)
    if name is None:
        return "pods", ({"POST": ("create",), "GET": ("list",)}.get(method, (method.lower(),)))
    return "pods", ({"GET": ("get",), "DELETE": ("delete",), "PATCH": ("patch",), "PUT": ("update",)}
                    .get(method, (method.lower(),)))


NS_GET_USERNS = 0xB701
"""ioctl(2) on a namespace file: a descriptor of the user namespace that owns it (ioctl_ns(2))."""
POD_INIT = "echo ready; exec >/dev/null; trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"
"""The pod's pid 1 (as kubernetes.pod.KEEP_ALIVE): SIGKILL from inside its namespace does not reach it."""


class _PodSandbox(LocalSandbox):
    """A container: processes outlive the exec that started them. The pod's pid 1 is started with
    the first command; each exec's bwrap joins its user and pid namespaces instead of making new ones
    (it still gets a mount namespace of its own, with the same binds)."""

    _holder: subprocess.Popen | None = None
    _init_pid = _init_fd = 0

    def _start_pod(self) -> None:
        status_r, status_w = os.pipe()
        argv = LocalSandbox._argv(self, "", "/", {}, status_w)
        argv = argv[:argv.index("--as-pid-1")] + ["--as-pid-1", "bash", "-c", POD_INIT]
        kwargs: dict[str, Any] = {}
        if self.uid is not None:
            kwargs.update(user=self.uid, group=self.uid, extra_groups=[])
        try:
            self._holder = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.DEVNULL, pass_fds=(status_w,), start_new_session=True,
                                            env={"PATH": "/usr/bin:/bin"}, **kwargs)
        finally:
            os.close(status_w)
        buf = b""
        with os.fdopen(status_r, "rb") as status:
            while b"child-pid" not in buf:
                chunk = status.readline()
                if not chunk:
                    raise SandboxError("the pod's pid 1 did not start")
                buf += chunk
        self._init_pid = int(json.loads(buf.splitlines()[-1])["child-pid"])
        assert self._holder.stdout is not None
        with self._holder.stdout:  # its line once it runs: bwrap's setup (uid maps) is done
            if self._holder.stdout.readline() != b"ready\n":
                raise SandboxError("the pod's pid 1 did not start")
        self._init_fd = os.pidfd_open(self._init_pid)
        pidns = os.open(f"/proc/{self._init_pid}/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        # The user namespace that owns it (joining it gives the rights to join the pid namespace);
        # not /proc/PID/ns/user, which bwrap's --disable-userns swaps for a nested one at some point.
        userns = fcntl.ioctl(pidns, NS_GET_USERNS)
        os.set_inheritable(userns, False)
        self._pass_fds = (userns, pidns)

    def _argv(self, command: str, cwd: str, env: dict[str, str], status_fd: int,
              read_only: tuple[str, ...] = ()) -> list[str]:
        if self._holder is None:
            self._start_pod()
        argv = super()._argv(command, cwd, env, status_fd, read_only)
        i = argv.index("--unshare-all")
        userns, pidns = self._pass_fds
        argv[i:i + 3] = ["--userns", str(userns), "--pidns", str(pidns), "--unshare-net", "--unshare-ipc",
                         "--unshare-uts", "--unshare-cgroup-try"]
        # bwrap forks through an intermediate process to enter the pid namespace, and --die-with-parent
        # then kills the command now and then (SIGKILL when that intermediate exits): without it, the
        # command still dies with the pod, whose pid 1 has it.
        argv.remove("--die-with-parent")
        return argv[:argv.index("--as-pid-1")] + ["bash", "-c", command]

    @staticmethod
    def _reap_namespace(ns_link: str) -> None:
        """An exec that is stopped leaves the pod's other processes alone, as in a container."""

    def close(self) -> None:
        holder, self._holder = self._holder, None
        if holder is not None:
            try:  # from outside: the whole pid namespace dies (a pidfd: never another process that reused the pid)
                signal.pidfd_send_signal(self._init_fd, signal.SIGKILL)
            except ProcessLookupError:
                pass
            holder.wait()
            for fd in (*self._pass_fds, self._init_fd):
                os.close(fd)
            self._pass_fds = ()
        super().close()


class _PodBackend(LocalSandboxBackend):
    """The local backend, plus the pod's exec spool bound at /.kube-exec, making pods."""

    sandbox_class = _PodSandbox

    def __init__(self, spool: Path, **kw: Any):
        super().__init__(**kw)
        self.spool = spool

    def _python_binds(self) -> list[str]:
        return super()._python_binds() + ["--bind", str(self.spool), SPOOL]


# --------------------------------------------------------------------------- the server


class KubeAPIServerDouble:
    """`with KubeAPIServerDouble(registry) as api:` serves on 127.0.0.1 (`api.url`)."""

    def __init__(self, registry: ImageRegistry, *, namespaces: tuple[str, ...] = ("selfharness-sandbox",),
                 protocols: tuple[str, ...] = (V4,), schedule_delay_s: float = 0.02, start_delay_s: float = 0.05,
                 pull_backoff_s: float = 0.2, token: str | None = None, workers: int = 32,
                 base_dir: str | None = None):
        self.registry, self.namespaces, self.protocols = registry, set(namespaces), protocols
        self.schedule_delay_s, self.start_delay_s, self.pull_backoff_s = schedule_delay_s, start_delay_s, pull_backoff_s
        self.token = token
        self.base_dir = base_dir
        self._pods: dict[tuple[str, str], Pod] = {}
        self._lock = threading.Lock()
        self._http_faults: list[HttpFault] = []
        self._pod_faults: list[PodFault] = []
        self._exec_faults: list[ExecFault] = []
        self.injected: Counter[str] = Counter()
        self.requests: list[tuple[str, str]] = []
        self.rbac_used: set[tuple[str, str]] = set()
        self.pods_created = 0
        self.execs: list[tuple[str, list[str]]] = []
        self.created_manifests: list[dict] = []
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="kube-double")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> "KubeAPIServerDouble":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        started = threading.Event()

        def serve() -> None:
            loop = self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
            base = "/api/v1/namespaces/{ns}/pods"
            app.router.add_route("*", base, self._pods_collection)
            app.router.add_get(base + "/{name}/exec", self._exec)
            app.router.add_get(base + "/{name}/log", self._log)
            app.router.add_route("*", base + "/{name}", self._pod_item)
            self._runner = web.AppRunner(app, access_log=None, max_line_size=1 << 20, max_field_size=1 << 20)
            loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            started.set()
            loop.run_forever()
            loop.run_until_complete(self._runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="kube-apiserver-double", daemon=True)
        self._thread.start()
        if not started.wait(30):
            raise RuntimeError("the API server double did not start")

    def stop(self) -> None:
        """Delete every pod (their sandboxes), then stop serving."""
        for pod in list(self._pods.values()):
            self._remove(pod)
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(30)
        self._pool.shutdown(wait=True, cancel_futures=False)

    # ------------------------------------------------------------------ faults and views

    def fail_http(self, method: str, path: str, status: int = 500, **kw: Any) -> HttpFault:
        rule = HttpFault(method=method.upper(), path=path, status=status, **kw)
        with self._lock:
            self._http_faults.append(rule)
        return rule

    def fail_pods(self, kind: str, **kw: Any) -> PodFault:
        assert kind in ("image_pull", "invalid_image", "unschedulable", "slow", "crash"), kind
        rule = PodFault(kind=kind, **kw)
        with self._lock:
            self._pod_faults.append(rule)
        return rule

    def fail_exec(self, kind: str, **kw: Any) -> ExecFault:
        assert kind in ("drop", "drop_before", "hang"), kind
        rule = ExecFault(kind=kind, **kw)
        with self._lock:
            self._exec_faults.append(rule)
        return rule

    def clear_faults(self) -> None:
        with self._lock:
            self._http_faults.clear()
            self._pod_faults.clear()
            self._exec_faults.clear()

    def pods(self, selector: str = "") -> list[dict]:
        """The pods that exist now (as the API would list them)."""
        match = _selector(selector)
        with self._lock:
            return [p.json() for p in self._pods.values() if match(p.labels)]

    def pod(self, name: str, namespace: str = "selfharness-sandbox") -> Pod | None:
        return self._pods.get((namespace, name))

    # ------------------------------------------------------------------ HTTP plumbing

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable) -> web.StreamResponse:
        rbac = _rbac(request.method, request.path)
        with self._lock:
            self.requests.append((request.method, request.path))
            if rbac:
                self.rbac_used.update((rbac[0], verb) for verb in rbac[1])
        if self.token is not None and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        if rbac is None:
            return _status(404, "NotFound", f"the server could not find the requested resource {request.path}")
        ns = request.match_info.get("ns")
        if ns not in self.namespaces:
            return _status(404, "NotFound", f'namespaces "{ns}" not found')
        fault = self._take(self._http_faults, lambda f: f.method == request.method and re.search(f.path, request.path))
        if fault is None:
            return await handler(request)
        self.injected[f"http_{request.method}_{fault.status}"] += 1
        if fault.stall_s:
            await asyncio.sleep(fault.stall_s)
        if fault.commit:
            await handler(request)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
        return _status(fault.status, fault.reason or _REASONS.get(fault.status, "InternalError"),
                       f"injected fault: {fault.status}", headers=headers)

    def _take(self, rules: list, match: Callable[[Any], Any]) -> Any:
        with self._lock:
            for rule in rules:
                if match(rule) and rule.take():
                    return rule
        return None

    async def _pods_collection(self, request: web.Request) -> web.StreamResponse:
        ns = request.match_info["ns"]
        if request.method == "POST":
            return await self._create(request, ns)
        if request.method == "GET":
            try:
                match = _selector(request.query.get("labelSelector", ""))
            except ValueError as e:
                return _status(400, "BadRequest", str(e))
            with self._lock:
                items = [p.json() for (n, _), p in self._pods.items() if n == ns and match(p.labels)]
            return web.json_response({"kind": "PodList", "apiVersion": "v1",
                                      "metadata": {"resourceVersion": str(int(time.time()))}, "items": items})
        return _status(405, "MethodNotAllowed", f"{request.method} is not allowed")

    async def _create(self, request: web.Request, ns: str) -> web.StreamResponse:
        try:
            manifest = await request.json()
        except ValueError:
            return _status(400, "BadRequest", "the body is not JSON")
        meta = manifest.setdefault("metadata", {})
        containers = (manifest.get("spec") or {}).get("containers") or []
        if manifest.get("kind") != "Pod" or not containers or not all(c.get("name") and c.get("image")
                                                                        for c in containers):
            return _status(422, "Invalid", "Pod is invalid: spec.containers: Required value (name and image)")
        if meta.get("namespace", ns) != ns:
            return _status(400, "BadRequest", "the namespace of the object does not match the namespace of the URL")
        name = meta.get("name") or (meta.get("generateName", "pod-") + uuid.uuid4().hex[:5])
        with self._lock:
            if (ns, name) in self._pods:
                return _status(409, "AlreadyExists", f'pods "{name}" already exists',
                               details={"name": name, "kind": "pods"})
            meta.update(name=name, namespace=ns, uid=str(uuid.uuid4()), creationTimestamp=_now(),
                        resourceVersion=str(self.pods_created + 1))
            labels = meta.get("labels") or {}
            fault = None
            for rule in self._pod_faults:
                if ((rule.image is None or rule.image in containers[0]["image"])
                        and (rule.task is None or labels.get("selfharness.io/task") == rule.task) and rule.take()):
                    fault = rule
                    break
            pod = Pod(manifest, fault)
            self._pods[(ns, name)] = pod
            self.pods_created += 1
            self.created_manifests.append(json.loads(json.dumps(manifest)))
        if fault is not None:
            self.injected[f"pod_{fault.kind}"] += 1
        pod.task = asyncio.ensure_future(self._lifecycle(pod))
        return web.json_response(pod.json(), status=201)

    async def _pod_item(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self._pods.get((ns, name))
        if pod is None:
            return _status(404, "NotFound", f'pods "{name}" not found', details={"name": name, "kind": "pods"})
        if request.method == "GET":
            return web.json_response(pod.json())
        if request.method == "DELETE":
            body = pod.json()
            body["metadata"]["deletionTimestamp"] = _now()
            self._remove(pod)
            return web.json_response(body)
        if request.method == "PATCH":
            kind = request.headers.get("Content-Type", "").split(";")[0]
            if kind not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
                return _status(415, "UnsupportedMediaType", f"the double takes merge patches, not {kind}")
            patch = await request.json()
            unsupported = set(patch) - {"metadata"} or set(patch.get("metadata", {})) - {"labels", "annotations"}
            if unsupported:
                return _status(422, "Invalid", f"the double patches labels and annotations only, not {unsupported}")
            for key in ("labels", "annotations"):
                target = pod.manifest["metadata"].setdefault(key, {})
                for k, v in (patch["metadata"].get(key) or {}).items():
                    if v is None:
                        target.pop(k, None)
                    else:
                        target[k] = v
            return web.json_response(pod.json())
        return _status(405, "MethodNotAllowed", f"{request.method} is not allowed")

    async def _log(self, request: web.Request) -> web.StreamResponse:
        pod = self._pods.get((request.match_info["ns"], request.match_info["name"]))
        if pod is None:
            return _status(404, "NotFound", "pod not found")
        lines = pod.logs.splitlines()
        tail = int(request.query.get("tailLines", "0") or 0)
        return web.Response(text="\n".join(lines[-tail:] if tail else lines), content_type="text/plain")

    # ------------------------------------------------------------------ a pod's life

    async def _lifecycle(self, pod: Pod) -> None:
        fault = pod.fault
        await asyncio.sleep(self.schedule_delay_s)
        if fault is not None and fault.kind == "unschedulable":
            pod.scheduled = False
            return
        pod.scheduled = True
        image = self.registry.lookup(pod.image)
        if fault is not None and fault.kind in ("image_pull", "invalid_image") or image is None:
            if fault is not None and fault.kind == "invalid_image":
                pod.waiting = ("InvalidImageName", f'couldn\'t parse image name "{pod.image}"')
                return
            message = (f'Failed to pull image "{pod.image}": pull access denied, repository does not exist or '
                       f'may require authorization' if image is None else
                       f'Failed to pull image "{pod.image}": rpc error: code = Unavailable desc = connection reset')
            pod.waiting = ("ErrImagePull", message)
            await asyncio.sleep(self.pull_backoff_s)
            pod.waiting = ("ImagePullBackOff", f'Back-off pulling image "{pod.image}"')
            return
        pod.waiting = ("ContainerCreating", "")
        await asyncio.sleep(self.start_delay_s + (fault.seconds if fault is not None and fault.kind == "slow" else 0))
        pod.started_at = _now()
        if fault is not None and fault.kind == "crash":
            pod.phase, pod.waiting = "Failed", None
            pod.terminated = ("StartError", 128, 'exec: "/bin/sh": stat /bin/sh: no such file or directory')
            pod.logs = "exec /bin/sh: no such file or directory\n"
            return
        try:
            sandbox = await asyncio.get_running_loop().run_in_executor(self._pool, self._open_sandbox, pod, image)
        except Exception as e:  # noqa: BLE001 - the container failed to start
            pod.phase, pod.waiting = "Failed", None
            pod.terminated = ("StartError", 128, str(e)[:300])
            return
        if pod.deleted:
            self._pool.submit(self._close_sandbox, pod, sandbox)
            return
        pod.sandbox = sandbox
        pod.phase, pod.waiting, pod.ready = "Running", None, True

    def _open_sandbox(self, pod: Pod, image: Any) -> LocalSandbox:
        spool = Path(tempfile.mkdtemp(prefix=f"kube-exec-{pod.name}-", dir=self.base_dir))
        os.chmod(spool, 0o1777)
        pod.spool = spool
        limits = pod.container.get("resources", {}).get("limits", {})
        memory = quantity_mb(limits.get("memory"), 2048)
        disk = quantity_mb(limits.get("ephemeral-storage"), 10240)
        task = SimpleNamespace(name=pod.name, path=image.path, app_files=image.app_files)
        backend = _PodBackend(spool, base_dir=self.base_dir)
        return backend.open(task, Limits(cpu_seconds=3600, memory_mb=max(256, memory), disk_mb=disk,
                                         max_file_mb=1024, max_output_bytes=1 << 20))

    def _close_sandbox(self, pod: Pod, sandbox: LocalSandbox | None) -> None:
        if sandbox is not None:
            sandbox.close()
        if pod.spool is not None:
            shutil.rmtree(pod.spool, ignore_errors=True)

    def _remove(self, pod: Pod) -> None:
        with self._lock:
            self._pods.pop((pod.namespace, pod.name), None)
            pod.deleted = True
        if pod.task is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(pod.task.cancel)
        sandbox, pod.sandbox, pod.ready = pod.sandbox, None, False
        if sandbox is not None or pod.spool is not None:
            try:
                self._pool.submit(self._close_sandbox, pod, sandbox)
            except RuntimeError:  # shutting down
                self._close_sandbox(pod, sandbox)

    # ------------------------------------------------------------------ exec

    async def _exec(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        pod = self._pods.get((ns, name))
        if pod is None:
            return _status(404, "NotFound", f'pods "{name}" not found')
        if not pod.ready or pod.sandbox is None:
            return _status(400, "BadRequest", f"container {pod.container['name']} is not running (pod {pod.phase})")
        container = request.query.get("container", pod.container["name"])
        if container != pod.container["name"]:
            return _status(400, "BadRequest", f"container {container} is not valid for pod {name}")
        argv = request.query.getall("command", [])
        if not argv:
            return _status(400, "BadRequest", "you must specify at least 1 command")
        want_stdin = request.query.get("stdin", "false").lower() in ("true", "1")
        pod.execs += 1
        index = pod.execs
        with self._lock:
            self.execs.append((name, argv))
        fault = self._take(self._exec_faults, lambda f: f.when is None or f.when(dict(pod.labels), argv, index))
        ws = web.WebSocketResponse(protocols=self.protocols, timeout=2.0, max_msg_size=0)
        await ws.prepare(request)
        if fault is not None:
            self.injected[f"exec_{fault.kind}"] += 1
            if fault.kind == "drop_before":
                request.transport.abort()
                return ws
            if fault.kind == "hang":
                async for _ in ws:  # until the client gives up
                    pass
                return ws
        v5 = ws.ws_protocol == V5
        stdin_q: queue.Queue[bytes | None] = queue.Queue()
        gone = asyncio.Event()

        async def read_client() -> None:
            try:
                async for msg in ws:
                    if msg.type in (WSMsgType.BINARY, WSMsgType.TEXT):
                        data = msg.data if isinstance(msg.data, bytes) else msg.data.encode()
                        if data[:1] == b"\x00" and len(data) > 1:
                            stdin_q.put(data[1:])
                        elif v5 and data[:2] == b"\xff\x00":
                            stdin_q.put(None)
                    elif msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
                        break
            finally:
                stdin_q.put(None)
                gone.set()

        reader = asyncio.ensure_future(read_client())
        loop = asyncio.get_running_loop()
        run = loop.run_in_executor(self._pool, self._run, pod, index, argv, want_stdin, stdin_q)
        watcher = asyncio.ensure_future(gone.wait())
        await asyncio.wait({run, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not run.done():  # the client went away: kill the command, as a container runtime's exec ends
            sandbox = pod.sandbox
            if sandbox is not None and sandbox._current is not None:
                LocalSandbox._kill(sandbox._current, sandbox._current_init)
            await asyncio.wait({run})
            watcher.cancel()
            return ws
        watcher.cancel()
        try:
            code, out, err, message = run.result()
        except Exception as e:  # noqa: BLE001
            code, out, err, message = None, b"", b"", f"{type(e).__name__}: {e}"
        if fault is not None and fault.kind == "drop":
            request.transport.abort()
            reader.cancel()
            return ws
        try:
            for channel, data in ((1, out), (2, err)):
                for i in range(0, len(data), CHUNK):
                    await ws.send_bytes(bytes([channel]) + data[i:i + CHUNK])
            if code is None:
                status = {"metadata": {}, "status": "Failure", "reason": "InternalError",
                          "message": f"error executing command in container: {message}"}
            elif code == 0:
                status = {"metadata": {}, "status": "Success"}
            else:
                status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                          "message": f"command terminated with non-zero exit code: error executing command "
                                     f"{argv[:2]}, exit code {code}",
                          "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
            await ws.send_bytes(b"\x03" + json.dumps(status).encode())
            await ws.close()
        except (ConnectionError, RuntimeError):
            pass
        reader.cancel()
        return ws

    def _run(self, pod: Pod, index: int, argv: list[str], want_stdin: bool,
             stdin_q: "queue.Queue[bytes | None]") -> tuple[int | None, bytes, bytes, str]:
        """Run argv in the pod's sandbox with its stdio on the spool (see the module doc)."""
        sandbox, spool = pod.sandbox, pod.spool
        if sandbox is None or spool is None:
            return None, b"", b"", "container not running"
        host = {k: spool / f"{k}-{index}" for k in ("in", "out", "err")}
        stop = threading.Event()
        pump = None
        if want_stdin:
            os.mkfifo(host["in"], 0o666)
            os.chmod(host["in"], 0o666)
            pump = threading.Thread(target=_pump, args=(host["in"], stdin_q, stop), daemon=True)
            pump.start()
        stdin = f"{SPOOL}/in-{index}" if want_stdin else "/dev/null"
        command = f"exec <{stdin} >{SPOOL}/out-{index} 2>{SPOOL}/err-{index}; exec {shlex.join(argv)}"
        try:
            result = sandbox.exec(command, timeout_s=3600, cwd=pod.workdir)
        except SandboxError as e:
            if "(exit 137)" in str(e) or "short read from pid socket" in str(e):
                # SIGKILLed by a process of the pod while bwrap set it up (its child or the one that enters
                # the pid namespace): a container runtime reports that as the process's own death
                return 137, b"", b"", ""
            return None, b"", b"", str(e)
        finally:
            stop.set()
            stdin_q.put(None)
            if pump is not None:
                pump.join(5)
        out = host["out"].read_bytes() if host["out"].exists() else b""
        err = host["err"].read_bytes() if host["err"].exists() else b""
        for p in host.values():
            try:
                p.unlink()
            except OSError:
                pass
        if not host["out"].parent.exists() or (result.exit_code != 0 and result.output and not out and not err
                                                and "kube-exec" in result.output):
            return None, b"", b"", result.output[:300]  # the redirections themselves failed
        return result.exit_code, out, err, ""


def _pump(fifo: Path, chunks: "queue.Queue[bytes | None]", stop: threading.Event) -> None:
    """Feed a command's stdin FIFO from the websocket's channel 0 until EOF (None)."""
    fd = None
    while fd is None:
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            if e.errno != errno.ENXIO or stop.is_set():  # no reader yet (ENXIO) is worth waiting for
                return
            time.sleep(0.002)
    os.set_blocking(fd, True)
    try:
        while True:
            try:
                chunk = chunks.get(timeout=0.1)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            if chunk is None:
                return
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view):]
    except (BrokenPipeError, OSError):
        return
    finally:
        os.close(fd)
