"""LLM failures of a search, classified and said once.

The search goes on without the LLM when its endpoint fails (the tuning operator still
runs), which is right, but the user must hear it: an unreachable endpoint, a refused key, an
unknown model or an exhausted token budget turns a search into "tuning only". `WatchedClient`
is the LLM client with one hook: the first failure of each kind is handed to `on_failure`;
after a refused key or an unknown model it sends nothing more.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable, Literal

import msgspec

from evolver.llm import LLMClient, LLMError, TokenBudgetExceeded

__all__ = ["LLMFailure", "classify", "WatchedClient"]

FailureKind = Literal["unreachable", "auth", "budget", "model", "endpoint"]


class LLMFailure(msgspec.Struct, frozen=True):
    kind: FailureKind
    message: str  # one line, never the key (evolver.llm cleans it)

    def summary(self) -> str:
        return {"unreachable": "the LLM endpoint is unreachable", "auth": "the LLM endpoint refused the API key",
                "budget": "the LLM token budget is exhausted", "model": "the LLM endpoint does not know the model",
                "endpoint": "the LLM endpoint fails"}[self.kind]


def classify(e: BaseException) -> LLMFailure:
    msg = str(e)
    if isinstance(e, TokenBudgetExceeded):
        return LLMFailure("budget", msg)
    status = getattr(e, "status", None)
    if status in (401, 403):
        return LLMFailure("auth", msg)
    if status == 404:
        return LLMFailure("model", msg)
    if status is None and ("cannot reach" in msg or "did not answer" in msg):
        return LLMFailure("unreachable", msg)
    return LLMFailure("endpoint", msg)


FATAL: frozenset[str] = frozenset({"auth", "model"})  # asking again cannot help


class WatchedClient(LLMClient):
    """Also ends the job's LLM use at the first failure that asking again cannot mend (a
    refused key, an unknown model): later calls fail at once, without
    a request. Until one request has succeeded, requests go one at a time, so a refused key
    is refused once, not once per request in flight."""

    def __init__(self, config: Any, on_failure: Callable[[LLMFailure], None], **kwargs: Any):
        super().__init__(config, **kwargs)
        self._on_failure = on_failure
        self._said: set[str] = set()
        self._fatal: LLMError | None = None
        self._proven = False  # a request succeeded: the key and model are good
        self._down = False  # the last call found the endpoint unreachable (after its retries)
        self._first = asyncio.Lock()

    @property
    def disabled(self) -> LLMFailure | None:
        """The failure that ended this client's use, if one did."""
        return classify(self._fatal) if self._fatal is not None else None

    def _refuse(self) -> LLMError:
        assert self._fatal is not None
        return LLMError(f"not sent: this job's LLM use ended at an earlier HTTP {self._fatal.status} (said once)",
                        status=self._fatal.status)

    async def chat(self, messages, **kwargs):  # type: ignore[override]
        if self._fatal is not None:
            raise self._refuse()
        if not self._proven:
            async with self._first:
                if self._fatal is not None:
                    raise self._refuse()
                if not self._proven:
                    return await self._chat(messages, **kwargs)
        return await self._chat(messages, **kwargs)

    def _attempts(self) -> int:
        """One attempt while the endpoint is known unreachable: it is still asked at every
        call (it may come back), without paying the back-off again at each (seconds a call)."""
        return 1 if self._down else super()._attempts()

    async def _chat(self, messages, **kwargs):
        try:
            reply = await super().chat(messages, **kwargs)
        except LLMError as e:
            f = classify(e)
            self._down = f.kind == "unreachable"
            if f.kind in FATAL and self._fatal is None:
                self._fatal = e
            if f.kind not in self._said:
                self._said.add(f.kind)
                try:
                    self._on_failure(f)
                except Exception:
                    pass
            raise
        self._proven, self._down = True, False
        return reply
