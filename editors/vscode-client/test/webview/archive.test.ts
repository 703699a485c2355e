/// <reference lib="dom" />
// The archive webview page in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): the very HTML the extension serves (webviewHtml.archivePage), with
// file: URLs instead of webview URIs and a stub acquireVsCodeApi that records the
// messages the page posts. Data: the archive recorded from a real run (test/fixtures),
// then a synthetic multi-cell archive pushed with postMessage like the extension does.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";

import { chromium } from "playwright-core";

import { archivePage, makeNonce } from "../../src/webviewHtml";
import { fixture, ROOT, synthetic } from "../common";

const CHROMIUM = process.env.KF_CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];

type Posted = { type: string; variant?: string; cell?: number[] };

test("archive webview: renders the grid, a click selects and applies a variant", { timeout: 120_000 }, async () => {
  const artefacts = process.env.KF_ARTEFACTS ?? join(tmpdir(), "kf-artefacts");
  mkdirSync(artefacts, { recursive: true });
  const dir = mkdtempSync(join(tmpdir(), "kf-webview-"));
  const url = (...p: string[]): string => pathToFileURL(join(ROOT, ...p)).href;
  const recorded = fixture("transpose-archive.json");
  const page0 = archivePage({
    cspSource: "file:", nonce: makeNonce(), styleUri: url("media", "archive.css"), shimUri: url("media", "shim.js"),
    heatmapUri: url("out", "src", "heatmap.js"), scriptUri: url("media", "archive.js"),
  }, recorded, "kf archive: transpose");
  const html = join(dir, "archive.html");
  writeFileSync(html, page0);

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 760 } });
    const problems: string[] = [];
    const remote: string[] = [];
    page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") { problems.push(`${m.type()}: ${m.text()}`); } });
    page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
    await page.route("**/*", async (route) => {
      const u = route.request().url();
      if (u.startsWith("file:")) {
        await route.continue();
      } else {
        remote.push(u);
        await route.abort();
      }
    });
    await page.addInitScript(() => {
      const w = window as unknown as { __posted: unknown[]; __state: unknown; acquireVsCodeApi: () => unknown };
      w.__posted = [];
      w.acquireVsCodeApi = () => ({
        postMessage: (m: unknown) => { w.__posted.push(m); },
        getState: () => w.__state,
        setState: (s: unknown) => { w.__state = s; },
      });
    });
    const posted = (): Promise<Posted[]> => page.evaluate(() => (window as unknown as { __posted: Posted[] }).__posted);

    await page.goto(pathToFileURL(html).href);
    await page.waitForSelector("td.filled", { timeout: 10_000 });
    // the recorded run: a 4x4 grid (memory x compute) for one parallelism level
    assert.equal(await page.locator("table.kf-grid tbody tr").count(), 4);
    assert.equal(await page.locator("table.kf-grid tbody td").count(), 16);
    const cells = recorded.cells as Array<{ variant: string; cell: number[]; speedup: number }>;
    assert.equal(await page.locator("td.filled").count(), cells.filter((c) => c.cell[2] === cells[0].cell[2]).length);
    assert.match(await page.locator("#kf-header").innerText(), /transpose/);
    assert.equal(await page.locator(".levels button").count(), 4, "the third axis is a selector of 4 levels");
    assert.equal(await page.locator("svg.kf-history path.best").count(), 1, "best speedup over evaluations is plotted");
    assert.ok(await page.locator("#kf-apply").isDisabled());
    assert.deepEqual((await posted()).map((m) => m.type), ["ready"]);

    // click the recorded elite: the page posts `select` with its variant and cell
    const first = page.locator("td.filled").first();
    const variant = await first.getAttribute("data-variant");
    assert.equal(variant, cells[0].variant);
    await first.click();
    await page.waitForSelector("td.filled.selected");
    let msgs = await posted();
    assert.deepEqual(msgs[msgs.length - 1], { type: "select", variant: cells[0].variant, cell: cells[0].cell });
    assert.match(await page.locator("#kf-details").innerText(), /WG_/);
    assert.ok(await page.locator("#kf-apply").isEnabled());
    await page.locator("#kf-apply").click();
    msgs = await posted();
    assert.deepEqual(msgs[msgs.length - 1], { type: "apply", variant: cells[0].variant });
    // the re-timed best (not an elite of the grid here) can be picked too
    const finals = recorded.finals as Array<{ variant: string; significant: boolean }>;
    await page.locator("button.final.best").click();
    msgs = await posted();
    assert.equal(msgs[msgs.length - 1].variant, finals.find((f) => f.significant)?.variant);
    const shot1 = join(artefacts, "kf-archive-recorded.png");
    await page.screenshot({ path: shot1, fullPage: true });
    console.log(`screenshot: ${shot1}`);

    // a multi-cell archive, sent like the extension does on refresh (postMessage `data`)
    await page.evaluate((data) => window.postMessage({ type: "data", data }, "*"), synthetic());
    await page.waitForFunction(() => document.querySelectorAll("td.filled").length === 3);
    assert.match((await page.locator(".levels button").allInnerTexts()).join("|"), /\(3\).*\(1\).*\(1\).*\(0\)/);
    await page.locator('.levels button[data-level="1"]').click();
    await page.waitForFunction(() => document.querySelectorAll("td.filled").length === 1);
    await page.locator("td.filled").click();
    msgs = await posted();
    assert.deepEqual(msgs[msgs.length - 1], { type: "select", variant: "synthetic2".padEnd(64, "0"), cell: [0, 1, 1] });
    // rows/columns can be any two axes
    await page.selectOption("#kf-cols", "2");
    await page.waitForFunction(() => document.querySelector("th.corner")?.textContent === "memory \\ parallelism");
    await page.locator('.levels button[data-level="0"]').click();
    const shot2 = join(artefacts, "kf-archive-synthetic.png");
    await page.screenshot({ path: shot2, fullPage: true });
    console.log(`screenshot: ${shot2}`);

    assert.deepEqual(remote, [], "nothing is fetched from the network");
    assert.deepEqual(problems, [], "no console errors (CSP violations included)");
  } finally {
    await browser.close();
  }
});
