"""An asynchronous chat client for any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama,
llama.cpp's server), with the search's needs built in: bounded concurrency, retries with
backoff, token accounting and a token budget.

The API key is read, at the moment a request is sent, from the variable named in
`LLMConfig.api_key_env`: first from this process's key store (`remember_key`, in
backends/run/environment.py: kf's fronts
move key variables out of the environment at start, so that no child process, least of
all an evaluation worker running generated code, inherits them), else from the
environment; a dummy "sk-none" when neither has it, for local servers. It is never stored
on this object, logged, or put in an exception message: it is added to the request by an
httpx auth hook and any echo of it in a server's error text is blanked.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Sequence

import httpx2

if TYPE_CHECKING:
    import openai

from backends.run.environment import key_of, known_keys, remember_key

from .records import LLMConfig

__all__ = ["LLMClient", "LLMError", "Reply", "TokenBudgetExceeded", "estimate_tokens", "remember_key", "key_of",
           "known_keys"]

log = logging.getLogger("kf.llm")

DUMMY_KEY = "sk-none"
RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
MAX_BACKOFF_S = 30.0
MAX_RETRY_AFTER_S = 120.0


class LLMError(Exception):
    """The endpoint could not give a reply (after retries, or at once for 400/401/404).
    The message is one line and never holds the API key."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class TokenBudgetExceeded(LLMError):
    """The next call cannot fit in what is left of the token budget (nothing was sent)."""


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None  # "stop", "length", ... (None when the server gave none)
    estimated: bool = False  # the counts were estimated from text (no `usage` in the reply)
    seconds: float = 0.0
    attempts: int = 1

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


def estimate_tokens(text: str) -> int:
    """A rough count for text with no `usage`: ~4 characters a token for English and code."""
    return max(1, (len(text) + 3) // 4) if text else 0


def _messages_tokens(messages: Sequence[dict[str, Any]]) -> int:
    return sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in messages) + 2


class _EnvKeyAuth(httpx2.Auth):
    """Adds `Authorization: Bearer <key>` at send time, reading the key from the environment."""

    def __init__(self, env: str):
        self.env = env

    def auth_flow(self, request):  # type: ignore[override]
        request.headers["Authorization"] = f"Bearer {key_of(self.env) or DUMMY_KEY}"
        yield request

    def __repr__(self) -> str:
        return f"_EnvKeyAuth(env={self.env!r})"


_KEYLIKE = re.compile(r"\b(sk|key|token)-[A-Za-z0-9_\-*.]{6,}", re.I)


