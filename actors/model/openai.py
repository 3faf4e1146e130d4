"""Any OpenAI-compatible endpoint (vLLM, SGLang, LiteLLM, a hosted API, our Serve app) as a `Model`.

The official async SDK makes the calls; tenacity retries them, because an endpoint under a
run's load answers 429 and 5xx, times out, returns an HTML error page with status 200, or
goes away for a minute and comes back. Each retry and its cause is returned with the reply
(`ModelReply.events`) so the trace shows what the answer cost. Errors that retrying cannot
fix (400, 401, 404) and an outage longer than `outage_s` become a `ModelError`: the episode is
an infrastructure failure, never the agent's. The API key is read from the environment by
name and redacted from every message this module produces.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import threading
import time
from typing import Any

from actors.model.config import OpenAIModelConfig
from harnesses.model import (OVERFLOW_WORDS, ContextOverflow, ModelError, ModelReply, ModelRequest, count_tokens,
                             cut_reply, sampling_seed, strip_reasoning)

RETRY_AFTER_CAP_S = 120.0


class BadReply(Exception):
    """The endpoint answered, but not with a chat completion (HTML page, broken JSON, no choices)."""


def _openai():
    try:
        import openai
    except ImportError:
        raise ModelError("model.kind: openai needs the openai SDK: pip install openai tenacity") from None
    return openai


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms, retry-after as seconds or an HTTP date)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return float(headers["retry-after-ms"]) / 1000
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return float(value)
        except ValueError:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def describe(exc: BaseException) -> str:
    """One line for the trace: the cause of a failed call."""
    openai = _openai()
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.APIConnectionError):
        return "connection error"
    if isinstance(exc, openai.APIStatusError):
        after = retry_after(exc)
        return f"HTTP {exc.status_code}" + (f" (Retry-After {after:g}s)" if after is not None else "")
    if isinstance(exc, BadReply):
        return f"bad reply: {exc}"
    return f"{type(exc).__name__}: {exc}"


def overflow(exc: BaseException) -> str | None:
    """The server's words when it refused the prompt as longer than its context (a 400 or 413), else None."""
    openai = _openai()
    if not isinstance(exc, openai.APIStatusError) or exc.status_code not in (400, 413, 422):
        return None
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
    message = str(error.get("message") or body.get("message") or exc.message)
    if error.get("code") == "context_length_exceeded" or OVERFLOW_WORDS.search(message):
        return message
    return None


def retryable(exc: BaseException) -> bool:
    openai = _openai()
    if isinstance(exc, (openai.APIConnectionError, BadReply)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def is_outage(exc: BaseException) -> bool:
    """Refused connections: the endpoint is gone (restarting, rescheduled); worth waiting for."""
    openai = _openai()
    return isinstance(exc, openai.APIConnectionError) and not isinstance(exc, openai.APITimeoutError)


class OpenAIModel:
    """A `Model` over an OpenAI-compatible chat completions endpoint; thread-safe, bounded concurrency."""

    def __init__(self, config: OpenAIModelConfig):
        openai = _openai()
        self.config, self.name = config, config.model
        self._key = os.environ.get(config.api_key_env) if config.api_key_env else None
        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, name="openai-model", daemon=True).start()

        async def make():
            return (openai.AsyncOpenAI(base_url=config.base_url, api_key=self._key or "EMPTY",
                                       timeout=config.timeout_s, max_retries=0),
                    asyncio.Semaphore(config.concurrency))

        self._client, self._slots = asyncio.run_coroutine_threadsafe(make(), self._loop).result()

    def redact(self, text: str) -> str:
        return text.replace(self._key, "[redacted]") if self._key else text

    def complete(self, request: ModelRequest) -> ModelReply:
        return asyncio.run_coroutine_threadsafe(self.acomplete(request), self._loop).result()

    async def acomplete(self, request: ModelRequest) -> ModelReply:
        from tenacity import AsyncRetrying, RetryError, retry_if_exception

        events: list[str] = []
        cfg = self.config
        budget = {"failures": 0, "outage_since": None}  # an outage is timed, other failures are counted

        def stop(state) -> bool:
            exc = state.outcome.exception()
            if is_outage(exc):
                since = budget["outage_since"] = budget["outage_since"] or time.monotonic()
                return time.monotonic() - since >= cfg.outage_s
            budget["outage_since"] = None
            budget["failures"] += 1
            return budget["failures"] > cfg.max_retries

        def wait(state) -> float:
            exc = state.outcome.exception()
            after = retry_after(exc)
            if after is not None:
                return min(after, RETRY_AFTER_CAP_S)
            if is_outage(exc):
                return min(0.5 * 2 ** (state.attempt_number - 1), 10.0)
            return min(0.5 * 2 ** (budget["failures"] - 1), 8.0)

        def before_sleep(state) -> None:
            events.append(self.redact(f"attempt {state.attempt_number}: {describe(state.outcome.exception())}; "
                                      f"retrying in {state.next_action.sleep:.1f}s"))

        retrying = AsyncRetrying(retry=retry_if_exception(retryable), stop=stop, wait=wait,
                                 before_sleep=before_sleep, reraise=True)
        async with self._slots:
            try:
                async for attempt in retrying:
                    with attempt:
                        completion = await self._create(request)
                        return self._reply(completion, events)
            except (RetryError, Exception) as e:
                if isinstance(e, ModelError):
                    raise
                said = overflow(e)
                if said is not None:
                    raise ContextOverflow(self.redact(f"{self.config.base_url}: HTTP {e.status_code}: {said}"[:1000])) \
                        from None
                detail = self.redact(f"{describe(e)} after {len(events) + 1} attempt(s)")
                raise ModelError(f"{self.config.base_url}: {detail}") from None
        raise ModelError("unreachable")  # pragma: no cover

    async def _create(self, request: ModelRequest) -> Any:
        openai = _openai()
        kwargs: dict[str, Any] = dict(
            model=self.config.model, temperature=request.temperature, seed=sampling_seed(request),
            messages=[{"role": m.role, "content": m.content} for m in request.messages])
        max_tokens = request.max_tokens or self.config.max_tokens
        if max_tokens:
            kwargs["max_tokens"] = max_tokens
        if request.conversation_id:
            kwargs["prompt_cache_key"] = request.conversation_id  # routers keep a conversation on one replica
        if self.config.extra_body:
            kwargs["extra_body"] = dict(self.config.extra_body)
        try:
            completion = await self._client.chat.completions.create(**kwargs)
        except ValueError as e:  # the SDK decoding a body that says JSON and is not
            raise BadReply(f"unparseable body ({e})"[:200]) from None
        if isinstance(completion, str):  # the SDK hands back non-JSON bodies as text
            raise BadReply(f"not JSON: {completion[:80]!r}")
        if not getattr(completion, "choices", None):
            raise BadReply("no choices in the completion")
        return completion

    def _reply(self, completion: Any, events: list[str]) -> ModelReply:
        message = completion.choices[0].message
        text = message.content or ""
        extra = getattr(message, "model_extra", None) or {}
        reasoning = extra.get("reasoning_content") or extra.get("reasoning") or ""
        text, inline = strip_reasoning(text)
        if not text and completion.choices[0].finish_reason == "length":
            events.append("empty answer: the reply hit max_tokens")
        text, cut = cut_reply(text, self.config.max_reply_chars)
        if cut:
            events.append(cut)
        usage = completion.usage
        return ModelReply(
            text=text, model=self.name, reasoning_chars=len(reasoning) + inline, events=tuple(events),
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else count_tokens(text))

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._client.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
