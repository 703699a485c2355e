import assert from "node:assert/strict";
import { test } from "node:test";

import * as H from "../../src/heatmap";
import { archivePage, embedJson, makeNonce } from "../../src/webviewHtml";
import { fixture, synthetic } from "../common";

function model(data: unknown): H.ArchiveModel {
  const m = H.parseArchive(data);
  assert.ok(typeof m !== "string", typeof m === "string" ? m : "");
  return m;
}

test("the recorded archive (kf archive --json) parses", () => {
  const m = model(fixture("transpose-archive.json"));
  assert.equal(m.kernel, "transpose");
  assert.deepEqual(m.dims, [4, 4, 4]);
  assert.deepEqual(m.axes.map((a) => a.name), ["memory", "compute", "parallelism"]);
  assert.ok(m.axes.every((a) => a.levels.length === 4));
  assert.ok(m.cells.length >= 1);
  assert.ok(m.finals.length >= 1);
  assert.ok(m.bestSignificant, "the recorded transpose search found a significant variant");
  assert.equal(m.bestId, m.finals[0].variant);
  assert.ok(m.history.length > 1 && m.history[m.history.length - 1][1] > 1);
  for (let i = 1; i < m.history.length; i++) {
    assert.ok(m.history[i][1] >= m.history[i - 1][1], "history is non-decreasing");
  }
  const s = model(fixture("saxpy-archive.json"));
  assert.equal(s.kernel, "saxpy");
});

test("bad input gives a reason, not an exception", () => {
  assert.equal(H.parseArchive(null), "archive: expected a JSON object");
  assert.equal(H.parseArchive({}), "archive: no `axes`");
  assert.equal(H.parseArchive({ axes: [{ name: "x" }] }), "archive: every axis needs `name` and `levels`");
  const m = model({ axes: [{ name: "a", levels: ["0", "1"] }], cells: [{ cell: [5], variant: "x" }, { cell: [1], variant: "y", speedup: 2 }] });
  assert.deepEqual(m.cells.map((c) => c.variant), ["y"], "cells outside the grid are skipped");
  assert.equal(m.bestId, "y");
  assert.equal(m.bestSignificant, false);
});

test("slices: two axes as the grid, the third as a selector", () => {
  const m = model(synthetic());
  const v = H.defaultView(m);
  assert.equal(v.rowAxis, 0);
  assert.equal(v.colAxis, 1);
  assert.deepEqual(H.sliceAxes(m, v), [2]);
  const g0 = H.sliceGrid(m, { ...v, fixed: { 2: 0 } });
  assert.equal(g0.length, 4);
  assert.equal(g0[0].length, 4);
  assert.equal(g0[1][0]?.speedup, 1.6);
  assert.equal(g0[2][1]?.speedup, 3.1);
  assert.equal(g0[0][1], null);
  const g1 = H.sliceGrid(m, { ...v, fixed: { 2: 1 } });
  assert.equal(g1[0][1]?.speedup, 0.7);
  assert.deepEqual(H.levelCounts(m, v, 2), [3, 1, 1, 0]);
  // rows x columns swapped
  const sw = H.sliceGrid(m, { rowAxis: 1, colAxis: 0, fixed: { 2: 0 } });
  assert.equal(sw[1][2]?.speedup, 3.1);
  // compute x parallelism, memory as the selector
  const cp = H.sliceGrid(m, { rowAxis: 1, colAxis: 2, fixed: { 0: 3 } });
  assert.equal(cp[2][2]?.speedup, 1.9);
});

test("the grid HTML carries the variants and marks the best", () => {
  const m = model(synthetic());
  const html = H.gridHtml(m, { rowAxis: 0, colAxis: 1, fixed: { 2: 0 } }, "synthetic0".padEnd(64, "0"));
  assert.equal((html.match(/<td class="filled/g) ?? []).length, 3);
  assert.equal((html.match(/<td class="empty"/g) ?? []).length, 13);
  assert.match(html, /data-variant="synthetic1[0]+" data-cell="2,1,0"/);
  assert.match(html, /class="filled selected"/);
  assert.match(html, /3\.10x/);
  assert.ok(html.includes("memory \\ compute"));
  assert.match(H.finalsHtml(m), /class="final best"/);
  assert.match(H.detailsHtml(m, m.finals[0].variant), /WG_/);
  assert.match(H.detailsHtml(m, null), /Click a cell/);
  assert.equal(H.escapeHtml(`<a href="x">&'`), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
});

test("heat colours: red below 1x, neutral at 1x, green above", () => {
  assert.equal(H.heatColor(null), "transparent");
  assert.equal(H.heatColor(1), "hsl(130, 15%, 48%)");
  assert.match(H.heatColor(0.5), /^hsl\(0, /);
  assert.match(H.heatColor(3), /^hsl\(130, /);
  assert.equal(H.heatColor(100), H.heatColor(4), "saturates");
});

test("history plot is an inline SVG step line", () => {
  const svg = H.historySvg([[0, 1], [2, 1.4], [5, 2.3]]);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, /<path d="M44\.0,[0-9.]+ H[0-9.]+ V[0-9.]+ H[0-9.]+ V[0-9.]+ H408\.0" class="best"\/>/);
  assert.equal((svg.match(/<circle /g) ?? []).length, 3);
  assert.match(H.historySvg([]), /no evaluation history/);
  assert.deepEqual(H.parseHistory([[3, 1.2], { evaluation: 1, best: 1.5 }, { done: 5, bestSpeedup: 1.1 }, "x"]),
    [[1, 1.5], [3, 1.5], [5, 1.5]]);
});

test("webview messages are validated", () => {
  assert.ok(H.isWebviewMessage({ type: "select", variant: "v", cell: [0, 0, 0] }));
  assert.ok(H.isWebviewMessage({ type: "apply", variant: "v" }));
  assert.ok(!H.isWebviewMessage({ type: "apply", variant: "" }));
  assert.ok(!H.isWebviewMessage({ type: "run", command: "rm" }));
  assert.ok(!H.isWebviewMessage("select"));
});

test("the page: strict CSP, nonce'd scripts, data embedded safely", () => {
  const nonce = makeNonce(() => 0.5);
  assert.equal(nonce.length, 32);
  const html = archivePage({ cspSource: "vscode-resource:", nonce, styleUri: "s.css", shimUri: "shim.js", heatmapUri: "h.js", scriptUri: "a.js" },
    { evil: "</script><script>alert(1)</script>" });
  assert.match(html, /default-src 'none'/);
  assert.match(html, new RegExp(`script-src 'nonce-${nonce}'`));
  assert.equal((html.match(new RegExp(`<script nonce="${nonce}"`, "g")) ?? []).length, 3);
  assert.ok(!html.includes("</script><script>alert"));
  assert.equal((JSON.parse(embedJson({ a: "</script>&" })) as { a: string }).a, "</script>&");
  assert.ok(!/https?:\/\//.test(html.replace(/http-equiv/, "")), "nothing is fetched from the network");
});
