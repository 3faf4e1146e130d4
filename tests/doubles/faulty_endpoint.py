"""A real HTTP server speaking OpenAI chat completions, answered by the in-process sim, that
misbehaves on cue: the way a real endpoint under load does (500, 429 with Retry-After, a
hang past the client's timeout, an HTML page with status 200, a broken JSON body, a 1 MB
reply, going away and coming back on the same port).

A test double for a flaky production endpoint; everything on the wire is real.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec

from harnesses.model import Model
from serve.wire import ChatRequest, completion, error


OVERFLOW_MESSAGE = ("This model's maximum context length is 4096 tokens. However, you requested 4410 tokens "
                    "(4410 in the messages, None in the completion). Please reduce the length of the messages or "
                    "completion.")


class Fault(msgspec.Struct, frozen=True):
    kind: str
    """ok | status | hang | html | bad_json | huge | down | echo_key | overflow"""
    status: int = 500
    retry_after: float | None = None
    seconds: float = 0.0
    size: int = 1_000_000


class FaultyEndpoint:
    """Serves `model` on 127.0.0.1:<port>/v1; `faults` are consumed one per chat request, in order."""

    def __init__(self, model: Model, port: int = 0):
        self.model, self.faults = model, deque()
        self.lock = threading.Lock()
        self.requests = 0
        self.auth_seen: set[str] = set()
        self._server = self._bind(port)
        self.port = self._server.server_address[1]
        self._serve(self._server)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, *faults: Fault) -> None:
        with self.lock:
            self.faults.extend(faults)

    def _next_fault(self) -> Fault | None:
        with self.lock:
            self.requests += 1
            return self.faults.popleft() if self.faults else None

    def _bind(self, port: int) -> ThreadingHTTPServer:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet, and headers are never logged
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json", headers=()):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in headers:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                self._send(200, json.dumps({"object": "list", "data": [{"id": endpoint.model.name}]}).encode())

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.auth_seen.add(self.headers.get("Authorization", ""))
                fault = endpoint._next_fault()
                if fault is not None and fault.kind == "down":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no answer at all, then the port closes for a while
                    threading.Thread(target=endpoint._outage, args=(fault.seconds,), daemon=True).start()
                    return
                if fault is not None and fault.kind == "status":
                    headers = [("Retry-After", f"{fault.retry_after:g}")] if fault.retry_after is not None else []
                    return self._send(fault.status, json.dumps(error(f"injected {fault.status}", "server_error"))
                                      .encode(), headers=headers)
                if fault is not None and fault.kind == "overflow":  # OpenAI's and llama-cpp-python's words
                    return self._send(400, json.dumps(error(
                        OVERFLOW_MESSAGE, param="messages", code="context_length_exceeded")).encode())
                if fault is not None and fault.kind == "echo_key":  # a careless server quoting credentials back
                    return self._send(401, json.dumps(error(f"bad key {self.headers.get('Authorization')}")).encode())
                if fault is not None and fault.kind == "html":
                    return self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                if fault is not None and fault.kind == "bad_json":
                    return self._send(200, b'{"id": "chatcmpl-1", "choices": [{"mess')
                if fault is not None and fault.kind == "hang":
                    time.sleep(fault.seconds)
                req = msgspec.json.decode(body, type=ChatRequest)
                reply = endpoint.model.complete(req.to_model_request())
                out = completion(reply, endpoint.model.name)
                if fault is not None and fault.kind == "huge":
                    out["choices"][0]["message"]["content"] = "x" * fault.size
                try:
                    self._send(200, json.dumps(out).encode())
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        return server

    def _serve(self, server: ThreadingHTTPServer) -> None:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _outage(self, seconds: float) -> None:
        self._server.shutdown()
        self._server.server_close()
        time.sleep(seconds)
        while True:  # the same port again, as a restarted server would
            try:
                self._server = self._bind(self.port)
                break
            except OSError:
                time.sleep(0.1)
        self._serve(self._server)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