class LLMClient:
    """`await client.chat(messages)` -> Reply. One client per search; safe to share between
    tasks of one event loop."""

    def __init__(self, config: LLMConfig, *, sleep: Callable[[float], Awaitable[None]] | None = None,
                 seed: int | None = None):
        if not config.base_url:
            raise LLMError("no LLM endpoint configured (llm.base_url is empty)")
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self._sleep = sleep or asyncio.sleep
        self._rng = random.Random(seed)
        self._semaphore = asyncio.Semaphore(max(1, config.concurrency))
        self._client: openai.AsyncOpenAI | None = None
        self._reserved = 0  # budget held by calls in flight
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.requests = 0  # HTTP requests sent, retries included
        self.calls = 0  # chat() calls that returned a reply
        self.failures = 0

    def __repr__(self) -> str:
        return (f"LLMClient(base_url={self.base_url!r}, model={self.config.model!r}, "
                f"key_env={self.config.api_key_env!r}, tokens_used={self.tokens_used})")

    @property
    def tokens_used(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def tokens_left(self) -> int | None:
        b = self.config.token_budget
        return None if b is None else max(0, b - self.tokens_used - self._reserved)

    def _openai(self) -> openai.AsyncOpenAI:
        if self._client is None:
            import openai  # 0.4 s of imports: only a search that talks to an LLM pays them (kf serve starts without)

            http = httpx2.AsyncClient(auth=_EnvKeyAuth(self.config.api_key_env),
                                      timeout=self.config.timeout_s, trust_env=False)
            # the real key goes in through the auth hook; the library only ever sees the dummy
            self._client = openai.AsyncOpenAI(api_key=DUMMY_KEY, base_url=self.base_url,
                                              timeout=self.config.timeout_s, max_retries=0,
                                              http_client=http)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    async def __aenter__(self) -> "LLMClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- budget ---------------------------------------------------------------------------

    def _reserve(self, messages: Sequence[dict[str, Any]], max_tokens: int) -> tuple[int, int]:
        """(reserved tokens, max_tokens to ask for); raises TokenBudgetExceeded."""
        prompt = _messages_tokens(messages)
        left = self.tokens_left
        if left is None:
            return prompt + max_tokens, max_tokens
        room = left - prompt
        # shrink the completion to what is left, but not below a useful size
        floor = min(max_tokens, 256)
        if room < floor:
            raise TokenBudgetExceeded(
                f"token budget exhausted: {self.tokens_used} of {self.config.token_budget} used, "
                f"{self._reserved} held by calls in flight; this call needs about "
                f"{prompt + floor}")
        max_tokens = min(max_tokens, room)
        return prompt + max_tokens, max_tokens

    # -- calls ----------------------------------------------------------------------------

    async def chat(self, messages: Sequence[dict[str, Any]], *, max_tokens: int | None = None,
                   temperature: float | None = None) -> Reply:
        """One chat completion. Raises LLMError (TokenBudgetExceeded before sending when the
        budget cannot hold it); asyncio.CancelledError passes through."""
        want = int(max_tokens or self.config.max_tokens)
        async with self._semaphore:
            held, want = self._reserve(messages, want)
            self._reserved += held
            try:
                return await self._with_retries(list(messages), want, temperature)
            finally:
                self._reserved -= held

    def _attempts(self) -> int:
        """How many times one call may send its request (the first and the retries)."""
        return max(0, self.config.retries) + 1

    async def _with_retries(self, messages: list[dict[str, Any]], max_tokens: int,
                            temperature: float | None) -> Reply:
        attempts = self._attempts()
        start = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                reply = await self._once(messages, max_tokens, temperature)
                self.calls += 1
                return Reply(reply.text, reply.prompt_tokens, reply.completion_tokens,
                             reply.finish_reason, reply.estimated, time.monotonic() - start, attempt)
            except LLMError as e:
                delay = getattr(e, "retry_after", None)
                if not e.retryable or attempt == attempts:
                    self.failures += 1
                    if e.retryable and attempts > 1:
                        raise LLMError(f"{e} (gave up after {attempts} attempts)",
                                       status=e.status, retryable=True) from None
                    raise
                if delay is None:
                    base = min(MAX_BACKOFF_S, 0.5 * 2 ** (attempt - 1))
                    delay = base * (0.5 + self._rng.random())  # jitter: 50%..150%
                log.info("LLM request failed (%s); retry %d/%d in %.1fs", e, attempt,
                         attempts - 1, delay)
                await self._sleep(delay)
        raise AssertionError("unreachable")

    async def _once(self, messages: list[dict[str, Any]], max_tokens: int,
                    temperature: float | None) -> Reply:
        import openai

        self.requests += 1
        temp = self.config.temperature if temperature is None else temperature
        try:
            resp = await self._openai().chat.completions.create(
                model=self.config.model or "default", messages=messages,  # type: ignore[arg-type]
                temperature=temp, max_tokens=max_tokens)
        except asyncio.CancelledError:
            raise
        except openai.APITimeoutError:
            raise LLMError(f"LLM endpoint {self.base_url} did not answer within "
                           f"{self.config.timeout_s:g}s", retryable=True) from None
        except openai.APIConnectionError as e:
            raise LLMError(f"cannot reach LLM endpoint {self.base_url}: "
                           f"{self._clean(str(e.__cause__ or e))}", retryable=True) from None
        except openai.APIStatusError as e:
            raise self._status_error(e) from None
        except openai.APIError as e:  # a malformed body and the like
            raise LLMError(f"LLM endpoint {self.base_url} gave a bad reply: "
                           f"{self._clean(str(e))}", retryable=True) from None
        choices = getattr(resp, "choices", None) or []
        if not choices:
            raise LLMError(f"LLM endpoint {self.base_url} replied with no choices", retryable=True)
        choice = choices[0]
        text = (choice.message.content if choice.message is not None else None) or ""
        usage = getattr(resp, "usage", None)
        p = getattr(usage, "prompt_tokens", None) if usage is not None else None
        c = getattr(usage, "completion_tokens", None) if usage is not None else None
        estimated = p is None or c is None
        if p is None:
            p = _messages_tokens(messages)
        if c is None:
            c = estimate_tokens(text)
        self.prompt_tokens += int(p)
        self.completion_tokens += int(c)
        return Reply(text, int(p), int(c), choice.finish_reason, estimated)

    def _status_error(self, e: openai.APIStatusError) -> LLMError:
        status = e.status_code
        detail = ""
        body = e.body
        if isinstance(body, dict):
            err = body.get("error", body)
            detail = str(err.get("message", "") if isinstance(err, dict) else err)
        elif body is not None:
            detail = str(body)
        detail = self._clean(detail or e.message or "")
        what = {400: "rejected the request", 401: "refused the API key (check the variable "
                f"{self.config.api_key_env})", 403: "refused access", 404: "does not know this "
                f"model or path (model {self.config.model!r})", 429: "is rate limiting"}.get(
            status, f"failed with HTTP {status}")
        msg = f"LLM endpoint {self.base_url} {what}: HTTP {status}" + (f": {detail}" if detail else "")
        retryable = status in RETRY_STATUS or status >= 500
        err = LLMError(msg, status=status, retryable=retryable)
        err.retry_after = _retry_after(e.response)  # type: ignore[attr-defined]
        return err

    def _clean(self, text: str) -> str:
        """One line, bounded, with anything that looks like (or is) the key blanked."""
        key = key_of(self.config.api_key_env)
        if key:
            text = text.replace(key, "***")
        text = _KEYLIKE.sub("***", text)
        text = " ".join(text.split())
        return text[:300] + ("..." if len(text) > 300 else "")


def _retry_after(response: Any) -> float | None:
    try:
        value = response.headers.get("retry-after")
    except Exception:
        return None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - time.time()
    return min(MAX_RETRY_AFTER_S, max(0.0, seconds))
