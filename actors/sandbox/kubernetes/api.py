"""The Kubernetes API calls the sandbox backend makes, each bounded by a timeout and retried
when retrying can help (429, 5xx, a broken connection), and the RBAC they need.

`RBAC` is the whole of what the backend asks of the API server: k8s/sandbox/role.yaml grants
exactly this, and tests/k8s/test_manifests.py holds the two together (a test against the API
double also checks that every request the backend makes is covered).

Why exec streams get their own ApiClient per thread: `kubernetes.stream.stream()` swaps the
ApiClient's `call_api` for a websocket one while it runs, so a REST call on the same client
from another thread at that moment would go out as a websocket, and two overlapping stream()
calls can leave the swap in place for good. REST calls share one client (urllib3's pool is
thread-safe); streams never touch it.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections import Counter
from typing import Any, Callable

from harnesses.sandbox import SandboxError

log = logging.getLogger(__name__)

INSTALL_HINT = "the kubernetes sandbox backend needs the kubernetes client: pip install -e '.[kubernetes]'"

RBAC: dict[str, tuple[str, ...]] = {
    "pods": ("create", "delete", "get", "list", "patch"),
    # A websocket exec is an HTTP GET: before Kubernetes 1.35 RBAC checks `get`; from 1.35 it
    # also checks `create` (KEP-4006, AuthorizePodWebsocketUpgradeCreatePermission).
    "pods/exec": ("create", "get"),
    "pods/log": ("get",),
}
"""Resource -> verbs, all in the core API group, in the sandbox namespace only."""

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def _kube():
    try:
        import kubernetes  # noqa: F401
    except ImportError as e:  # pragma: no cover - the extra is part of the test install
        raise SandboxError(INSTALL_HINT) from e
    return kubernetes


class KubeAPIError(SandboxError):
    """A call failed for good: `status` is the HTTP status (0 when no response came)."""

    def __init__(self, what: str, status: int, reason: str, body: str = ""):
        self.what, self.status, self.reason, self.body = what, status, reason, body
        detail = _status_message(body) or reason
        super().__init__(f"kubernetes API: {what}: HTTP {status}: {detail}" if status else
                         f"kubernetes API: {what}: {detail}")


def _status_message(body: str) -> str:
    import json

    try:
        data = json.loads(body)
        return f"{data.get('reason', '')}: {data.get('message', '')}".strip(": ")
    except (ValueError, TypeError, AttributeError):
        return (body or "")[:300]


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with equal jitter: between half and all of min(cap, base * 2**attempt)."""
    full = min(cap, base * (2 ** attempt))
    return full * (0.5 + (rng or random).random() / 2)


def client_configuration(config: Any):
    """A kubernetes `Configuration`: `host` if given; else kubeconfig/context if given; else the
    in-cluster service account; else the default kubeconfig."""
    k = _kube()
    from kubernetes import client
    from kubernetes.config import ConfigException

    c = client.Configuration()
    if config.host:
        c.host = config.host.rstrip("/")
        c.verify_ssl = config.verify_ssl
        if config.token_env:
            token = os.environ.get(config.token_env)
            if not token:
                raise SandboxError(f"sandbox.token_env: ${config.token_env} is not set")
            c.api_key = {"authorization": f"Bearer {token}"}
    elif config.kubeconfig or config.context:
        k.config.load_kube_config(config_file=config.kubeconfig, context=config.context, client_configuration=c)
    else:
        try:
            k.config.load_incluster_config(client_configuration=c)
        except ConfigException:
            try:
                # $KUBECONFIG as it is now (the client reads it once, at import)
                k.config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None, client_configuration=c)
            except (ConfigException, OSError) as e:
                raise SandboxError(f"no Kubernetes API to talk to: not in a cluster and no kubeconfig ({e}); "
                                   f"set sandbox.host, sandbox.kubeconfig or KUBECONFIG") from None
    c.connection_pool_maxsize = max(c.connection_pool_maxsize or 0, config.connection_pool)
    return c


