"""`kf serve` under broken clients: every request answered, framing damage recovered,
exit codes as the LSP spec gives them, and a bounded fuzz run after which the server still
answers a hover. The server is the real one over stdio; tests/lsp_raw.py writes the bytes
pytest-lsp cannot (broken frames), pytest-lsp sends the well-framed but wrong messages."""

from __future__ import annotations

import asyncio
import json
import os
import random

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from lsp_client import REPO, Doc, hover_text, kf_session
from lsp_raw import RawServer, frame

pytestmark = pytest.mark.timeout(240)

SAXPY = open(os.path.join(REPO, "examples", "sycl", "saxpy.cpp")).read()


@pytest.fixture
def raw(tmp_path):
    (tmp_path / "saxpy.cpp").write_text(SAXPY)
    server = RawServer(str(tmp_path))
    server.initialize(str(tmp_path))
    uri = "file://" + os.path.realpath(tmp_path / "saxpy.cpp")
    server.open_params = {"textDocument": {"uri": uri, "languageId": "cpp", "version": 1, "text": SAXPY}}
    server.notify("textDocument/didOpen", server.open_params)
    line = next(i for i, t in enumerate(SAXPY.split("\n")) if "void saxpy" in t)
    server.hover_params = {"textDocument": {"uri": uri}, "position": {"line": line, "character": 7}}
    yield server
    server.close()


def answers_hover(server: RawServer) -> None:
    r = server.request("textDocument/hover", server.hover_params)
    assert "result" in r and r["result"] is not None, r
    assert "saxpy" in r["result"]["contents"]["value"]


def error_for(server: RawServer, msg_id) -> dict:
    return next(m["error"] for m in server.notifications if m.get("id") == msg_id and "error" in m)


# -- framing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name,data", [
    ("non-numeric length", b"Content-Length: abc\r\n\r\n" + json.dumps(
        {"jsonrpc": "2.0", "method": "$/x", "params": {}}).encode()),
    ("negative length", b"Content-Length: -5\r\n\r\n{}"),
    ("missing header", json.dumps({"jsonrpc": "2.0", "method": "$/x", "params": {}}).encode()),
    ("other header only", b"Content-Type: application/json\r\n\r\n{}"),
    ("too-small length", b'Content-Length: 10\r\n\r\n{"jsonrpc":"2.0","id":7,"method":"textDocument/hover"}'),
    ("too-large length", b'Content-Length: 5000\r\n\r\n{"jsonrpc":"2.0","method":"$/x","params":{}}'),
    ("bare newlines", b'Content-Length: 42\n\n{"jsonrpc":"2.0","method":"$/x","params":{}}'),
    ("garbage", b"\x00\xff\xfe hello world\r\n\r\n\r\n"),
    ("header too long", b"X-Junk: " + b"a" * 20000 + b"\r\n\r\n"),
])
def test_framing_damage_is_recovered(raw, name, data):
    raw.send(data)
    answers_hover(raw)  # the server reads the next well-framed message: never alive and deaf
    answers_hover(raw)
    assert raw.proc.poll() is None


def test_bare_newline_framing_is_understood(raw):
    body = json.dumps({"jsonrpc": "2.0", "id": 99, "method": "textDocument/hover", "params": raw.hover_params})
    raw.send(b"Content-Length: %d\n\n" % len(body) + body.encode())
    r = raw.wait_id(99)
    assert "saxpy" in r["result"]["contents"]["value"]


def test_too_large_length_loses_no_message(raw):
    body = json.dumps({"jsonrpc": "2.0", "id": 98, "method": "textDocument/hover", "params": raw.hover_params})
    raw.send(b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body.encode())
    answers_hover(raw)  # its frame ends the first one, which was answered too
    first = next((m for m in raw.notifications if m.get("id") == 98), None) or raw.wait_id(98, 5)
    assert "saxpy" in first["result"]["contents"]["value"]


def test_absurd_length_is_refused_without_allocating(raw):
    raw.send(b"Content-Length: 1000000000000\r\n\r\n{}")
    answers_hover(raw)
    rss_kb = next(int(line.split()[1]) for line in open(f"/proc/{raw.proc.pid}/status") if line.startswith("VmRSS"))
    assert rss_kb < 1_000_000, f"the server grew to {rss_kb} kB"
    assert "refused a message of 1000000000000 bytes" in raw.stderr()


# -- bodies ------------------------------------------------------------------------------------


