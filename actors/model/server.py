"""ModelServer: one model backend behind the `Model` protocol, as a Ray actor.

The agent loops in rollout workers call it through `RemoteModel`; a request carries the
whole conversation, so the server holds no per-episode state.
"""

from __future__ import annotations

import threading
import time

from actors import metrics
from actors.model.config import LlamaCppModelConfig, ModelConfig, OpenAIModelConfig, SimModelConfig, VLLMModelConfig
from harnesses.model import Model, ModelError, ModelReply, ModelRequest, relayed
from harnesses.tasks import Task


def build_model(config: ModelConfig, tasks: list[Task]) -> Model:
    """The backend a config selects; heavy SDKs are imported only when chosen."""
    if isinstance(config, SimModelConfig):
        from actors.model.sim import SimModel, load_profile

        return SimModel(load_profile(config.profile), tasks)
    if isinstance(config, OpenAIModelConfig):
        from actors.model.openai import OpenAIModel

        return OpenAIModel(config)
    if isinstance(config, VLLMModelConfig):
        from actors.model.vllm import VLLMModel

        return VLLMModel(config)  # in this process; on Ray, compose starts `start_vllm` instead
    if isinstance(config, LlamaCppModelConfig):
        from actors.model.llamacpp import LlamaCppModel

        return LlamaCppModel(config)  # in this process; on Ray, compose starts `start_llamacpp` instead
    raise ValueError(f"model.kind: unsupported backend {type(config).__name__}")


class ModelServer:
    """Serves one backend; made a (threaded) Ray actor at the composition root."""

    def __init__(self, config: ModelConfig, tasks: list[Task]):
        self.model = build_model(config, tasks)
        self.name = self.model.name
        self._lock = threading.Lock()
        self.requests = 0

    def complete(self, request: ModelRequest) -> ModelReply:
        with self._lock:
            self.requests += 1
        start = time.monotonic()
        try:
            reply = self.model.complete(request)
        except Exception:
            metrics.record_model_request(self.name, time.monotonic() - start, None)
            raise
        metrics.record_model_request(self.name, time.monotonic() - start, reply)
        return reply

    def stats(self) -> dict:
        return {"model": self.name, "requests": self.requests}


class RemoteModel:
    """A `Model` that forwards to a ModelServer actor handle."""

    def __init__(self, handle, name: str):
        self.handle, self.name = handle, name

    def complete(self, request: ModelRequest) -> ModelReply:
        import ray

        try:
            return ray.get(self.handle.complete.remote(request))
        except ray.exceptions.RayTaskError as e:  # the server's ModelError, without Ray's traceback
            cause = getattr(e, "cause", None)
            if isinstance(cause, ModelError):
                raise relayed(cause) from None
            raise ModelError(f"model server: {type(cause or e).__name__}: {cause or e}"[:500]) from None
        except ray.exceptions.RayActorError as e:
            raise ModelError(f"model server died: {type(e).__name__}") from None
