"""Columns the server sends and reads are UTF-16 units, as LSP clients count them."""

from lsprotocol import types as lsp

from backends.kernel.scanner import find_kernels
from kf_lsp.core.index import FileEntry
from kf_lsp.lsp.positions import from_client, to_client
from kf_lsp.lsp.views import kernel_at_position

SRC = ('/* 🚀 fast */ extern "C" __global__ void k🚀x(const float* x, float* y, int n) {}\n'
       'extern "C" __global__ void plain(const float* x, float* y, int n) {}\n')


def test_conversions_round_trip():
    line = "a🚀b€c"
    assert [to_client(line, i) for i in range(len(line) + 1)] == [0, 1, 3, 4, 5, 6]
    assert [from_client(line, u) for u in (0, 1, 3, 4, 5, 6)] == [0, 1, 2, 3, 4, 5]
    assert to_client("ascii only", 5) == 5 and from_client("ascii only", 5) == 5


def test_hover_position_after_an_emoji_finds_the_kernel():
    kernels = find_kernels(SRC.replace("k🚀x", "kx"), "k.cu")
    entry = FileEntry(path="k.cu", text=SRC.replace("k🚀x", "kx"), version=1, open=True, language="cuda",
                      kernels=kernels)
    line = entry.text.split("\n")[0]
    name_at = line.index("kx(")  # code points
    # the client counts the emoji in the comment as two units: its column of the name's
    # end is one more than the code-point index, and its column `name_at` is the space before
    assert kernel_at_position(entry, lsp.Position(0, name_at + len("kx") + 1)).name == "kx"
    assert kernel_at_position(entry, lsp.Position(0, name_at)) is None