def test_invalid_json_and_utf8_get_parse_errors(raw):
    raw.send(b'Content-Length: 30\r\n\r\n{"jsonrpc":"2.0","id":5,"meth')
    answers_hover(raw)
    raw.send(b"Content-Length: 4\r\n\r\n\xff\xfe\xfd\xfc")
    answers_hover(raw)
    codes = [m["error"]["code"] for m in raw.notifications if "error" in m]
    assert codes.count(-32700) == 2, raw.notifications
    assert all(m["error"]["message"] for m in raw.notifications if "error" in m)
    assert error_for(raw, 5)["code"] == -32700  # the id read from the fragment: that request is answered
    assert not raw.popups()
    assert "Traceback" not in raw.stderr()


def test_not_a_request_gets_invalid_request(raw):
    raw.send(frame([1, 2, 3]))
    raw.send(frame({"jsonrpc": "1.0", "id": 12, "method": "textDocument/hover", "params": raw.hover_params}))
    raw.send(frame({"jsonrpc": "2.0", "id": [1], "method": "textDocument/hover", "params": raw.hover_params}))
    answers_hover(raw)
    assert error_for(raw, 12)["code"] == -32600
    assert sum(1 for m in raw.notifications if m.get("error", {}).get("code") == -32600) == 3
    assert not raw.popups()


def test_unknown_method_without_params_is_method_not_found(raw):
    raw.send(frame({"jsonrpc": "2.0", "id": 13, "method": "kf/noSuchThing"}))
    answers_hover(raw)
    assert error_for(raw, 13)["code"] == -32601


# -- exit codes ----------------------------------------------------------------------------------


def test_exit_without_shutdown_exits_1(tmp_path):
    server = RawServer(str(tmp_path))
    server.initialize(str(tmp_path))
    server.notify("exit")
    assert server.proc.wait(20) == 1


def test_shutdown_then_exit_exits_0_and_refuses_requests_between(tmp_path):
    server = RawServer(str(tmp_path))
    server.initialize(str(tmp_path))
    assert server.request("shutdown")["result"] is None
    r = server.request("textDocument/hover", {"textDocument": {"uri": "file:///x.cu"},
                                              "position": {"line": 0, "character": 0}})
    assert r["error"]["code"] == -32600
    server.notify("exit")
    assert server.proc.wait(20) == 0


def test_request_before_initialize_is_answered(tmp_path):
    server = RawServer(str(tmp_path))
    r = server.request("textDocument/hover", {"textDocument": {"uri": "file:///x.cu"},
                                              "position": {"line": 0, "character": 0}})
    assert r["error"]["code"] == -32002
    server.initialize(str(tmp_path))
    assert server.close() == 0


# -- well-framed, wrong messages (pytest-lsp) -------------------------------------------------------


async def untyped_request(c, method: str, params):
    """A request with params the typed client would refuse to serialize."""
    msg_id = f"raw-{random.randrange(1 << 30)}"
    fut = asyncio.get_running_loop().create_future()
    c.protocol._request_futures[msg_id] = fut
    c.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await asyncio.wait_for(fut, 60)  # a guard against hanging on a loaded machine


@pytest.mark.asyncio
async def test_wrong_parameter_types_get_invalid_params_without_popups(tmp_path):
    (tmp_path / "saxpy.cpp").write_text(SAXPY)
    async with kf_session(str(tmp_path)) as c:
        doc = Doc(c, str(tmp_path / "saxpy.cpp")).open()
        uri = {"uri": doc.uri}
        bad = [
            ("textDocument/hover", None),
            ("textDocument/hover", {"textDocument": uri, "position": {"line": "3", "character": "x"}}),
            ("textDocument/hover", {"textDocument": uri, "position": {"line": -1, "character": 0}}),
            ("textDocument/hover", {"textDocument": uri, "position": {"line": 2 ** 40, "character": 0}}),
            ("textDocument/codeLens", {"textDocument": None}),
            ("textDocument/codeAction", {"textDocument": uri, "range": "all", "context": {}}),
            ("textDocument/inlayHint", {"textDocument": uri}),
        ]
        for method, params in bad:
            with pytest.raises(JsonRpcException) as e:
                await untyped_request(c, method, params)
            assert e.value.code == -32602, (method, params, e.value)
            assert method in str(e.value.message) and "invalid params" in str(e.value.message)
        # a position past the end of the file is no error: nothing there
        h = await c.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(doc.uri),
                                                              lsp.Position(100000, 5)))
        assert h is None
        assert "saxpy" in await hover_text(c, doc.uri, doc.pos("saxpy", "void saxpy"))
        assert not [m for m in c.messages if m.type == lsp.MessageType.Error], c.messages


