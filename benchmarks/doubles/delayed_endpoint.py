"""A real HTTP server speaking OpenAI chat completions, answered by the in-process sim after a
fixed delay per request: a test double for a hosted endpoint whose latency, not its compute,
bounds a rollout (what a scheduler has to hide by keeping many episodes in flight).

Everything on the wire is real (`serve/wire.py`); the delay is a sleep, so hundreds of
requests wait at once without using the CPU. Run standalone to keep its work off the
measured process's GIL:

    .venv/bin/python benchmarks/doubles/delayed_endpoint.py [--profile minimax] [--delay 0.5]

prints its base URL on the first line of stdout and serves until stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec

if __package__ in (None, ""):  # run as a script: the project is two levels up
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harnesses.model import Model
from serve.wire import ChatRequest, completion, error, models


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of hundreds of new connections must not be refused
    allow_reuse_address = True


class DelayedEndpoint:
    """Serves `model` on 127.0.0.1:<port>/v1; every chat request is answered `delay_s` after it arrives."""

    def __init__(self, model: Model, delay_s: float = 0.5, port: int = 0):
        self.model, self.delay_s = model, delay_s
        self.lock = threading.Lock()
        self.requests = 0
        self._server = _Server(("127.0.0.1", port), self._handler())
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, payload: dict) -> None:
                body = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up
                    pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    return self._send(200, models(endpoint.model.name))
                self._send(404, error(f"no route {self.path}", "not_found"))

            def do_POST(self):
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, error(f"no route {self.path}", "not_found"))
                with endpoint.lock:
                    endpoint.requests += 1
                try:
                    req = msgspec.json.decode(body, type=ChatRequest)
                except (msgspec.DecodeError, msgspec.ValidationError) as e:
                    return self._send(400, error(f"bad request: {e}"))
                reply = endpoint.model.complete(req.to_model_request())  # the requested model name is ignored
                time.sleep(max(0.0, endpoint.delay_s - (time.monotonic() - arrived)))
                self._send(200, completion(reply, endpoint.model.name))

        return Handler

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def main() -> None:
    import argparse

    from actors.model.config import SimModelConfig
    from actors.model.server import build_model
    from cluster.config import resolve_suite
    from harnesses.tasks import load_suite

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="minimax")
    p.add_argument("--suite", default="core")
    p.add_argument("--delay", type=float, default=0.5)
    p.add_argument("--port", type=int, default=0)
    args = p.parse_args()
    tasks = load_suite(resolve_suite(args.suite)).split("all")
    endpoint = DelayedEndpoint(build_model(SimModelConfig(profile=args.profile), tasks), args.delay, args.port)
    print(endpoint.base_url, endpoint.model.name, flush=True)
    sys.stdin.read()  # the parent closing our stdin (or dying) ends the server
    endpoint.close()


if __name__ == "__main__":
    main()
