import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import * as A from "../../src/args";
import { ROOT } from "../common";

const uri = "file:///w/saxpy.cpp";

test("command arguments are one camelCase object", () => {
  assert.deepEqual(A.optimizeArgs(uri, "saxpy"), { uri, kernel: "saxpy" });
  assert.deepEqual(A.optimizeArgs(uri, "saxpy", 3, 0.1), { uri, kernel: "saxpy", budget: 3, evalSeconds: 0.1 });
  assert.deepEqual(A.optimizeArgs(uri, "saxpy", 0, 100), { uri, kernel: "saxpy" }, "out-of-range values are left to the server's defaults");
  assert.deepEqual(A.stopArgs({ job: "j1" }), { job: "j1" });
  assert.deepEqual(A.stopArgs({ uri, kernel: "k" }), { uri, kernel: "k" });
  assert.deepEqual(A.applyArgs(uri, "k"), { uri, kernel: "k" });
  assert.deepEqual(A.applyArgs(uri, "k", "abc", 4), { uri, kernel: "k", variant: "abc", version: 4 });
});

test("the kernel at the cursor comes from the server's code actions", () => {
  const actions = [
    { title: "Optimize kernel saxpy", kind: "", command: { title: "Optimize", command: "kf.optimize", arguments: [{ uri, kernel: "saxpy" }] } },
    { title: "Benchmark kernel saxpy", command: { title: "b", command: "kf.benchmark", arguments: [{ uri, kernel: "saxpy" }] } },
  ];
  assert.deepEqual(A.kernelFromActions(actions), { uri, kernel: "saxpy" });
  assert.deepEqual(A.kernelFromActions([{ title: "x", command: "kf.optimize", arguments: [{ uri, kernel: "k2" }] }]), { uri, kernel: "k2" });
  assert.equal(A.kernelFromActions([{ title: "other", command: { command: "clangd.fix", arguments: [{ uri, kernel: "x" }] } }]), null);
  assert.equal(A.kernelFromActions(null), null);
  assert.equal(A.kernelFromActions([{ title: "stop", command: { command: "kf.stop", arguments: [{ job: "j" }] } }]), null);
  assert.equal(A.jobFromActions([{ title: "stop", command: { command: "kf.stop", arguments: [{ job: "j" }] } }]), "j");
});

test("lens fallback and identifier under the cursor", () => {
  const lens = (line: number, kernel: string): { range: { start: { line: number } }; command: unknown } =>
    ({ range: { start: { line } }, command: { command: "kf.optimize", arguments: [{ uri, kernel }] } });
  assert.deepEqual(A.kernelFromLenses([lens(3, "a"), lens(20, "b")], 25), { uri, kernel: "b" });
  assert.deepEqual(A.kernelFromLenses([lens(3, "a"), lens(20, "b")], 10), { uri, kernel: "a" });
  assert.equal(A.kernelFromLenses([lens(3, "a")], 1), null);
  assert.equal(A.identifierAt("void saxpy(const float* x)", 7), "saxpy");
  assert.equal(A.identifierAt("void saxpy(const float* x)", 10), "saxpy");
  assert.equal(A.identifierAt("   ", 1), null);
});

test("kf-variant URIs round-trip", () => {
  const p = A.variantUriParts({ uri, kernel: "saxpy", variant: "0123456789abcdef" }, "/w/saxpy.cpp");
  assert.equal(p.scheme, "kf-variant");
  assert.equal(p.path, "/w/saxpy.cpp.saxpy.01234567.cpp", "keeps the extension: the diff gets C++ highlighting");
  assert.deepEqual(A.parseVariantQuery(p.query), { uri, kernel: "saxpy", variant: "0123456789abcdef" });
  const best = A.variantUriParts({ uri, kernel: "saxpy" }, "/w/saxpy.cpp");
  assert.deepEqual(A.parseVariantQuery(best.query), { uri, kernel: "saxpy", variant: undefined });
  assert.deepEqual(A.variantTextParams({ uri, kernel: "saxpy" }), { uri, kernel: "saxpy" });
  assert.equal(A.parseVariantQuery("garbage"), null);
  assert.equal(A.variantDocumentText({ text: "whole file" }), "whole file");
  assert.match(A.variantDocumentText({ text: null, stale: true, region: "R" }), /changed since.*\nR$/);
  assert.equal(A.variantDocumentText(null), "");
});

test("client-side commands never reuse the server's command ids", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { contributes: { commands: Array<{ command: string }> } };
  const ids = pkg.contributes.commands.map((c) => c.command);
  for (const id of ids) {
    assert.ok(!A.SERVER_COMMANDS.includes(id), `${id} is a server command`);
    assert.match(id, /^kf\.client\./);
  }
  const src = readFileSync(join(ROOT, "src", "extension.ts"), "utf8");
  for (const m of src.matchAll(/register(?:Command)?\("([^"]+)"/g)) {
    assert.ok(ids.includes(m[1]), `${m[1]} registered but not contributed`);
  }
  // command ids live in the language server's commands.py, job notifications in the shared jobs.py
  const py = readFileSync(join(ROOT, "..", "..", "kf_lsp", "lsp", "commands.py"), "utf8")
    + readFileSync(join(ROOT, "..", "..", "kf_lsp", "core", "jobs.py"), "utf8");
  for (const id of A.SERVER_COMMANDS) {
    assert.ok(py.includes(`"${id}"`), `${id} is not a server command any more`);
  }
  for (const m of [A.VARIANT_TEXT, A.SET_API_KEY_NOTIFICATION, "kf/jobStarted", "kf/jobProgress", "kf/jobFinished"]) {
    assert.ok(py.includes(`"${m}"`), `${m} is not a server method any more`);
  }
});

test("pure modules do not import vscode", () => {
  for (const f of ["args", "heatmap", "settings", "status", "webviewHtml"]) {
    const src = readFileSync(join(ROOT, "src", `${f}.ts`), "utf8");
    assert.ok(!/from "vscode"|require\("vscode"\)/.test(src), `${f}.ts imports vscode`);
  }
  const heat = readFileSync(join(ROOT, "src", "heatmap.ts"), "utf8");
  assert.ok(!/^import /m.test(heat), "heatmap.ts has no imports (the webview loads it as-is)");
});