@pytest.mark.asyncio
async def test_did_change_of_a_never_opened_document(tmp_path):
    (tmp_path / "saxpy.cpp").write_text(SAXPY)
    async with kf_session(str(tmp_path)) as c:
        ghost = "file://" + os.path.realpath(tmp_path / "ghost.cu")
        c.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(2, ghost),
            [lsp.TextDocumentContentChangePartial(lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)), "x")]))
        doc = Doc(c, str(tmp_path / "saxpy.cpp")).open()
        assert "saxpy" in await hover_text(c, doc.uri, doc.pos("saxpy", "void saxpy"))
        assert not c.messages, c.messages  # no popup (pygls raised a KeyError into one)


# -- fuzz ----------------------------------------------------------------------------------------------


def _fuzz_cases(rng: random.Random, hover: dict, n: int) -> list[bytes]:
    methods = ["textDocument/hover", "textDocument/codeLens", "textDocument/codeAction", "textDocument/inlayHint",
               "workspace/executeCommand", "textDocument/didChange", "textDocument/didOpen", "kf/variantText",
               "textDocument/didSave", "$/cancelRequest", "workspace/didChangeConfiguration", "initialize"]
    weird = [None, True, -1, 2 ** 40, -(2 ** 63), 1e308, "", "x" * 1000, [], {}, [None], {"uri": 5},
             {"textDocument": None}, {"textDocument": {"uri": "not a uri"}, "position": {"line": 0, "character": 0}},
             {"command": "kf.optimize", "arguments": [{"uri": 3, "kernel": None}]},
             {"command": "kf.applyVariant", "arguments": "x"}, {"settings": {"kf": {"maxJobs": "many"}}},
             {"textDocument": {"uri": hover["textDocument"]["uri"], "version": "v"}, "contentChanges": [{"text": 5}]},
             {"textDocument": {"uri": hover["textDocument"]["uri"], "version": 9},
              "contentChanges": [{"range": {"start": {"line": 99999, "character": 0},
                                            "end": {"line": 0, "character": 99999}}, "text": "x"}]}]
    out = []
    for _ in range(n):
        kind = rng.randrange(6)
        if kind == 0:  # random bytes
            out.append(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
        elif kind == 1:  # a well-framed message with wrong types
            msg: dict = {"jsonrpc": "2.0", "method": rng.choice(methods), "params": rng.choice(weird)}
            if rng.random() < 0.7:
                msg["id"] = rng.choice([rng.randrange(1, 10 ** 6), "s", None, 1.5, 2 ** 70])
            out.append(frame(msg))
        elif kind == 2:  # a broken header
            body = json.dumps({"jsonrpc": "2.0", "method": "$/x", "params": {}}).encode()
            length = rng.choice(["abc", "-1", "", "1e3", str(2 ** 64), str(len(body) - 3), str(len(body) + 7),
                                 " 12 ", "0x10"])
            sep = rng.choice([b"\r\n", b"\n"])
            out.append(b"Content-Length: " + length.encode() + sep + sep + body)
        elif kind == 3:  # a truncated frame
            f = frame({"jsonrpc": "2.0", "id": 5, "method": "textDocument/hover", "params": hover})
            out.append(f[:rng.randrange(1, len(f))])
        elif kind == 4:  # a huge value in an otherwise valid hover
            h = json.loads(json.dumps(hover))
            h["position"][rng.choice(["line", "character"])] = rng.choice([2 ** 31 - 1, 2 ** 31, 2 ** 53, 10 ** 30])
            out.append(frame({"jsonrpc": "2.0", "id": rng.randrange(1, 10 ** 6), "method": "textDocument/hover",
                              "params": h}))
        else:  # valid JSON that is no request
            out.append(frame(rng.choice([[], 5, "x", None, {"id": 1}, {"jsonrpc": "2.0"},
                                         {"jsonrpc": "2.0", "id": 3, "result": {"x": 1}}])))
    return out


def test_fuzz_the_server_stays_alive_and_answers(raw):
    rng = random.Random(int(os.environ.get("KF_FUZZ_SEED", "1010")))
    cases = _fuzz_cases(rng, raw.hover_params, int(os.environ.get("KF_FUZZ_CASES", "120")))
    for i, case in enumerate(cases):
        raw.send(case)
        try:
            raw.notify("textDocument/didOpen", raw.open_params)  # undo what a case changed
            answers_hover(raw)
        except Exception as e:
            raise AssertionError(f"after fuzz case {i} ({case[:120]!r}) the server did not answer a hover: {e}\n"
                                 f"{raw.stderr()[-3000:]}") from None
        assert raw.proc.poll() is None, f"the server died after case {i}: {case[:120]!r}"
    assert not [m for m in raw.popups() if m["params"]["type"] == 1], raw.popups()
    assert "Traceback" not in raw.stderr(), raw.stderr()[-3000:]
