"""TEST DOUBLE: a scripted, OpenAI-compatible chat server on loopback, standing in for an
LLM in tests. It is not a model: every reply comes from a script.

    with LLMDouble([good_variant(), status(500), good_variant()]) as llm:
        config = LLMConfig(base_url=llm.url, model="double")
        ...
        llm.requests  # the JSON bodies it received, in order (to assert on prompts)

A script entry is a `Scripted` (a reply, an HTTP error, a delay) or a callable taking the
request body and returning one. When the script runs out, `default` answers (a good
variant). Requests whose system message asks for a prompt edit (meta-prompt evolution)
are answered by `prompt_edit` and do not consume the script.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

__all__ = ["LLMDouble", "Scripted", "reply", "status", "slow", "good_variant", "broken_variant",
           "contract_variant", "together", "prose_wrapped", "truncated", "edited_prompt", "GOOD_REGION",
           "BROKEN_REGION", "CONTRACT_REGION"]


@dataclass
class Scripted:
    text: str = ""
    finish_reason: str = "stop"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None  # for errors: the JSON body (default: an OpenAI-style error)
    delay: float = 0.0  # seconds before answering (with `together`: the most it waits)
    together: int = 0  # answer once this many requests are being answered at once
    usage: bool = True  # include a `usage` object


def reply(text: str, finish_reason: str = "stop", usage: bool = True) -> Scripted:
    return Scripted(text=text, finish_reason=finish_reason, usage=usage)


def status(code: int, message: str = "scripted failure", retry_after: str | None = None) -> Scripted:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Scripted(status=code, headers=headers,
                    body={"error": {"message": message, "type": "test_double", "code": code}})


def slow(seconds: float, then: Scripted | None = None) -> Scripted:
    s = then or good_variant()
    return Scripted(text=s.text, finish_reason=s.finish_reason, delay=seconds)


def together(count: int, guard: float = 120.0) -> Scripted:
    """A good variant sent once `count` requests are open at the same time (a client that
    sends them one after another waits `guard` seconds for each): concurrency shown by
    an event, not by a duration."""
    s = good_variant()
    return Scripted(text=s.text, finish_reason=s.finish_reason, delay=guard, together=count)


# -- replies for the SYCL saxpy example (examples/sycl/saxpy.cpp) --------------------------

GOOD_REGION = """\
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf global roundup(cdiv(n, 2), WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 64, 256
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0) * 2;
  if (i < n) out[i] = a * x[i] + y[i];
  if (i + 1 < n) out[i + 1] = a * x[i + 1] + y[i + 1];
}"""

BROKEN_REGION = GOOD_REGION.replace("out[i] = a * x[i] + y[i];", "out[i] = a * x[i] + y[i] + undeclared_z;")

CONTRACT_REGION = GOOD_REGION.replace("float a, int n)", "float a, long n)")


def good_variant() -> Scripted:
    return reply("Idea: two elements per work-item halve the launch overhead.\n\n```cpp\n"
                 + GOOD_REGION + "\n```\n")


def broken_variant() -> Scripted:
    return reply("Idea: fold in a bias term.\n```cpp\n" + BROKEN_REGION + "\n```")


def contract_variant() -> Scripted:
    return reply("Idea: use a 64-bit size.\n```sycl\n" + CONTRACT_REGION + "\n```")


def prose_wrapped() -> Scripted:
    """Prose, the original kernel in one block, the new one in another, more prose, CRLF."""
    original = GOOD_REGION.replace("roundup(cdiv(n, 2), WG_SIZE)", "roundup(n, WG_SIZE)")
    text = ("Sure! Here is the original kernel for reference:\n\n```\n" + original + "\n```\n\n"
            "And here is my improved version, which processes two elements per work-item:\n\n"
            "```c++\n" + GOOD_REGION + "\n```\n\nThis should be faster because it halves the "
            "number of work-items. Let me know if you need anything else!\n")
    return reply(text.replace("\n", "\r\n"))


def truncated() -> Scripted:
    cut = GOOD_REGION[: GOOD_REGION.index("if (i + 1 < n)")]
    return reply("Idea: two per item.\n```cpp\n" + cut, finish_reason="length")


def edited_prompt(request: dict[str, Any]) -> Scripted:
    """A meta-prompt edit: the four sections, each marked as edited."""
    user = request["messages"][-1]["content"]
    parts = []
    for name in ("philosophy", "strategies", "pitfalls", "analysis"):
        start, end = f"<{name}>", f"</{name}>"
        old = user.split(start, 1)[1].split(end, 1)[0].strip() if start in user else name
        parts.append(f"{start}\n{old}\n- (edited by the double) Prefer vector loads.\n{end}")
    return reply("Here are the revised sections.\n\n" + "\n\n".join(parts))


def _is_prompt_edit(body: dict[str, Any]) -> bool:
    msgs = body.get("messages") or []
    return bool(msgs) and "[kf:prompt-evolution]" in str(msgs[0].get("content", ""))


class LLMDouble:
    """The server. `url` is the base URL to configure (ends in /v1)."""

    def __init__(self, script: list[Scripted | Callable[[dict], Scripted]] | None = None, *,
                 default: Callable[[dict], Scripted] | Scripted | None = None,
                 prompt_edit: Callable[[dict], Scripted] | None = edited_prompt):
        self.script = list(script or [])
        self.default = default if default is not None else (lambda body: good_variant())
        self.prompt_edit = prompt_edit
        self.requests: list[dict[str, Any]] = []  # JSON bodies, in arrival order
        self.headers: list[dict[str, str]] = []
        self.responses: list[int] = []  # the status codes sent
        self.in_flight = 0  # requests being answered now
        self.max_in_flight = 0  # the most answered at once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the double first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """Requests that were not prompt-evolution requests."""
        return [r for r in self.requests if not _is_prompt_edit(r)]

    @property
    def prompt_edit_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if _is_prompt_edit(r)]

    def _next(self, body: dict[str, Any]) -> Scripted:
        with self._lock:
            self.requests.append(body)
            if _is_prompt_edit(body) and self.prompt_edit is not None:
                return self.prompt_edit(body)
            entry = self.script.pop(0) if self.script else self.default
        return entry(body) if callable(entry) else entry

    def start(self) -> "LLMDouble":
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _send(self, code: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)
                with double._lock:
                    double.responses.append(code)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": "double", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "bad JSON"}})
                    return
                with double._lock:
                    double.headers.append({k.lower(): v for k, v in self.headers.items()})
                s = double._next(body)
                with double._lock:
                    double.in_flight += 1
                    double.max_in_flight = max(double.max_in_flight, double.in_flight)
                try:
                    self._answer(body, s)
                finally:
                    with double._lock:
                        double.in_flight -= 1

            def _answer(self, body: dict[str, Any], s: Scripted) -> None:
                end = time.monotonic() + s.delay
                while time.monotonic() < end and not double._stop.is_set():
                    if s.together and double.max_in_flight >= s.together:
                        break
                    time.sleep(0.02)
                if s.status != 200:
                    self._send(s.status, s.body if s.body is not None else
                               {"error": {"message": "scripted failure"}}, s.headers)
                    return
                messages = body.get("messages") or []
                prompt_chars = sum(len(str(m.get("content", ""))) for m in messages)
                payload: dict[str, Any] = {
                    "id": f"chatcmpl-double-{len(double.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", "double"),
                    "choices": [{"index": 0, "finish_reason": s.finish_reason,
                                 "message": {"role": "assistant", "content": s.text}}],
                }
                if s.usage:
                    payload["usage"] = {"prompt_tokens": prompt_chars // 4 + 1,
                                        "completion_tokens": len(s.text) // 4 + 1,
                                        "total_tokens": prompt_chars // 4 + len(s.text) // 4 + 2}
                self._send(200, payload, s.headers)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True,
                                        name="llm-double")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "LLMDouble":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
