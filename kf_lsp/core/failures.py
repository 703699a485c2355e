"""LLM failures of a search, classified and said once.

The search goes on without the LLM when its endpoint fails (the tuning operator still
runs), which is right, but the user must hear it: an unreachable endpoint, a refused key, an
unknown model or an exhausted token budget turns a search into "tuning only". `WatchedClient`
is the LLM client with one hook: the first failure of each kind is handed to `on_failure`.
"""

from __future__ import annotations

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


class WatchedClient(LLMClient):
    def __init__(self, config: Any, on_failure: Callable[[LLMFailure], None], **kwargs: Any):
        super().__init__(config, **kwargs)
        self._on_failure = on_failure
        self._said: set[str] = set()

    async def chat(self, messages, **kwargs):  # type: ignore[override]
        try:
            return await super().chat(messages, **kwargs)
        except LLMError as e:
            f = classify(e)
            if f.kind not in self._said:
                self._said.add(f.kind)
                try:
                    self._on_failure(f)
                except Exception:
                    pass
            raise
