"""The `llamacpp` model backend: llama-cpp-python's `Llama` on CPUs behind the `Model` protocol.

- `LlamaCppModel` is the sync `Model` on one `Llama` in this process: the GGUF's own chat template
  (llama-cpp-python reads it from the file), sampling from the request (temperature, and one seed per
  turn, which llama.cpp honours, so an episode replays), `max_tokens` and `top_p` from the config.
  One request at a time: a `Llama` holds one sequence. It keeps the conversation it last answered in its KV
  cache and reads only what is new; a conversation it set aside for another is kept (`prefix_cache_mb`,
  least recently used first out) and restored when it comes back.
  A new conversation always reads its prompt from scratch, never from another's shared prefix: llama.cpp's
  logits depend on how the tokens were batched (a prefix read in one batch gives other numbers than the same
  prefix read in two), so only this makes a reply a function of (conversation, seed), whatever else the
  replica ran before. The issue that asked for this backend measured it: the same request on a warm cache and
  on a cold one gave different replies.
- `LlamaCppReplica` is one model as an async Ray actor class; `cluster/llamacpp.py` starts `replicas` of
  them, each on its own CPU bundle, behind the router (router.py) that keeps a conversation on the replica
  holding its cache.

A conversation longer than `n_ctx` is a `ContextOverflow` with llama.cpp's own words: the agent's failure.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import OrderedDict
from pathlib import Path

from actors.model.config import LlamaCppModelConfig
from actors.model.gguf import EXTRA_HINT, resolve, served_name
from actors.model.replica_metrics import ReplicaMetrics
from actors.model.router import EngineStats, restarted
from harnesses.model import (OVERFLOW_WORDS, ContextOverflow, ModelError, ModelReply, ModelRequest, count_tokens,
                             sampling_seed, strip_reasoning)


def load_llama(config: LlamaCppModelConfig, path: Path):
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ModelError(f"model.kind llamacpp needs llama-cpp-python: {EXTRA_HINT}") from None
    # logits_all=False: the server's default keeps n_ctx x vocab floats (gigabytes) that sampling never reads
    llm = Llama(model_path=str(path), n_ctx=config.n_ctx, n_threads=config.n_threads,
                n_threads_batch=config.n_threads, n_batch=config.n_batch, logits_all=False, verbose=False)
    return llm


def size(state) -> int:
    """What a saved state holds in memory: the KV cache's bytes, the tokens and (once compacted, none) logits."""
    return int(state.llama_state_size) + state.input_ids.nbytes + state.scores.nbytes


def compact(state) -> None:
    """Drop the logits llama-cpp-python's save_state copies (n_batch x n_vocab floats: 311 MB for Qwen's
    vocabulary, 3 of every 4 bytes of a saved state), which generation never reads back (a restored prompt's
    last token is evaluated again); `expand` gives load_state the zeros of the same shape."""
    import numpy as np

    state.scores_shape = state.scores.shape
    state.scores = np.zeros((0, state.scores.shape[1]), dtype=state.scores.dtype)


def expand(state):
    import numpy as np

    rows, vocab = getattr(state, "scores_shape", state.scores.shape)
    state.scores = np.zeros((min(rows, state.n_tokens), vocab), dtype=state.scores.dtype)
    return state


class SetAside:
    """KV states of conversations a replica set aside for another, least recently used out first, in a budget."""

    def __init__(self, budget_bytes: int):
        self.budget, self.states = budget_bytes, OrderedDict()

    def put(self, conversation: str, state) -> None:
        self.states.pop(conversation, None)
        compact(state)
        if size(state) > self.budget:
            return
        self.states[conversation] = state
        while sum(size(s) for s in self.states.values()) > self.budget:
            self.states.popitem(last=False)

    def take(self, conversation: str):
        return self.states.pop(conversation, None)