class KubeAPI:
    """REST calls with timeouts and retries, plus per-thread clients for exec streams."""

    def __init__(self, config: Any, *, sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None):
        _kube()
        from kubernetes import client

        self.config = config
        self.namespace = config.namespace
        self.client_config = client_configuration(config)
        self.core = client.CoreV1Api(client.ApiClient(self.client_config))
        self._local = threading.local()
        self._sleep, self._rng = sleep, rng or random.Random()
        self.no_retries = False
        """Set at interpreter exit: one try per call, so a gone API server cannot hold up the exit."""
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[key] += n

    def stream_api(self):
        """A CoreV1Api on this thread's own ApiClient, for `kubernetes.stream.stream` (see module doc)."""
        api = getattr(self._local, "api", None)
        if api is None:
            from kubernetes import client

            api = self._local.api = client.CoreV1Api(client.ApiClient(self.client_config))
        return api

    def backoff(self, attempt: int) -> float:
        return backoff_s(attempt, self.config.backoff_s, self.config.backoff_max_s, self._rng)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._sleep(seconds)

    # ------------------------------------------------------------------ the retry loop

    def call(self, what: str, fn: Callable, *args, **kwargs):
        """`fn(*args, **kwargs)` with a timeout; 429/5xx and broken connections are retried with
        backoff (Retry-After honoured) up to api_retries times; anything else raises KubeAPIError."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        attempt = 0
        while True:
            try:
                return fn(*args, _request_timeout=self.config.api_timeout_s, **kwargs)
            except ApiException as e:
                status, reason, body = e.status or 0, str(e.reason or ""), e.body or ""
                if isinstance(body, bytes):
                    body = body.decode(errors="replace")
                retry = status in RETRY_STATUSES
                wait = _retry_after(e.headers) if retry else None
            except (HTTPError, OSError) as e:  # refused, reset, read timeout: no answer at all
                status, reason, body, retry, wait = 0, f"{type(e).__name__}: {e}", "", True, None
            if not retry or attempt >= self.config.api_retries or self.no_retries:
                raise KubeAPIError(what, status, reason, body)
            delay = wait if wait is not None else self.backoff(attempt)
            self.count("api_retries")
            log.info("kubernetes API %s: %s %s; retry %d in %.1fs", what, status, reason[:200], attempt + 1, delay)
            self.sleep(min(delay, self.config.backoff_max_s))
            attempt += 1

    # ------------------------------------------------------------------ the calls (see RBAC)

    def create_pod(self, manifest: dict):
        """POST pods (create). A 409 raises KubeAPIError with status 409: the caller decides."""
        self.count("pods_create_calls")
        return self.call(f"create pod {manifest['metadata'].get('name')}", self.core.create_namespaced_pod,
                         self.namespace, manifest)

    def read_pod(self, name: str):
        """GET pods/NAME (get); None when it does not exist."""
        try:
            return self.call(f"read pod {name}", self.core.read_namespaced_pod, name, self.namespace)
        except KubeAPIError as e:
            if e.status == 404:
                return None
            raise

    def delete_pod(self, name: str) -> bool:
        """DELETE pods/NAME (delete) at once (grace 0); False when it was already gone."""
        from kubernetes import client

        try:
            self.call(f"delete pod {name}", self.core.delete_namespaced_pod, name, self.namespace,
                      grace_period_seconds=0, body=client.V1DeleteOptions(grace_period_seconds=0,
                                                                          propagation_policy="Background"))
            self.count("pods_deleted")
            return True
        except KubeAPIError as e:
            if e.status == 404:
                return False
            raise

    def list_pods(self, selector: dict[str, str] | str) -> list:
        """GET pods?labelSelector= (list)."""
        if isinstance(selector, dict):
            selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        result = self.call(f"list pods {selector}", self.core.list_namespaced_pod, self.namespace,
                           label_selector=selector)
        return list(result.items or [])

    def patch_labels(self, name: str, labels: dict[str, str | None]) -> None:
        """PATCH pods/NAME (patch), a JSON merge patch of labels (None removes one)."""
        self.call(f"label pod {name}", self.core.patch_namespaced_pod, name, self.namespace,
                  {"metadata": {"labels": labels}}, _content_type="application/merge-patch+json")

    def pod_log(self, name: str, container: str, tail_lines: int = 20) -> str:
        """GET pods/NAME/log (pods/log get): the last lines, for the message of a failed start."""
        try:
            text = self.call(f"log of pod {name}", self.core.read_namespaced_pod_log, name, self.namespace,
                             container=container, tail_lines=tail_lines)
        except KubeAPIError as e:
            return f"(no log: {e.reason or e.status})"
        return text if isinstance(text, str) else str(text)


def _retry_after(headers: Any) -> float | None:
    if not headers:
        return None
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
    except AttributeError:
        return None
    if value and re.fullmatch(r"\s*\d+(\.\d+)?\s*", str(value)):
        return float(value)
    return None
