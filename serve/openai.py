"""An OpenAI-compatible endpoint on Ray Serve: `/v1/models` and `/v1/chat/completions` (non-streaming).

`build_app` validates a plain dict and returns the Serve application, so it works from
Python (`serve.run(build_app({...}))`), from `selfharness serve`, and from a Serve config
file (`import_path: serve.openai:build_app` with the dict under `args`). Behind the HTTP
ingress sit `replicas` model deployments, each holding one backend built by the same
`build_model` the loop uses: the sim, an OpenAI-compatible upstream, or vLLM on GPUs.
"""


import asyncio
import hmac
import os
from typing import Any

import msgspec
from fastapi import FastAPI, Header, Request
from ray import serve
from starlette.responses import Response

from actors.model.config import ModelConfig, SimModelConfig, VLLMModelConfig
from cluster.config import ConfigError
from harnesses.model import ModelError, ModelReply
from serve.wire import ChatRequest, completion, error, models


class ServeConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    model: ModelConfig = SimModelConfig()
    suite: str = "core"
    """The tasks the sim plays (a real model ignores it)."""
    served_model_name: str | None = None
    """The name clients ask for (default: the backend's own name)."""
    replicas: int = 1
    max_ongoing_requests: int = 64
    """Per model replica; Serve queues the rest."""
    api_key_env: str | None = None
    """When set, requests must carry `Authorization: Bearer <the value of this variable>`."""

    def __post_init__(self) -> None:
        if self.replicas < 1 or self.max_ongoing_requests < 1:
            raise ValueError("replicas and max_ongoing_requests: must be at least 1")


def parse_config(args: dict[str, Any] | ServeConfig) -> ServeConfig:
    if isinstance(args, ServeConfig):
        return args
    try:
        return msgspec.convert(args or {}, ServeConfig)
    except (msgspec.ValidationError, ValueError) as e:
        raise ConfigError(f"serve config: {e}") from None


def _tasks(config: ServeConfig):
    if not isinstance(config.model, SimModelConfig):
        return []
    from cluster.config import resolve_suite
    from harnesses.tasks import load_suite

    return list(load_suite(resolve_suite(config.suite)).tasks.values())


class ChatModel:
    """One model replica: a backend behind the `Model` protocol, called off the event loop."""

    def __init__(self, config: ServeConfig):
        from actors.model.server import build_model

        self.model = build_model(config.model, _tasks(config))

    def name(self) -> str:
        return self.model.name

    async def complete(self, request) -> ModelReply:
        return await asyncio.to_thread(self.model.complete, request)


def _json(body: dict, status: int = 200) -> Response:
    return Response(msgspec.json.encode(body), status_code=status, media_type="application/json")


def _param(e: Exception) -> str | None:
    text = str(e)
    return text.split("`$.", 1)[1].rstrip("`") if "`$." in text else None


api = FastAPI(title="self-harness", docs_url=None, redoc_url=None)


@serve.deployment
@serve.ingress(api)
class OpenAIIngress:
    """The HTTP face: auth, request validation, OpenAI-shaped answers and errors."""

    def __init__(self, model_handle, config: ServeConfig, name: str):
        self.model, self.name = model_handle, name
        self.key = os.environ.get(config.api_key_env, "") if config.api_key_env else None
        if config.api_key_env and not self.key:
            raise ConfigError(f"serve config: api_key_env: {config.api_key_env} is not set in the environment")

    def authorised(self, header: str | None) -> bool:
        if self.key is None:
            return True
        return hmac.compare_digest((header or "").removeprefix("Bearer ").strip(), self.key)

    @api.get("/v1/models")
    async def list_models(self, authorization: str | None = Header(default=None)):
        if not self.authorised(authorization):
            return _json(error("invalid API key", "authentication_error", code="invalid_api_key"), 401)
        return _json(models(self.name))

    @api.post("/v1/chat/completions")
    async def chat(self, request: Request, authorization: str | None = Header(default=None)):
        if not self.authorised(authorization):
            return _json(error("invalid API key", "authentication_error", code="invalid_api_key"), 401)
        try:
            req = msgspec.json.decode(await request.body(), type=ChatRequest)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:
            return _json(error(f"invalid request: {e}", param=_param(e)), 400)
        if req.model != self.name:
            return _json(error(f"the model {req.model!r} does not exist; this endpoint serves {self.name!r}",
                               code="model_not_found", param="model"), 404)
        if req.stream or req.n != 1:
            return _json(error("only non-streaming requests with n=1 are served", param="stream"), 400)
        try:
            reply = await self.model.complete.remote(req.to_model_request())
        except ModelError as e:
            return _json(error(f"the model could not answer: {e}", "server_error"), 502)
        except Exception as e:  # a replica crashed: Serve restarts it, the client retries
            return _json(error(f"model replica failed: {type(e).__name__}", "server_error"), 500)
        return _json(completion(reply, self.name))


LIGHT_CPUS = 0.25
"""Ray CPU the ingress and a sim or proxy model replica reserve: they wait on I/O (Serve's default of 1 each
would take a laptop's every CPU from the rollout workers' sandboxes)."""


def build_app(args: dict[str, Any] | ServeConfig):
    """Validate the config, return the Serve application (an ingress bound to the model replicas)."""
    config = parse_config(args)
    options: dict[str, Any] = dict(num_replicas=config.replicas, max_ongoing_requests=config.max_ongoing_requests,
                                   ray_actor_options={"num_cpus": LIGHT_CPUS})
    if isinstance(config.model, VLLMModelConfig):
        tp = config.model.tensor_parallel_size
        options |= dict(ray_actor_options={"num_gpus": 1, "num_cpus": 1},
                        placement_group_bundles=[{"GPU": 1, "CPU": 1}] * tp, placement_group_strategy="STRICT_PACK")
    model = serve.deployment(ChatModel, name="ChatModel").options(**options).bind(config)
    return OpenAIIngress.options(ray_actor_options={"num_cpus": LIGHT_CPUS}).bind(model, config, served_name(config))


def served_name(config: ServeConfig) -> str:
    if config.served_model_name:
        return config.served_model_name
    m = config.model
    if isinstance(m, SimModelConfig):
        from actors.model.sim import load_profile

        return f"sim/{load_profile(m.profile).name}"  # the name the in-process sim gives its traces
    return m.served_model_name or m.model if isinstance(m, VLLMModelConfig) else m.model


def run(args: dict[str, Any] | ServeConfig, *, host: str = "127.0.0.1", port: int = 8000, name: str = "openai"):
    """Start Serve on host:port (joining or starting Ray) and deploy the app; returns the base URL."""
    from cluster.ray_init import init_ray

    init_ray()
    serve.start(http_options={"host": host, "port": port})
    serve.run(build_app(args), name=name, route_prefix="/")
    return f"http://{host}:{port}/v1"
