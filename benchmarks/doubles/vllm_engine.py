"""A double of vLLM's v1 async engine (`AsyncLLM`), for the machines without a GPU.

It follows the contract the backend relies on, as vLLM 0.33 has it: `generate(prompt,
sampling_params, request_id)` is an async generator of RequestOutputs whose
`outputs[0].text` / `token_ids` are cumulative (or deltas, or only the final one, as
`sampling_params.output_kind` says) and whose last one has `finished=True`; a duplicate
running request id, an empty prompt and a prompt that fills the context are refused; a
closed or cancelled generator aborts its request; once the engine is dead every call raises
EngineDeadError and `errored` stays true. Its tokenizer has a ChatML chat template.

What it answers is deterministic: a Terminus-style JSON action that lists /app on the
first turn and declares the task complete on the next, optionally after a `<think>` block.
A test can make the next request fail, make the engine slow, or kill it.
"""

from __future__ import annotations

import asyncio
import json
import re
import zlib
from enum import Enum

import msgspec


class RequestOutputKind(Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


class SamplingParamsDouble(msgspec.Struct, kw_only=True):
    """The fields of vllm.SamplingParams the backend sets (a msgspec Struct there too: unknown keywords fail)."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    max_tokens: int | None = 16
    output_kind: RequestOutputKind = RequestOutputKind.CUMULATIVE

    def __post_init__(self) -> None:
        if self.n != 1:
            raise ValueError(f"n must be 1 here, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}")


class CompletionOutputDouble(msgspec.Struct):
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None = None
    logprobs: None = None
    finish_reason: str | None = None
    stop_reason: int | str | None = None


class RequestOutputDouble(msgspec.Struct):
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int] | None
    prompt_logprobs: None
    outputs: list[CompletionOutputDouble]
    finished: bool
    num_cached_tokens: int | None = None


class EngineDeadErrorDouble(Exception):
    """vLLM's EngineDeadError: the EngineCore is gone, the engine will not serve again."""

    def __init__(self, *args):
        super().__init__("EngineCore encountered an issue. See stack trace (above) for the root cause.", *args)


class TemplateErrorDouble(Exception):
    """What jinja raises from a chat template that refuses a message (e.g. a system role)."""


_SPECIAL = {"<s>": 1, "</s>": 2, "<|im_start|>": 3, "<|im_end|>": 4}
_TOKEN = re.compile(r"<\|im_start\|>|<\|im_end\|>|\w+|\s+|[^\w\s]")


class TokenizerDouble:
    """A Hugging Face tokenizer's chat-template and encode/decode surface, ChatML like Qwen's."""

    bos_token_id = 1
    eos_token_id = 2

    def __init__(self, system_role: bool = True):
        self.system_role = system_role
        self._vocab: dict[int, str] = {v: k for k, v in _SPECIAL.items()}

    def apply_chat_template(self, conversation, tokenize: bool = True, add_generation_prompt: bool = False,
                            **kwargs):
        parts = []
        for m in conversation:
            if m["role"] not in ("system", "user", "assistant"):
                raise TemplateErrorDouble(f"unknown role {m['role']!r}")
            if m["role"] == "system" and not self.system_role:
                raise TemplateErrorDouble("System role not supported")
            parts.append(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n")
        if add_generation_prompt:
            parts.append("<|im_start|>assistant\n")
        text = "".join(parts)
        return self.encode(text, add_special_tokens=False) if tokenize else text

    def tokens(self, text: str) -> list[str]:
        return _TOKEN.findall(text)

    def token_id(self, piece: str) -> int:
        tid = _SPECIAL.get(piece) or 100 + zlib.crc32(piece.encode()) % 100_000
        self._vocab[tid] = piece
        return tid

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        ids = [self.token_id(p) for p in self.tokens(text)]
        return [self.bos_token_id] + ids if add_special_tokens else ids

    def decode(self, ids) -> str:
        return "".join(self._vocab.get(i, "") for i in ids)


def terminus_reply(prompt_text: str, think: bool = False) -> str:
    """Turn 1: look around; turn 2 on: done. The turn is read from the prompt, as a model would."""
    turn = prompt_text.count("<|im_start|>assistant") - 1
    if turn <= 0:
        action = {"analysis": "Nothing has run yet; the task's files are under /app.",
                  "plan": "List /app to see what is there.",
                  "commands": [{"keystrokes": "ls -la /app\n", "duration": 0.1}], "task_complete": False}
    else:
        action = {"analysis": "The listing is in; the work is done.", "plan": "Declare completion.",
                  "commands": [], "task_complete": True}
    text = json.dumps(action)
    return f"<think>Turn {turn}: decide the next step.</think>\n{text}" if think else text


class AsyncLLMDouble:
    """Stands in for vllm.v1.engine.async_llm.AsyncLLM."""

    def __init__(self, model: str = "double", max_model_len: int = 32_768, delay_s: float = 0.0,
                 think: bool = False, system_role: bool = True):
        self.model, self.max_model_len, self.delay_s, self.think = model, max_model_len, delay_s, think
        self.tokenizer = TokenizerDouble(system_role)
        self.requests: list[dict] = []
        """Every request accepted: id, prompt, sampling params."""
        self.running: set[str] = set()
        self.aborted: list[str] = []
        self._dead = False
        self._stopped = False
        self._fail_next: list[BaseException] = []
        self._cached: set[tuple[int, ...]] = set()

    # -- what a test does to it ---------------------------------------------------------------

    def fail_next(self, exc: BaseException) -> None:
        """The next generate raises `exc` (like EngineGenerateError, or a validation error)."""
        self._fail_next.append(exc)

    def die(self) -> None:
        """The EngineCore process is gone: running requests and every later call raise EngineDeadError."""
        self._dead = True

    # -- vLLM's surface ----------------------------------------------------------------------

    @property
    def errored(self) -> bool:
        return self._dead or self._stopped

    @property
    def is_running(self) -> bool:
        return not self.errored

    @property
    def dead_error(self) -> BaseException:
        return EngineDeadErrorDouble()

    def get_tokenizer(self) -> TokenizerDouble:
        return self.tokenizer

    async def check_health(self) -> None:
        if self.errored:
            raise self.dead_error

    async def abort(self, request_id, internal: bool = False) -> None:
        ids = [request_id] if isinstance(request_id, str) else list(request_id)
        for rid in ids:
            if rid in self.running:
                self.running.discard(rid)
                self.aborted.append(rid)

    def shutdown(self, timeout: float | None = None) -> None:
        self._stopped = True

    def _prompt(self, prompt) -> tuple[list[int], str]:
        if isinstance(prompt, str):
            return self.tokenizer.encode(prompt), prompt
        if "prompt_token_ids" in prompt:
            ids = list(prompt["prompt_token_ids"])
            return ids, prompt.get("prompt") or self.tokenizer.decode(ids)
        return self.tokenizer.encode(prompt["prompt"]), prompt["prompt"]

    def _cached_tokens(self, ids: list[int]) -> int:
        """Prefix caching, coarsely: the longest earlier prompt that this one starts with."""
        best = max((len(p) for p in self._cached if len(p) <= len(ids) and tuple(ids[:len(p)]) == p), default=0)
        self._cached.add(tuple(ids))
        return best

    async def generate(self, prompt, sampling_params, request_id: str, **kwargs):
        if self.errored:
            raise self.dead_error
        if request_id in self.running:
            raise ValueError(f"Request id {request_id} already running.")
        ids, text = self._prompt(prompt)
        if not ids:
            raise ValueError("The decoder prompt cannot be empty")
        if len(ids) >= self.max_model_len:
            raise ValueError(f"The decoder prompt (length {len(ids)}) is longer than the maximum model length "
                             f"of {self.max_model_len}.")
        if self._fail_next:
            raise self._fail_next.pop(0)
        self.requests.append({"request_id": request_id, "prompt": text, "prompt_token_ids": ids,
                              "sampling_params": sampling_params})
        cached = self._cached_tokens(ids)
        pieces = self.tokenizer.tokens(terminus_reply(text, self.think))
        limit = min(sampling_params.max_tokens or self.max_model_len, self.max_model_len - len(ids))
        finish = "length" if len(pieces) > limit else "stop"
        pieces = pieces[:limit]
        kind = sampling_params.output_kind
        self.running.add(request_id)
        out_text, out_ids = "", []
        try:
            for i, piece in enumerate(pieces):
                await asyncio.sleep(self.delay_s)
                if self.errored:
                    raise self.dead_error
                if request_id not in self.running:  # aborted
                    return
                tid = self.tokenizer.token_id(piece)
                out_text += piece
                out_ids.append(tid)
                last = i == len(pieces) - 1
                if kind is RequestOutputKind.FINAL_ONLY and not last:
                    continue
                text_now, ids_now = (piece, [tid]) if kind is RequestOutputKind.DELTA else (out_text, list(out_ids))
                yield RequestOutputDouble(
                    request_id=request_id, prompt=text, prompt_token_ids=ids, prompt_logprobs=None,
                    outputs=[CompletionOutputDouble(index=0, text=text_now, token_ids=ids_now,
                                                    finish_reason=finish if last else None)],
                    finished=last, num_cached_tokens=cached)
        except (asyncio.CancelledError, GeneratorExit):
            await self.abort(request_id, internal=True)
            raise
        finally:
            self.running.discard(request_id)


class EngineDoubleFactory:
    """An `EngineFactory` of doubles; picklable, so Ray replicas build their own in their process."""

    def __init__(self, delay_s: float = 0.0, think: bool = False, system_role: bool = True,
                 output_kind: RequestOutputKind = RequestOutputKind.CUMULATIVE):
        self.delay_s, self.think, self.system_role, self.output_kind = delay_s, think, system_role, output_kind
        self.engines: list[AsyncLLMDouble] = []

    def __getstate__(self):
        state = dict(self.__dict__)
        state["engines"] = []  # engines stay in the process that built them
        return state

    def engine(self, config) -> AsyncLLMDouble:
        engine = AsyncLLMDouble(config.model, config.max_model_len or 32_768, self.delay_s, self.think,
                                self.system_role)
        self.engines.append(engine)
        return engine

    def sampling_params(self, **kwargs) -> SamplingParamsDouble:
        return SamplingParamsDouble(**kwargs, output_kind=self.output_kind)
