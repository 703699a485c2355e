"""Open documents in `kf serve`: edits applied and parsed off the event loop, debounced,
typing that cannot change a kernel skipped, a size cap with a clear message. Real server
over stdio (pytest-lsp); the latency bound itself is a benchmark (benchmarks/lsp_typing.py).
"""

from __future__ import annotations

import asyncio
import os
import time

import pytest
from lsprotocol import types as lsp

from lsp_client import REPO, Doc, hover_text, kf_session, lens_titles, wait_for

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(180)]

SAXPY_CU = open(os.path.join(REPO, "examples", "cuda", "saxpy.cu")).read()
HOST = "\nstatic int host_helper(int v) {\n  int total = v;\n  return total;\n}\n"


def type_at(c, doc: Doc, line: int, col: int, text: str) -> None:
    """One incremental didChange per character, as an editor sends them."""
    for ch in text:
        doc.version += 1
        c.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(doc.version, doc.uri),
            [lsp.TextDocumentContentChangePartial(lsp.Range(lsp.Position(line, col), lsp.Position(line, col)), ch)]))
        lines = doc.text.split("\n")
        lines[line] = lines[line][:col] + ch + lines[line][col:]
        doc.text = "\n".join(lines)
        line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)


async def test_rapid_changes_publish_a_few_diagnostics_for_the_last_version(tmp_path):
    path = tmp_path / "saxpy.cu"
    path.write_text(SAXPY_CU)
    async with kf_session(str(tmp_path), {"watch": False}) as c:
        published: list[lsp.PublishDiagnosticsParams] = []
        orig = c.protocol.fm.features[lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

        def counting(params):
            published.append(params)
            return orig(params)

        c.protocol.fm.features[lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = counting
        doc = Doc(c, str(path)).open()
        await wait_for(lambda: published, 10, what="first diagnostics")
        before = len(published)
        spec_line = doc.line_of("@kf n = 1 << 24")
        t0 = time.monotonic()
        for i in range(100):  # 100 changes in about 2 s (more on a busy machine)
            doc.replace(doc.text.replace(f"1 << {24 + i}", f"1 << {25 + i}") if i < 99 else
                        doc.text.replace("// @kf block BLOCK", "// @kf blok BLOCK"))
            await asyncio.sleep(0.02)
        typing = time.monotonic() - t0
        await wait_for(lambda: published[-1].version == doc.version, 10, what="diagnostics of the last version")
        await asyncio.sleep(0.5)
        n = len(published) - before
        assert 1 <= n <= 3 * typing + 2, f"{n} publishDiagnostics for 100 changes in {typing:.1f} s"
        last = published[-1]
        assert last.version == doc.version
        assert any("blok" in d.message for d in last.diagnostics), last.diagnostics
        assert spec_line >= 0


async def test_typing_in_host_code_and_then_a_new_kernel(tmp_path):
    path = tmp_path / "saxpy.cu"
    path.write_text(SAXPY_CU + HOST)
    async with kf_session(str(tmp_path), {"watch": False}) as c:
        doc = Doc(c, str(path)).open()
        # the first parse may outlast a lens request's settle time on a loaded machine: the
        # server refreshes lenses when it lands, as the test waits for
        await wait_for(lambda: _lens_count(c, doc.uri, 1), 60, what="the kernel's lens")
        assert await lens_titles(c, doc.uri) == ["Optimize"]
        # identifiers typed in host code: the kernel stays where it is, hover still finds it
        line = doc.line_of("int total = v;")
        type_at(c, doc, line, len("  int total = v"), " + 1 + extra_value")
        assert "saxpy" in await hover_text(c, doc.uri, doc.pos("saxpy", "void saxpy"))
        # a new kernel typed below (newlines, braces, `__global__`): found
        end = len(doc.text.split("\n")) - 1
        type_at(c, doc, end, 0, '\nextern "C" __global__ void added(float* p) { p[0] = 1.0f; }\n')
        await wait_for(lambda: _lens_count(c, doc.uri, 2), 10, what="the new kernel's lens")
        h = await hover_text(c, doc.uri, doc.pos("added", "void added"))
        assert h is not None and "added" in h
        # and the server's text is the client's: a lens on the right line
        lenses = await c.text_document_code_lens_async(lsp.CodeLensParams(lsp.TextDocumentIdentifier(doc.uri)))
        assert doc.line_of("void added") in [lens.range.start.line for lens in lenses]


async def test_a_repeated_did_open_with_the_same_version_takes_its_text(tmp_path):
    """A client that reopens a file (after it changed on disk, or after a restart of its own
    numbering) may send version 1 again: its text is the document's, not a stale parse."""
    path = tmp_path / "saxpy.cu"
    path.write_text(SAXPY_CU)
    async with kf_session(str(tmp_path), {"watch": False}) as c:
        doc = Doc(c, str(path)).open()
        await wait_for(lambda: _lens_count(c, doc.uri, 1), 60, what="the kernel's lens")
        doc.text = doc.text.replace("void saxpy(", "void saxpy_renamed(")
        doc.open()  # version 1 again, another text
        h = await wait_for(lambda: _hover_names(c, doc, "saxpy_renamed"), 30, what="a hover on the new text")
        assert "saxpy_renamed" in h
        doc.open()  # and the same text once more: answered from what is parsed
        assert "saxpy_renamed" in await hover_text(c, doc.uri, doc.pos("saxpy_renamed", "void saxpy_renamed"))


async def _hover_names(c, doc: Doc, name: str) -> str | None:
    h = await hover_text(c, doc.uri, doc.pos(name, f"void {name}"))
    return h if h is not None and name in h else None


async def _lens_count(c, uri: str, n: int) -> bool:
    return len(await lens_titles(c, uri)) == n


async def test_a_document_over_the_size_cap_is_not_indexed_and_says_so(tmp_path):
    from kf_lsp.lsp.documents import MAX_DOCUMENT_BYTES

    small = tmp_path / "saxpy.cu"
    small.write_text(SAXPY_CU)
    big = tmp_path / "huge.cu"
    text = SAXPY_CU + ("// padding padding padding padding padding padding padding padding\n"
                       * (MAX_DOCUMENT_BYTES // 64 + 10))
    async with kf_session(str(tmp_path), {"watch": False}) as c:
        bdoc = Doc(c, str(big), text).open()
        sdoc = Doc(c, str(small)).open()
        diags = await wait_for(lambda: c.diagnostics.get(bdoc.uri), 60, what="the size-cap diagnostic")
        assert len(diags) == 1 and "does not index open documents over" in diags[0].message
        assert "huge.cu" in diags[0].message
        assert await lens_titles(c, bdoc.uri) == []
        # the small file is indexed all the same (its parse may queue behind the big one's refusal)
        hover = await wait_for(lambda: hover_text(c, sdoc.uri, sdoc.pos("saxpy", "void saxpy")), 60,
                               what="the hover of the small file")
        assert "saxpy" in hover
        warnings = [m for m in c.messages if "does not index" in m.message]
        assert len(warnings) == 1 and warnings[0].type == lsp.MessageType.Warning
        # shrunk below the cap: indexed again
        bdoc.replace(SAXPY_CU)
        await wait_for(lambda: _lens_count(c, bdoc.uri, 1), 30, what="lens after shrinking")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_incremental_changes_match_a_naive_splice(seed):
    """kf's document store against the obvious implementation, random edits with newlines,
    CRLF, non-BMP characters (UTF-16 columns) and out-of-range positions (clamped)."""
    import random

    from kf_lsp.lsp.documents import Document

    def naive(text: str, change: lsp.TextDocumentContentChangePartial) -> str:
        lines = text.split("\n")

        def off(p: lsp.Position) -> int:
            if p.line >= len(lines):
                return len(text)
            line = lines[p.line]
            units, col = 0, 0
            for ch in line:
                if units >= p.character:
                    break
                units += 2 if ord(ch) > 0xFFFF else 1
                col += 1
            return sum(len(x) + 1 for x in lines[:p.line]) + col

        a, b = sorted((off(change.range.start), off(change.range.end)))
        return text[:a] + change.text + text[b:]

    rng = random.Random(seed)
    alphabet = ["a", "b", " ", "\n", "\r\n", "{", "}", "\U0001F600", "é", "//"]
    text = "".join(rng.choice(alphabet) for _ in range(400))
    doc = Document("file:///t.cu", text, 1)
    for _ in range(300):
        n = text.count("\n") + 1

        def pos() -> lsp.Position:
            return lsp.Position(rng.randrange(n + 2), rng.randrange(12))

        change = lsp.TextDocumentContentChangePartial(lsp.Range(pos(), pos()),
                                                      "".join(rng.choice(alphabet) for _ in range(rng.randrange(4))))
        text = naive(text, change)
        doc.apply(change)
        assert doc.text == text
    assert list(doc._starts) == [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
