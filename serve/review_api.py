"""The review app's HTTP face: the page, its static files, a JSON API over the runs, and verdicts.

Plain FastAPI (no Ray), so it can run under uvicorn in a test or inside the Serve replica
(serve/review.py). Reads are open when the app is bound to loopback and need the token
otherwise; writes always need `Authorization: Bearer <token>`. Every answer is JSON with an
`error` that says what was wrong; a refused request changes nothing.

No `from __future__ import annotations`: FastAPI resolves the handlers' annotations.
"""

import hmac
import ipaddress
from pathlib import Path
from typing import Literal

import msgspec
from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

from actors.approvals import ApprovalError
from serve import run_view
from serve.run_paths import BadId, NotFound, RunsRoot
from serve.verdicts import CommentTooLong, NotAwaiting, give_verdict

STATIC = Path(__file__).parent / "static"
FILES = {"review.js": "text/javascript", "review.css": "text/css"}
MAX_BODY = 16 * 1024
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._@-")
HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Cache-Control": "no-store",
           "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"}


class VerdictRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    verdict: Literal["approve", "reject"]
    comment: str = ""
    name: str = "reviewer"
    """Who approves, as the record names them: review:<name>."""


def _json(body, status: int = 200, headers: dict | None = None) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json",
                    headers={**HEADERS, **(headers or {})})


def _error(message: str, status: int, headers: dict | None = None) -> Response:
    return _json({"error": message, "status": status}, status, headers)


def is_loopback(host: str) -> bool:
    """A loopback name or address: what the app may be bound to with open reads, and what they are open to."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_host(header: str) -> bool:
    """The Host header names a loopback address (the port and an IPv6 address's brackets stripped)."""
    name = header if header.endswith("]") else header.rsplit(":", 1)[0]
    return is_loopback(name.strip("[]"))


class Auth:
    def __init__(self, token: str | None, open_reads: bool):
        self.token, self.open_reads = token, open_reads

    def refuse(self, request: Request, write: bool) -> Response | None:
        """None when the request may go on; else the 401/403 answer."""
        # Open reads only under a loopback name: a page elsewhere that rebinds its name to us must show the token.
        if not write and self.open_reads and _loopback_host(request.headers.get("host", "")):
            return None
        if self.token is None:
            return _error("writes are disabled: the review app was started without a token "
                          "(token_env or token_file)", 403)
        header = request.headers.get("authorization", "")
        if not header:
            return _error("a token is needed: send Authorization: Bearer <token>", 401,
                          {"WWW-Authenticate": 'Bearer realm="selfharness-review"'})
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return _error("wrong token", 403)
        return None


async def _body(request: Request) -> bytes | Response:
    """The request body, or a 413 once it passes MAX_BODY (read no further)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return _error(f"request body: {declared} bytes (at most {MAX_BODY})", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return _error(f"request body: more than {MAX_BODY} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(root: RunsRoot, token: str | None, open_reads: bool) -> FastAPI:
    """The review app over the runs under `root`."""
    app = FastAPI(title="self-harness review", docs_url=None, redoc_url=None, openapi_url=None)
    auth = Auth(token, open_reads)

    @app.exception_handler(HTTPException)
    async def no_route(request: Request, exc: HTTPException):
        return _error(f"{request.method} {request.url.path[:200]}: {exc.detail}", exc.status_code)

    def answer(request: Request, make, write: bool = False) -> Response:
        refused = auth.refuse(request, write)
        if refused is not None:
            return refused
        try:
            return _json(make())
        except BadId as e:
            return _error(str(e), 400)
        except NotFound as e:
            return _error(str(e), 404)

    @app.get("/")
    async def page(request: Request):
        return Response((STATIC / "index.html").read_bytes(), media_type="text/html", headers=HEADERS)

    @app.get("/favicon.ico")
    async def favicon():
        return Response(status_code=204)

    @app.get("/static/{name}")
    async def static(name: str):
        if name not in FILES:
            return _error(f"no static file {name[:80]!r}", 404)
        return Response((STATIC / name).read_bytes(), media_type=FILES[name], headers=HEADERS)

    @app.get("/api/config")
    async def config(request: Request):
        return answer(request, lambda: {"open_reads": open_reads, "writes": token is not None,
                                        "single_run": root.only})

    @app.get("/api/runs")
    async def runs(request: Request):
        return answer(request, lambda: [run_view.summary(r, root.run_dir(r)) for r in root.run_ids()])

    @app.get("/api/runs/{run_id}")
    async def run(request: Request, run_id: str):
        return answer(request, lambda: run_view.run_detail(run_id, root.run_dir(run_id)))

    @app.get("/api/runs/{run_id}/live")
    async def live(request: Request, run_id: str):
        """Live progress from the run's controller actor when it is alive, else from the run directory."""
        from cluster.controller import run_status

        return answer(request, lambda: msgspec.to_builtins(run_status(root.run_dir(run_id), timeout_s=5.0,
                                                                      connect=False)))

    @app.get("/api/runs/{run_id}/rounds/{n}")
    async def round_(request: Request, run_id: str, n: str):
        def make():
            if not n.isdigit() or len(n) > 4:
                raise BadId(f"round {n[:20]!r}: expected a number")
            return run_view.round_detail(root.run_dir(run_id), int(n))
        return answer(request, make)

    @app.get("/api/runs/{run_id}/proposals/{proposal_id}")
    async def proposal(request: Request, run_id: str, proposal_id: str):
        return answer(request, lambda: run_view.proposal_detail(root.run_dir(run_id), proposal_id))

    @app.get("/api/runs/{run_id}/traces/{episode_id}")
    async def trace(request: Request, run_id: str, episode_id: str):
        return answer(request, lambda: run_view.trace_view(root.run_dir(run_id), episode_id))

    @app.post("/api/runs/{run_id}/proposals/{proposal_id}/verdict")
    async def verdict(request: Request, run_id: str, proposal_id: str):
        refused = auth.refuse(request, write=True)
        if refused is not None:
            return refused
        body = await _body(request)
        if isinstance(body, Response):
            return body
        try:
            run_dir = root.run_dir(run_id)
            req = msgspec.json.decode(body, type=VerdictRequest)
            if not req.name or len(req.name) > 64 or not set(req.name) <= NAME_CHARS:
                raise ApprovalError("name: 1-64 letters, digits, spaces or . _ @ -")
            v = give_verdict(run_dir, proposal_id, req.verdict, f"review:{req.name}", req.comment)
        except BadId as e:
            return _error(str(e), 400)
        except NotFound as e:
            return _error(str(e), 404)
        except (msgspec.DecodeError, msgspec.ValidationError) as e:
            return _error(f"request body: {e}", 400)
        except CommentTooLong as e:
            return _error(str(e), 413)
        except ApprovalError as e:
            return _error(str(e), 400)
        except NotAwaiting as e:
            return _error(str(e), 409)
        return _json(v, 201)

    return app
