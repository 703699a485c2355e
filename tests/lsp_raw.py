"""A raw-bytes LSP client for `kf serve`: what pytest-lsp cannot send (broken frames, bad
headers, invalid UTF-8, random bytes). The server is the real one, a subprocess over stdio;
this client writes bytes to its stdin and reads its framed answers from stdout in a thread.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frame(obj: Any) -> bytes:
    body = json.dumps(obj).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class RawServer:
    def __init__(self, cwd: str, log_level: str = "WARNING"):
        env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.stderr_path = os.path.join(cwd, "server-stderr.log")
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "kf_lsp", "serve", "--log-level", log_level],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                                     cwd=cwd, env=env)
        self.messages: queue.Queue = queue.Queue()
        self.notifications: list[dict] = []
        self._ids = iter(range(1, 1 << 30))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            body = out.read(length or 0)
            self.messages.put(json.loads(body))

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def notify(self, method: str, params: Any = None) -> None:
        self.send(frame({"jsonrpc": "2.0", "method": method, "params": params}))

    def request(self, method: str, params: Any = None, timeout: float = 20.0) -> dict:
        msg_id = next(self._ids) + 10_000
        self.send(frame({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}))
        return self.wait_id(msg_id, timeout)

    def wait_id(self, msg_id: Any, timeout: float = 20.0) -> dict:
        """The answer to `msg_id`; server-to-client requests are answered with null, other
        answers (to broken requests) and notifications are kept in `notifications`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to request {msg_id} in {timeout:g}s")
            try:
                m = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if m is None:
                raise EOFError(f"the server closed stdout (exit code {self.proc.poll()})")
            if "method" in m and "id" in m:  # a request to the client
                self.send(frame({"jsonrpc": "2.0", "id": m["id"], "result": None}))
                continue
            if m.get("id") == msg_id and "method" not in m:
                return m
            self.notifications.append(m)

    def initialize(self, root: str | None = None) -> dict:
        uri = "file://" + os.path.realpath(root) if root else None
        r = self.request("initialize", {"processId": None, "rootUri": uri, "capabilities": {},
                                        "workspaceFolders": [{"uri": uri, "name": "ws"}] if uri else None})
        self.notify("initialized", {})
        return r

    def popups(self) -> list[dict]:
        return [m for m in self.notifications if m.get("method") == "window/showMessage"]

    def stderr(self) -> str:
        self._stderr.flush()
        with open(self.stderr_path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.request("shutdown", None, timeout=10)
                self.notify("exit")
            except Exception:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return self.proc.returncode
