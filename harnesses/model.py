"""The `Model` protocol: what the agent loop, the miner and the proposer call.

Every backend (sim, openai, vllm) implements it. A request carries the whole
conversation, so a backend keeps no per-episode state and any replica can answer.
"""

from __future__ import annotations

import re
from typing import Literal, Protocol, runtime_checkable

import msgspec


class Message(msgspec.Struct, frozen=True):
    role: Literal["system", "user", "assistant"]
    content: str


class ModelRequest(msgspec.Struct, frozen=True, kw_only=True):
    messages: tuple[Message, ...]
    temperature: float = 0.7
    seed: int = 0
    max_tokens: int | None = None
    conversation_id: str = ""
    """Stable for all turns of one episode: routers use it to keep a conversation on one replica."""


class ModelReply(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_chars: int = 0
    """Length of a reasoning block (`<think>...</think>` or the endpoint's reasoning field) kept out of `text`."""
    events: tuple[str, ...] = ()
    """What it took to get this reply: retries and their causes, a cut of an oversize reply. Goes to the trace."""


class ModelError(RuntimeError):
    """The model could not answer (endpoint down, retries exhausted): not the agent's failure."""


@runtime_checkable
class Model(Protocol):
    name: str

    def complete(self, request: ModelRequest) -> ModelReply: ...


_THINK = re.compile(r"^\s*<think>.*?</think>\s*", re.DOTALL)


def strip_reasoning(text: str) -> tuple[str, int]:
    """Reasoning models (Qwen3, GLM-4.5, MiniMax-M2) may open a reply with a `<think>` block when the
    endpoint runs without a reasoning parser, or only close one their chat template opened; the answer
    is what follows it. Returns (answer, reasoning chars)."""
    m = _THINK.match(text)
    if m is not None:
        return text[m.end():], m.end()
    if "<think>" not in text and "</think>" in text:  # the chat template opened the block in the prompt
        end = text.index("</think>") + len("</think>")
        rest = text[end:].lstrip()
        return rest, len(text) - len(rest)
    return text, 0


def cut_reply(text: str, limit: int) -> tuple[str, str]:
    """An oversize reply keeps its head and tail (the JSON's start and end); returns (text, event or "")."""
    if len(text) <= limit:
        return text, ""
    half = limit // 2
    return (text[:half] + f"\n[... {len(text) - 2 * half} characters cut ...]\n" + text[-half:],
            f"reply cut from {len(text)} to {limit} characters")


def count_tokens(text: str) -> int:
    """A rough token count (4 characters a token) for backends that report none."""
    return max(1, len(text) // 4)
