/// <reference lib="dom" />
// The extension in a real VS Code: code-server (VS Code 1.139 for the browser, run by Node 24)
// with the packaged .vsix installed, driven in Debian's headless Chromium by playwright-core,
// against the real `kf serve` (KF_PYTHON) and the real SYCL backend on the CPU. A user's
// journey: open a kernel file, the Optimize lens appears; Optimize from the command palette
// shows a progress notification, its Cancel stops the search; Optimize from the lens runs a
// small search to its end; Apply from the finished message changes the file; the archive
// view opens; the output channel has the server's log lines at their own level.
// Env: KF_CODE_SERVER (code-server's out/node/entry.js), KF_NODE24 (the node that runs it),
// KF_VSIX, KF_PYTHON, KF_CHROMIUM, KF_ARTEFACTS (screenshots, the server log on failure).
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

import { chromium, type Locator, type Page } from "playwright-core";

import { REPO } from "../common";

const env = (name: string): string => {
  const v = process.env[name];
  assert.ok(v, `${name} is not set (tests/test_editor_clients.py sets it)`);
  return v;
};
const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const KERNEL = "transpose";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => (typeof a === "object" && a ? resolve(a.port) : reject(new Error("no port"))));
    });
  });
}

async function waitHttp(url: string, ms: number, log: () => string): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    try {
      const r = await fetch(url, { redirect: "manual" });
      if (r.status > 0) {
        return;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > ms) {
      throw new Error(`code-server did not answer at ${url} in ${ms} ms:\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Polls `probe` until it gives a value, for at most `ms` (a guard, not a pace: on a loaded
 * 2-core machine the workbench re-renders late). Fails with `what(last)` at the guard. */
async function until<T>(probe: () => Promise<T | undefined>, ms: number,
  what: (lastError: string) => string): Promise<T> {
  const t0 = Date.now();
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) {
        return v;
      }
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);  // a page mid-reload: ask again
    }
    if (Date.now() - t0 > ms) {
      throw new Error(what(last));
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

type Box = { y: number; height: number };

/** The Optimize lens and the kernel's `extern "C"` and name lines, measured in one pass of the
 * page (no re-render between them: VS Code replaces the lens elements whenever the server
 * sends lenses again); null for one that is not shown. */
async function lensLayout(page: Page): Promise<{ lens: Box | null; extern: Box | null; name: Box | null }> {
  return page.evaluate((kernel) => {
    const box = (e: Element | undefined): Box | null => {
      if (!e) {
        return null;
      }
      const r = e.getBoundingClientRect();
      return r.width > 0 && r.height > 0 ? { y: r.y, height: r.height } : null;
    };
    // the editor renders spaces as no-break spaces: compare text with whitespace normalized
    const text = (e: Element): string => (e.textContent ?? "").replace(/\s+/g, " ").trim();
    const lens = Array.from(document.querySelectorAll(".codelens-decoration a")).find((a) => text(a) === "Optimize");
    const lines = Array.from(document.querySelectorAll(".view-line"));
    return {
      lens: box(lens),
      extern: box(lines.find((l) => text(l).includes('extern "C"'))),
      name: box(lines.find((l) => text(l).includes(`void ${kernel}(`))),
    };
  }, KERNEL);
}

/** A notification toast whose text contains `text`. */
function toast(page: Page, text: string | RegExp): Locator {
  return page.locator(".notifications-toasts .notification-toast").filter({ hasText: text });
}

async function runCommand(page: Page, title: string): Promise<void> {
  await page.keyboard.press("F1");
  const input = page.locator(".quick-input-widget input");
  await input.waitFor({ state: "visible", timeout: 60_000 });
  await input.fill(`>${title}`);
  const row = page.locator(".quick-input-list .monaco-list-row").filter({ hasText: title }).first();
  await row.waitFor({ state: "visible", timeout: 60_000 });
  await input.press("Enter");
}

test("kf in code-server: lens, optimize (palette, lens), progress, cancel, apply, archive, log",
  { timeout: 900_000 }, async () => {
    const artefacts = process.env.KF_ARTEFACTS ?? join(tmpdir(), "kf-artefacts");
    mkdirSync(artefacts, { recursive: true });
    const root = mkdtempSync(join(tmpdir(), "kf-code-server-"));
    const [ext, user, ws, browserData] = ["ext", "user", "ws", "browser"].map((d) => join(root, d));
    for (const d of [ext, join(user, "User"), join(user, "Machine"), ws, browserData]) {
      mkdirSync(d, { recursive: true });
    }
    // the SYCL transpose example with a 2 x 2 tuning space (the reference and three
    // variants: a budget of 4 evaluates them all, so the search ends in one short run).
    // The original is deliberately slow, one work-item per work-group (about 30 ms against
    // 6-8 ms for 16 x 1, 1 x 16, 16 x 16): a 3-5x win that a loaded machine still verifies.
    // The example's own 4 x 16 is 2-6 ms; its 2x over 16 x 16 came out "within noise" at load
    // 5-8 (a preempted trial is as long as the kernel), so the search rightly claimed nothing.
    const file = join(ws, "transpose.cpp");
    copyFileSync(join(REPO, "examples", "sycl", "transpose.cpp"), file);
    const original = readFileSync(file, "utf8")
      .replace(/^#define WG_Y \d+$/m, "#define WG_Y 1")
      .replace(/^#define WG_X \d+$/m, "#define WG_X 1")
      .replace(/^\/\/ @kf tune WG_Y = .*$/m, "// @kf tune WG_Y = 1, 16")
      .replace(/^\/\/ @kf tune WG_X = .*$/m, "// @kf tune WG_X = 1, 16")
      // 1024 x 1024: the size is not the point (the search takes half the time)
      .replace(/^\/\/ @kf rows = 2048$/m, "// @kf rows = 1024")
      .replace(/^\/\/ @kf cols = 2048$/m, "// @kf cols = 1024");
    assert.match(original, /#define WG_Y 1\n[^]*#define WG_X 1\n[^]*@kf tune WG_Y = 1, 16\n[^]*@kf tune WG_X = 1, 16\n/);
    assert.match(original, /@kf rows = 1024\n[^]*@kf cols = 1024\n/);
    writeFileSync(file, original);
    // a C++ file without kernels: never synced to the server
    writeFileSync(join(ws, "main.cpp"), "#include <cstdio>\nint main() { std::puts(\"hi\"); }\n");
    const settings = JSON.stringify({
      "kf.server.pythonPath": env("KF_PYTHON"),
      "kf.budget.evaluations": 4,
      // 0.5 s a measurement: enough trials that one preempted on a loaded machine does not
      // hide the work-group shape's real win
      "kf.evalSeconds": 0.5,
      "kf.notifyAfterSeconds": 0,
      "kf.trace.server": "verbose",
      "security.workspace.trust.enabled": false,
      "workbench.startupEditor": "none",
      "telemetry.telemetryLevel": "off",
      "extensions.autoCheckUpdates": false,
      "extensions.autoUpdate": false,
      "update.mode": "none",
      "workbench.tips.enabled": false,
      "chat.disableAIFeatures": true,
      "workbench.secondarySideBar.defaultVisibility": "hidden",
    }, null, 2);
    // the user's settings, and the same as the remote machine's (code-server's extension host
    // reads those from disk itself)
    writeFileSync(join(user, "User", "settings.json"), settings);
    writeFileSync(join(user, "Machine", "settings.json"), settings);

    const node = env("KF_NODE24");
    const entry = env("KF_CODE_SERVER");
    const config = join(root, "config.yaml");
    const common = ["--config", config, "--user-data-dir", user, "--extensions-dir", ext];
    const installed = execFileSync(node, [entry, ...common, "--install-extension", env("KF_VSIX")], { encoding: "utf8" });
    assert.match(installed, /successfully installed/, installed);

    const port = await freePort();
    let log = "";
    const cs: ChildProcess = spawn(node, [entry, ...common, "--auth", "none", "--bind-addr", `127.0.0.1:${port}`,
      "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust", ws],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, KF_ARTEFACTS: artefacts } });
    cs.stdout?.on("data", (d: Buffer) => { log += d.toString(); });
    cs.stderr?.on("data", (d: Buffer) => { log += d.toString(); });
    const browser = await chromium.launchPersistentContext(browserData, {
      executablePath: env("KF_CHROMIUM"), headless: true, args: FLAGS, viewport: { width: 1400, height: 900 },
    });
    const page = browser.pages()[0] ?? await browser.newPage();
    const shot = async (name: string): Promise<void> => {
      await page.screenshot({ path: join(artefacts, `code-server-${name}.png`) }).catch(() => undefined);
    };
    let step = "start";
    try {
      await waitHttp(`http://127.0.0.1:${port}/healthz`, 60_000, () => log);
      step = "workbench";
      await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(ws)}`);
      await page.locator(".monaco-workbench").waitFor({ timeout: 120_000 });

      step = "open a C++ file without kernels, then the kernel file";
      await page.locator('.monaco-list-row[aria-label^="main.cpp"]').first().click({ timeout: 60_000 });
      await page.locator(".tab", { hasText: "main.cpp" }).first().waitFor({ timeout: 30_000 });
      await page.locator('.monaco-list-row[aria-label^="transpose.cpp"]').first().click({ timeout: 60_000 });
      await page.locator(".monaco-editor .view-lines").first().waitFor({ timeout: 30_000 });
      step = "the Optimize lens";
      await page.locator(".codelens-decoration a", { hasText: /^Optimize$/ }).first().waitFor({ timeout: 180_000 });
      // the lens sits between the `extern "C"` line and the kernel's name line: on the name's line.
      // Measured until all three are shown at once (the lens element is replaced when the server
      // sends lenses again, e.g. after the file's first analysis), then their order is checked.
      let seen: Awaited<ReturnType<typeof lensLayout>> | undefined;
      const layout = await until(async () => {
        seen = await lensLayout(page);
        return seen.lens && seen.extern && seen.name ? seen : undefined;
      }, 120_000, (e) => `the lens and the kernel's lines never shown together: ${JSON.stringify(seen)} ${e}`);
      await shot("1-lens");
      const { lens: lensBox, extern: externBox, name: nameBox } = layout;
      assert.ok(lensBox && nameBox && externBox && externBox.y < lensBox.y && lensBox.y < nameBox.y,
        `the lens is on the name line: lens ${JSON.stringify(lensBox)}, extern ${JSON.stringify(externBox)}, name ${JSON.stringify(nameBox)}`);

      // the cursor in the kernel, then kf: Optimize kernel at cursor from the palette
      step = "optimize from the command palette";
      await page.locator(".view-line", { hasText: "void transpose(" }).first().click();
      await runCommand(page, "kf: Optimize kernel at cursor");
      const running = toast(page, `kf: optimizing ${KERNEL}`);
      await running.first().waitFor({ timeout: 60_000 });
      // its message ("0/4 evaluations") may come a moment after its title
      await running.filter({ hasText: /\d+\/\d+ evaluations/ }).first().waitFor({ timeout: 60_000 });
      await shot("2-progress");
      step = "cancel from the notification";
      await running.first().getByRole("button", { name: "Cancel" }).click();
      await running.first().waitFor({ state: "detached", timeout: 60_000 });
      // the end is announced ("kf: transpose stopped after N evaluations: ..."), the lens is back
      const stopped = toast(page, `kf: ${KERNEL} stopped`);
      await stopped.first().waitFor({ timeout: 120_000 });
      await page.locator(".codelens-decoration a", { hasText: /^Optimize$/ }).first().waitFor({ timeout: 120_000 });
      await shot("3-cancelled");
      await stopped.first().hover();
      await stopped.first().locator(".codicon-notifications-clear").first().click();
      await stopped.first().waitFor({ state: "detached", timeout: 60_000 });

      step = "optimize from the lens, to its end";
      await page.locator(".codelens-decoration a", { hasText: /^Optimize$/ }).first().click();
      await page.locator(".codelens-decoration a", { hasText: /^(Optimizing|Queued)/ }).first().waitFor({ timeout: 60_000 });
      await toast(page, `kf: optimizing ${KERNEL}`).first().waitFor({ timeout: 60_000 });
      await shot("4-optimizing");
      const done = toast(page, `kf: ${KERNEL} finished`);
      await done.first().waitFor({ timeout: 600_000 });
      const doneText = await done.first().innerText();
      await shot("5-finished");
      assert.match(doneText, /faster variant/, `the search's message: ${doneText}`);
      assert.doesNotMatch(doneText, /no verified/, `no significant variant in this run: ${doneText}`);

      step = "apply";
      const lines = page.locator(".editor-instance .monaco-editor .view-lines").first();
      const shown = await lines.innerText();
      await done.first().getByRole("button", { name: "Apply" }).click();
      // the edit lands in the editor; VS Code saves a file an applied workspace edit touched
      // (files.refactoring.autoSave), else the test saves it
      await page.waitForFunction((before) => {
        const el = document.querySelector<HTMLElement>(".editor-instance .monaco-editor .view-lines");
        return !!el && el.innerText !== before;
      }, shown, { timeout: 60_000 });
      const saved = await until(async () => {
        if (await page.locator(".tab.active.dirty").count() > 0) {
          await page.locator(".view-line", { hasText: "void transpose(" }).first().click();
          await page.keyboard.press("Control+S");
        }
        // a save truncates the file before writing it: an empty read is the save in progress
        const now = readFileSync(file, "utf8");
        return now !== original && now.includes("void transpose(") ? now : undefined;
      }, 120_000, (e) => `Apply changed the file on disk (still the original) ${e}`);
      assert.match(saved, /#define WG_Y (1|16)\n[^]*#define WG_X (1|16)\n/);
      assert.doesNotMatch(saved, /#define WG_Y 1\n[^]*#define WG_X 1\n/, "the applied variant is not the original's shape");
      assert.ok(saved.includes("void transpose("), "the kernel is still there");
      await shot("6-applied");

      step = "the archive view";
      await runCommand(page, "kf: Show archive");
      await page.locator(".tab", { hasText: `kf archive: ${KERNEL}` }).first().waitFor({ timeout: 120_000 });
      const frame = page.frameLocator("iframe.webview.ready").frameLocator("iframe");
      await frame.locator("body").filter({ hasText: /cells filled/ }).filter({ hasText: KERNEL }).first()
        .waitFor({ timeout: 60_000 });
      await shot("7-archive");

      step = "the output channel";
      await runCommand(page, "kf: Show log");
      await page.locator(".part.panel").filter({ hasText: /kf/ }).first().waitFor({ timeout: 30_000 });
      await shot("8-log");
      // the channel's whole text: VS Code writes a log output channel to a file
      const found = execFileSync("find", [user, "-name", "kf.log", "-path", "*kernelforge.kf-vscode*"], { encoding: "utf8" })
        .split("\n").filter((l) => l);
      assert.equal(found.length, 1, `the kf output channel's file: ${found.join(", ")}`);
      const text = readFileSync(found[0], "utf8");
      writeFileSync(join(artefacts, "code-server-kf.log"), text);
      assert.match(text, /\[info\]\s+kf INFO kf\.lsp: /, "the server's INFO lines are [info]");
      assert.doesNotMatch(text, /\[error\]\s+kf INFO/, "no INFO line shown as [error]");
      assert.doesNotMatch(text, /unrecognized arguments/, "the server accepted its command line");
      // kf.trace.server: the LSP messages in "kf LSP trace"; main.cpp (open, no kernels) is
      // never sent to the server
      const traces = execFileSync("find", [user, "-name", "*kf LSP trace*"], { encoding: "utf8" }).split("\n").filter((l) => l);
      assert.equal(traces.length, 1, `the trace channel's file: ${traces.join(", ")}`);
      const trace = readFileSync(traces[0], "utf8");
      writeFileSync(join(artefacts, "code-server-kf-trace.log"), trace);
      assert.match(trace, /Sending notification 'textDocument\/didOpen'/, "kf.trace.server logged the LSP messages");
      assert.match(trace, /transpose\.cpp/);
      assert.doesNotMatch(trace, /main\.cpp/, "main.cpp (open, but no kernels) never reached the server");
    } catch (e) {
      await shot(`failed-${step.replace(/\W+/g, "-")}`);
      writeFileSync(join(artefacts, "code-server.log"), log);
      try {
        execFileSync("cp", ["-r", join(user, "logs"), join(artefacts, "code-server-logs")]);
      } catch {
        // no logs yet
      }
      throw new Error(`step "${step}": ${e instanceof Error ? e.message : String(e)}\n--- code-server (tail) ---\n` +
        log.split("\n").slice(-40).join("\n"));
    } finally {
      await browser.close().catch(() => undefined);
      // code-server ends its extension host, which ends `kf serve`; SIGKILL only past a guard
      if (cs.exitCode === null && cs.signalCode === null) {
        const exited = new Promise((r) => cs.once("exit", r));
        cs.kill("SIGTERM");
        const guard = setTimeout(() => cs.kill("SIGKILL"), 30_000);
        await exited;
        clearTimeout(guard);
      }
      rmSync(root, { recursive: true, force: true });
    }
  });