class LlamaCppModel:
    """A `Model` on one llama.cpp instance; thread-safe by serialising requests (one sequence at a time)."""

    def __init__(self, config: LlamaCppModelConfig):
        self.config, self.name = config, served_name(config)
        self.path = resolve(config.gguf, config.cache_dir)
        self.llm = load_llama(config, self.path)
        self.counters = EngineStats()
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._reused = 0
        self.holder = ""
        """The conversation whose tokens the KV cache holds."""
        self.aside = SetAside(config.prefix_cache_mb << 20)
        self.restored = 0
        generate = self.llm.generate

        def measured(tokens, *args, **kwargs):
            """What llama.cpp keeps of the last sequence: the prefix it will not evaluate again."""
            from llama_cpp import Llama

            held = self.llm._input_ids[: self.llm.n_tokens].tolist()
            self._reused = Llama.longest_token_prefix(held, tokens[:-1]) if held else 0
            return generate(tokens, *args, **kwargs)

        self.llm.generate = measured  # create_completion calls self.generate: the one place it is visible

    def complete(self, request: ModelRequest) -> ModelReply:
        c = self.counters
        with self._lock:
            c.requests += 1
            c.in_flight += 1
            start = time.monotonic()
            self._reused = 0
            try:
                self._hold(request.conversation_id)
                out = self.llm.create_chat_completion(
                    messages=[{"role": m.role, "content": m.content} for m in request.messages],
                    temperature=request.temperature, top_p=self.config.top_p, seed=sampling_seed(request),
                    max_tokens=request.max_tokens or self.config.max_tokens)
            except ValueError as e:
                c.errors += 1
                if OVERFLOW_WORDS.search(str(e)):
                    raise ContextOverflow(f"llama.cpp: {e}") from None
                raise ModelError(f"llama.cpp: {e}") from None
            except Exception as e:
                c.errors += 1
                raise ModelError(f"llama.cpp: {type(e).__name__}: {e}") from None
            finally:
                c.in_flight -= 1
            elapsed = time.monotonic() - start
            reused = self._reused
        choice = out["choices"][0]
        text, reasoning = strip_reasoning(choice["message"].get("content") or "")
        usage = out.get("usage") or {}
        prompt = usage.get("prompt_tokens", 0)
        events = ("reply stopped at max_tokens",) if choice.get("finish_reason") == "length" else ()
        reply = ModelReply(text=text, model=self.name, seeded=True, prompt_tokens=prompt,
                           reasoning_chars=reasoning,
                           completion_tokens=usage.get("completion_tokens", count_tokens(text)),
                           cached_tokens=min(reused, prompt), events=events)
        c.prompt_tokens += reply.prompt_tokens
        c.completion_tokens += reply.completion_tokens
        c.cached_prompt_tokens += reply.cached_tokens
        c.latency_s += elapsed
        return reply

    def _hold(self, conversation: str) -> None:
        """Make the KV cache this conversation's: as it left it, or empty for a new one (see the module)."""
        if conversation and conversation == self.holder:
            return
        if self.holder and self.aside.budget:
            self.aside.put(self.holder, self.llm.save_state())
        state = self.aside.take(conversation) if conversation else None
        if state is not None:
            self.llm.load_state(expand(state))
            self.restored += 1
        else:
            self.llm.reset()
        self.holder = conversation

    def stats(self) -> dict:
        import msgspec

        up = time.monotonic() - self.started
        return {**msgspec.to_builtins(self.counters), "uptime_s": round(up, 3),
                "busy": round(self.counters.latency_s / up, 4) if up > 0 else 0.0, "gguf": str(self.path),
                "restored": self.restored, "set_aside": len(self.aside.states),
                "n_ctx": self.config.n_ctx, "n_threads": self.config.n_threads}

    def close(self) -> None:
        self.llm.close()


class LlamaCppReplica:
    """One llama.cpp model as an async Ray actor, on its placement group's CPU bundle.

    The model loads on first use (`start`, a health check or a request), so after Ray restarts the actor
    the router's next health check loads it again. Generation runs in a thread, so health checks and
    stats answer while a reply is being written."""

    def __init__(self, config: LlamaCppModelConfig, index: int):
        self.config, self.index = config, index
        self.core: LlamaCppModel | None = None
        self._lock = asyncio.Lock()
        self.reconstructed = restarted()
        self.metrics = ReplicaMetrics("llamacpp", served_name(config), index)

    async def _model(self) -> LlamaCppModel:
        if self.core is None:
            async with self._lock:
                if self.core is None:
                    self.core = await asyncio.to_thread(LlamaCppModel, self.config)
        return self.core

    async def start(self) -> dict:
        await self._model()
        return await self.stats()

    async def complete(self, request: ModelRequest) -> ModelReply:
        core = await self._model()
        return await self.metrics.observe(asyncio.to_thread(core.complete, request), lambda: core.counters.in_flight)

    async def health(self) -> bool:
        await self._model()
        return True

    async def stats(self) -> dict:
        out = {"replica": self.index, "pid": os.getpid(), "reconstructed": self.reconstructed}
        if self.core is not None:
            out.update(self.core.stats())
        return out

    async def shutdown(self) -> None:
        if self.core is not None:
            self.core.close()
            self.core = None
