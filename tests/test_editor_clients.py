"""The editor clients, tested with real clients (no VS Code here: it cannot be downloaded).

VS Code extension (editors/vscode-client): strict `tsc` build, eslint (typescript-eslint),
`node --test` unit tests of every module that does not import vscode, a JSON-RPC smoke test
that drives the real `kf serve` with vscode-jsonrpc (the extension's own transport), the
archive webview in headless Chromium (playwright-core + Debian's chromium), and
`vsce package`. Neovim (editors/nvim): Debian's headless nvim attaches to `kf serve`, lists
the code actions, runs :KfOptimize, waits for the end and runs :KfApply.

They need `.ci/editor-setup` (Debian neovim + chromium, `npm ci`); without it they skip
with that reason, never silently.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXT = os.path.join(REPO, "editors", "vscode-client")
NVIM_DIR = os.path.join(REPO, "editors", "nvim")
NODE = shutil.which("node")
NVIM = shutil.which("nvim")
CHROMIUM = os.environ.get("KF_CHROMIUM", "/usr/bin/chromium")
SETUP = "run .ci/editor-setup (installs Debian neovim + chromium and runs npm ci in editors/vscode-client)"

needs_node = pytest.mark.skipif(
    NODE is None or not os.path.isdir(os.path.join(EXT, "node_modules", "vscode-languageclient")),
    reason=f"node or editors/vscode-client/node_modules missing: {SETUP}")


def run(cmd: list[str], *, cwd: str = EXT, timeout: float = 300, env: dict | None = None) -> str:
    """Run a test command; fail with its whole output unless it exits 0."""
    full_env = {**os.environ, "KF_PYTHON": sys.executable, "NO_COLOR": "1", **(env or {})}
    p = subprocess.run(cmd, cwd=cwd, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=timeout)
    out = p.stdout
    assert p.returncode == 0, f"{' '.join(cmd)} exited {p.returncode}:\n{out[-20000:]}"
    return out


def bin_js(*parts: str) -> str:
    return os.path.join(EXT, "node_modules", *parts)


@pytest.fixture(scope="module")
def built() -> str:
    """`tsc -p .` in strict mode (the extension and its tests, into out/)."""
    import json

    with open(os.path.join(EXT, "tsconfig.json")) as f:
        assert json.load(f)["compilerOptions"]["strict"] is True
    shutil.rmtree(os.path.join(EXT, "out"), ignore_errors=True)
    return run([NODE, bin_js("typescript", "bin", "tsc"), "-p", "."], timeout=300)


@needs_node
@pytest.mark.timeout(300)
def test_vscode_extension_builds_strict(built):
    for f in ("extension", "args", "heatmap", "settings", "status", "webviewHtml"):
        assert os.path.isfile(os.path.join(EXT, "out", "src", f + ".js")), f


@needs_node
@pytest.mark.timeout(300)
def test_vscode_extension_lint():
    out = run([NODE, bin_js("eslint", "bin", "eslint.js"), "--max-warnings", "0", "src", "test", "media"])
    assert "problem" not in out, out


@needs_node
@pytest.mark.timeout(300)
def test_vscode_unit_tests(built):
    out = run([NODE, "--test", os.path.join("out", "test", "unit")])
    assert "# fail 0" in out and "# pass 0" not in out, out


@needs_node
@pytest.mark.timeout(420)
def test_vscode_jsonrpc_smoke_against_kf_serve(built):
    """initialize -> didOpen saxpy.cpp -> codeAction -> kf.optimize (budget 3, evalSeconds
    0.1) -> window/workDoneProgress/create answered -> $/progress begin/report/end ->
    kf/jobFinished -> kf/variantText -> shutdown/exit 0."""
    out = run([NODE, "--test", os.path.join("out", "test", "smoke")], timeout=400)
    assert "# pass 1" in out and "# fail 0" in out, out
    print(out)


@needs_node
@pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} missing: {SETUP}")
@pytest.mark.timeout(300)
def test_vscode_archive_webview_in_headless_chromium(built):
    artefacts = os.environ.get("KF_ARTEFACTS") or os.path.join(tempfile.gettempdir(), "kf-artefacts")
    out = run([NODE, "--test", os.path.join("out", "test", "webview")], env={"KF_ARTEFACTS": artefacts,
                                                                          "KF_CHROMIUM": CHROMIUM})
    assert "# pass 1" in out and "# fail 0" in out, out
    shot = os.path.join(artefacts, "kf-archive-recorded.png")
    assert os.path.getsize(shot) > 10_000
    print(f"screenshots: {shot}, {os.path.join(artefacts, 'kf-archive-synthetic.png')}")


@needs_node
@pytest.mark.timeout(400)
def test_vscode_vsce_package(built, tmp_path):
    vsix = tmp_path / "kf-vscode.vsix"
    run([NODE, bin_js("@vscode", "vsce", "vsce"), "package", "--skip-license", "--allow-missing-repository",
         "--out", str(vsix)], timeout=380)
    assert vsix.stat().st_size > 50_000
    names = set(zipfile.ZipFile(vsix).namelist())
    for must in ("extension/package.json", "extension/out/src/extension.js", "extension/out/src/heatmap.js",
                 "extension/media/archive.js", "extension/media/archive.css", "extension/media/shim.js",
                 "extension/node_modules/vscode-languageclient/package.json", "extension/readme.md"):
        assert must in names, f"{must} not in the .vsix ({len(names)} files)"
    assert not any(n.startswith("extension/out/test/") or n.endswith(".ts") or "/src/extension.ts" in n
                   for n in names), "tests and sources stay out of the .vsix"
    assert not any("node_modules/typescript/" in n or "node_modules/playwright-core/" in n for n in names), \
        "dev dependencies stay out of the .vsix"


@pytest.mark.skipif(NVIM is None, reason=f"nvim missing: {SETUP}")
@pytest.mark.timeout(660)
def test_neovim_headless_optimize_and_apply(tmp_path):
    """Debian's Neovim (0.7: vim.lsp.start_client) with editors/nvim: code actions on the
    transpose example (the README's default: tuning finds a significant win on a CPU),
    :KfOptimize, kf/jobFinished, :KfApply changes the buffer (or, when the search found no
    significant variant, :KfApply reports that honestly and leaves the buffer alone)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    shutil.copy(os.path.join(REPO, "examples", "sycl", "transpose.cpp"), ws / "transpose.cpp")
    log = tmp_path / "nvim.log"
    env = {**os.environ, "KF_REPO": REPO, "KF_PYTHON": sys.executable, "KF_FILE": str(ws / "transpose.cpp"),
           "KF_KERNEL": "transpose", "KF_LOG": str(log), "KF_BUDGET": "8", "KF_EVAL_SECONDS": "0.2"}
    p = subprocess.run([NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-n", "-c",
                        f"luafile {os.path.join(NVIM_DIR, 'test', 'kf_test.lua')}"],
                       cwd=str(ws), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=640)
    text = log.read_text() if log.exists() else "(no log)"
    assert p.returncode == 0 and "RESULT: PASS" in text, f"nvim exited {p.returncode}\n{text}\n--- nvim output ---\n{p.stdout[-5000:]}"
    print(text)
