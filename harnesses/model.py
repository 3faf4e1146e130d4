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
    turn: int = 0
    """The turn of the episode this request is; with `seed` it makes the sampler's seed (`sampling_seed`)."""


SEED_STRIDE = 0x61C8_8647
"""Odd, about 2**31 times the golden ratio's fraction: consecutive turns' seeds land far apart."""


def sampling_seed(request: ModelRequest) -> int:
    """The seed a backend's sampler gets: one per (episode seed, turn), so the turn after a parse error is a
    new draw rather than the same reply again, and a rerun of the episode draws the same. Turn 0 keeps the
    episode's seed; 31 bits, which every API takes."""
    return (request.seed + request.turn * SEED_STRIDE) % 2**31


def episode_seed(request: ModelRequest, turn: int) -> int:
    """The episode's seed from a request at `turn` of its conversation, whether the request carries the
    episode's seed and turn (in process) or only a sampling seed (over an OpenAI API, which has no turn):
    what a simulated model that replays a whole episode from one seed needs."""
    return (request.seed - (turn - request.turn) * SEED_STRIDE) % 2**31


class ModelReply(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seeded: bool = False
    """The backend gave the request's seed to a sampler that honours it (see `Trace.seeded`)."""
    cached_tokens: int = 0
    """Prompt tokens the engine did not evaluate again (its prefix cache held them); 0 when it does not say."""
    reasoning_chars: int = 0
    """Length of a reasoning block (`<think>...</think>` or the endpoint's reasoning field) kept out of `text`."""
    events: tuple[str, ...] = ()
    """What it took to get this reply: retries and their causes, a cut of an oversize reply. Goes to the trace."""


class ModelError(RuntimeError):
    """The model could not answer (endpoint down, retries exhausted): not the agent's failure."""


class ContextOverflow(ModelError):
    """The conversation no longer fits the model's context window: the agent's failure (its outputs and turns
    filled it), not the infrastructure's. The message is the server's own."""


def relayed(cause: ModelError) -> ModelError:
    """A ModelError that crossed a process boundary, as its kind (the agent ends an overflow differently),
    without the remote traceback."""
    return (ContextOverflow if isinstance(cause, ContextOverflow) else ModelError)(str(cause))


OVERFLOW_WORDS = re.compile(r"context_length_exceeded|context (?:length|window|size)|maximum context|"
                            r"exceed\w* (?:the )?(?:context|max(?:imum)?_?model_?len)|too many tokens|"
                            r"prompt is too long|tokens exceed|longer than the maximum model length", re.IGNORECASE)
"""How OpenAI, vLLM, SGLang and llama.cpp servers say a prompt is longer than the context."""


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
