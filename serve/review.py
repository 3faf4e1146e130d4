"""The review app on Ray Serve: a web page and JSON API over run directories, and verdicts.

`build_app` validates a plain dict and returns the Serve application, like serve/openai.py,
so it works from Python, from `selfharness review` and from a Serve config file
(`import_path: serve.review:build_app`). The token that writes need comes from an
environment variable or from a file only its owner can read; it is never logged, never
written to the run directory, and compared in constant time.
"""

import os
import stat
from pathlib import Path
from typing import Any

import msgspec
from ray import serve

from cluster.config import ConfigError
from serve.review_api import create_app, is_loopback
from serve.run_paths import NotFound, RunsRoot

MIN_TOKEN = 16


class ReviewConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    runs: str
    """A run directory (serve just it) or a directory of run directories."""
    host: str = "127.0.0.1"
    """Where the HTTP proxy listens. Reads are open only on loopback; elsewhere they need the token too."""
    token_env: str | None = None
    """The environment variable that holds the token writes need."""
    token_file: str | None = None
    """A file holding the token; it must be readable by its owner only (chmod 600)."""

    def __post_init__(self) -> None:
        if self.token_env and self.token_file:
            raise ValueError("token_env and token_file: give one, not both")


def parse_config(args: dict[str, Any] | ReviewConfig) -> ReviewConfig:
    if isinstance(args, ReviewConfig):
        return args
    try:
        return msgspec.convert(args or {}, ReviewConfig)
    except (msgspec.ValidationError, ValueError) as e:
        raise ConfigError(f"review config: {e}") from None


def load_token(config: ReviewConfig) -> str | None:
    """The token, or None when none is configured (then writes are refused)."""
    if config.token_file:
        path = Path(config.token_file)
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"review config: token_file: {path} has mode {stat.S_IMODE(mode):o}; "
                                  f"it must be readable by its owner only (chmod 600 {path})")
            token = path.read_text().strip()
        except OSError as e:
            raise ConfigError(f"review config: token_file: {path}: {e.strerror}") from None
        source = f"token_file {path}"
    elif config.token_env:
        token = os.environ.get(config.token_env, "").strip()
        source = f"token_env {config.token_env}"
        if not token:
            raise ConfigError(f"review config: token_env: {config.token_env} is not set in the environment")
    else:
        return None
    if len(token) < MIN_TOKEN:
        raise ConfigError(f"review config: {source}: the token is shorter than {MIN_TOKEN} characters")
    return token


def check(config: ReviewConfig) -> tuple[RunsRoot, str | None]:
    """Everything the app needs, validated: the runs it serves and the token."""
    token = load_token(config)
    if token is None and not is_loopback(config.host):
        raise ConfigError(f"review config: host {config.host} is not loopback: reads and writes need a token "
                          "(token_env or token_file)")
    try:
        root = RunsRoot.for_path(config.runs)
    except NotFound as e:
        raise ConfigError(f"review config: runs: {e}") from None
    return root, token


@serve.deployment(max_ongoing_requests=32, ray_actor_options={"num_cpus": 0.25})  # I/O-bound: leave CPUs to sandboxes
@serve.ingress()
class ReviewIngress:
    """One replica of the review app; it reads the token itself (it never travels through Ray)."""

    def __init__(self, config: ReviewConfig):
        self.root, self.token = check(config)
        self.open_reads = is_loopback(config.host)

    def __serve_build_asgi_app__(self):
        return create_app(self.root, self.token, self.open_reads)


def build_app(args: dict[str, Any] | ReviewConfig):
    """Validate the config, return the Serve application."""
    config = parse_config(args)
    check(config)  # fail here, with the message, rather than in a replica
    return ReviewIngress.bind(config)


def run(args: dict[str, Any] | ReviewConfig, *, port: int = 8100, name: str = "review") -> str:
    """Start Serve on the config's host and `port` (joining or starting Ray), deploy the app; the page's URL."""
    from cluster.ray_init import init_ray

    config = parse_config(args)
    app = build_app(config)
    init_ray()
    serve.start(http_options={"host": config.host, "port": port})
    serve.run(app, name=name, route_prefix="/")
    host = f"[{config.host}]" if ":" in config.host else config.host
    return f"http://{host}:{port}/"
