"""The OpenAI chat completions wire format, as much of it as a harness needs, in msgspec types.

Requests are decoded strictly where it matters (messages, numbers) and leniently elsewhere:
unknown fields (tools, logprobs, user...) are ignored, as OpenAI-compatible servers do.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

import msgspec

from harnesses.model import Message, ModelReply, ModelRequest


class ContentPart(msgspec.Struct, kw_only=True):
    type: str
    text: str = ""


class ChatMessage(msgspec.Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[ContentPart] | None = None


class ChatRequest(msgspec.Struct, kw_only=True):
    model: str
    messages: list[ChatMessage]
    temperature: float | None = None
    seed: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    prompt_cache_key: str | None = None
    """OpenAI's cache-routing key; our clients put the episode's conversation id here."""
    user: str | None = None
    stream: bool = False
    n: int = 1

    def to_model_request(self) -> ModelRequest:
        messages = []
        for m in self.messages:
            text = m.content if isinstance(m.content, str) else "".join(p.text for p in m.content or []
                                                                         if p.type == "text")
            messages.append(Message("system" if m.role == "developer" else m.role, text))
        return ModelRequest(messages=tuple(messages), temperature=1.0 if self.temperature is None else self.temperature,
                            seed=self.seed or 0, max_tokens=self.max_completion_tokens or self.max_tokens,
                            conversation_id=self.prompt_cache_key or self.user or "")


def completion(reply: ModelReply, model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}", "object": "chat.completion", "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                  "total_tokens": reply.prompt_tokens + reply.completion_tokens},
    }


def error(message: str, type_: str = "invalid_request_error", *, param: str | None = None,
          code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def models(name: str) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "self-harness"}]}
