"""Fixtures shared by several test files."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_llm_server():
    """One real tiny LLM server (tests/tiny_llm.py) for the whole run: starting it loads the
    weights, and the prompts of the tests that use it share their system message, which the
    server then reads once (llama.cpp keeps the longest common prefix of the last prompt)."""
    import tiny_llm

    with tiny_llm.TinyLLMServer() as server:
        yield server
