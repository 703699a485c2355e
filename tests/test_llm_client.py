"""The LLM client against the scripted test double: replies, retries, errors, tokens, keys."""

import asyncio

import pytest

from evolver.llm import LLMClient, LLMError, TokenBudgetExceeded
from evolver.records import LLMConfig

from llm_double import LLMDouble, good_variant, reply, slow, status, together

MSGS = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
pytestmark = pytest.mark.asyncio
KEY_ENV = "KF_TEST_LLM_KEY"
SECRET = "sk-test-SECRET-0123456789abcdef"


def config(url: str, **kw) -> LLMConfig:
    base = dict(base_url=url, model="double", api_key_env=KEY_ENV, timeout_s=5.0, retries=3)
    base.update(kw)
    return LLMConfig(**base)


class Sleeps:
    def __init__(self):
        self.delays = []

    async def __call__(self, seconds):
        self.delays.append(seconds)


@pytest.fixture
def double():
    with LLMDouble() as d:
        yield d


async def test_reply_and_tokens(double, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    double.script = [reply("hi there", usage=True)]
    async with LLMClient(config(double.url, temperature=0.3, max_tokens=77)) as c:
        r = await c.chat(MSGS)
    assert r.text == "hi there" and r.finish_reason == "stop" and not r.estimated
    assert r.prompt_tokens > 0 and r.completion_tokens > 0
    assert c.tokens_used == r.prompt_tokens + r.completion_tokens
    body = double.requests[0]
    assert body["model"] == "double" and body["temperature"] == 0.3 and body["max_tokens"] == 77
    assert body["messages"] == MSGS
    # the key is read from the environment at call time and sent, never kept on the client
    assert double.headers[0]["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in repr(c) and SECRET not in str(vars(c))


async def test_key_is_read_at_call_time_and_defaults_to_a_dummy(double, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    async with LLMClient(config(double.url)) as c:
        await c.chat(MSGS)
        monkeypatch.setenv(KEY_ENV, "sk-later-key-xyz")
        await c.chat(MSGS)
    assert double.headers[0]["authorization"] == "Bearer sk-none"
    assert double.headers[1]["authorization"] == "Bearer sk-later-key-xyz"


async def test_estimates_tokens_without_usage(double):
    double.script = [reply("x" * 400, usage=False)]
    async with LLMClient(config(double.url)) as c:
        r = await c.chat(MSGS)
    assert r.estimated and r.completion_tokens == 100 and r.prompt_tokens > 0


async def test_retries_5xx_with_backoff_then_succeeds(double):
    double.script = [status(500), status(503), good_variant()]
    sleeps = Sleeps()
    async with LLMClient(config(double.url), sleep=sleeps, seed=1) as c:
        r = await c.chat(MSGS)
    assert "```" in r.text and r.attempts == 3 and c.requests == 3
    assert len(sleeps.delays) == 2 and sleeps.delays[1] > sleeps.delays[0] * 0.6  # exponential
    assert all(0.2 <= d <= 1.6 for d in sleeps.delays)


async def test_429_respects_retry_after(double):
    double.script = [status(429, "slow down", retry_after="3"), reply("ok")]
    sleeps = Sleeps()
    async with LLMClient(config(double.url), sleep=sleeps) as c:
        r = await c.chat(MSGS)
    assert r.text == "ok" and sleeps.delays == [3.0]


@pytest.mark.parametrize("code", [400, 401, 404])
async def test_no_retry_on_client_errors_and_the_key_never_shows(double, monkeypatch, code):
    monkeypatch.setenv(KEY_ENV, SECRET)
    double.script = [status(code, f"Incorrect API key provided: {SECRET}")]
    sleeps = Sleeps()
    async with LLMClient(config(double.url), sleep=sleeps) as c:
        with pytest.raises(LLMError) as info:
            await c.chat(MSGS)
    e = info.value
    assert e.status == code and not e.retryable and sleeps.delays == [] and len(double.requests) == 1
    msg = str(e)
    assert "\n" not in msg and f"HTTP {code}" in msg and double.url.rstrip("/") in msg
    assert SECRET not in msg and SECRET not in repr(e) and e.__cause__ is None
    if code == 401:
        assert KEY_ENV in msg  # names the variable, not the key


async def test_gives_up_after_retries(double):
    double.script = [status(502)] * 10
    sleeps = Sleeps()
    async with LLMClient(config(double.url, retries=2), sleep=sleeps) as c:
        with pytest.raises(LLMError, match="gave up after 3 attempts"):
            await c.chat(MSGS)
    assert len(double.requests) == 3 and len(sleeps.delays) == 2


async def test_timeout_is_retried_then_reported(double):
    # replies that never come while the test runs (the double ends them at its close): a 3 s reply
    # beat the 0.3 s limit whenever the event loop stalled 2.7 s (load)
    double.script = [slow(600), slow(600)]
    async with LLMClient(config(double.url, timeout_s=0.3, retries=1), sleep=Sleeps()) as c:
        with pytest.raises(LLMError, match=r"did not answer within 0.3s.*gave up after 2"):
            await c.chat(MSGS)
    assert len(double.requests) == 2


async def test_connection_error_is_clear():
    async with LLMClient(config("http://127.0.0.1:9/v1", retries=1), sleep=Sleeps()) as c:
        with pytest.raises(LLMError, match="cannot reach LLM endpoint http://127.0.0.1:9/v1"):
            await c.chat(MSGS)


async def test_a_job_asks_an_unreachable_endpoint_again_without_its_back_off():
    """The fronts' client (kf_lsp/core/failures.py): once a call found the endpoint
    unreachable after its retries, later calls still ask (it may come back) with one attempt,
    so a search does not wait out the back-off at every call; the failure is said once."""
    from kf_lsp.core.failures import WatchedClient

    said, sleeps = [], Sleeps()
    async with WatchedClient(config("http://127.0.0.1:9/v1", retries=3), said.append, sleep=sleeps) as c:
        with pytest.raises(LLMError, match="gave up after 4 attempts"):
            await c.chat(MSGS)
        assert len(sleeps.delays) == 3
        for _ in range(2):
            with pytest.raises(LLMError, match="cannot reach LLM endpoint http://127.0.0.1:9/v1"):
                await c.chat(MSGS)
        assert len(sleeps.delays) == 3  # no back-off for the later calls
    assert [f.kind for f in said] == ["unreachable"]


async def test_token_budget(double):
    async with LLMClient(config(double.url, token_budget=600, max_tokens=200)) as c:
        await c.chat(MSGS)
        used = c.tokens_used
        assert 0 < used < 600
        with pytest.raises(TokenBudgetExceeded):
            await c.chat([{"role": "user", "content": "y" * 2000}])
    assert len(double.requests) == 1  # nothing was sent for the call that could not fit


async def test_concurrency_is_bounded(double):
    # each reply waits until two requests are open at once: the bound shows as what overlapped
    # (never more than two of the four), not as a duration
    double.default = together(2)
    async with LLMClient(config(double.url, concurrency=2, timeout_s=300.0)) as c:
        await asyncio.gather(*(c.chat(MSGS) for _ in range(4)))
    assert len(double.requests) == 4 and double.max_in_flight == 2


async def test_no_endpoint_is_an_error():
    with pytest.raises(LLMError, match="base_url"):
        LLMClient(LLMConfig())
