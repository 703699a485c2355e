// JSON-RPC smoke test: the real `kf serve` (Python) driven over stdio by vscode-jsonrpc,
// the transport vscode-languageclient itself uses, with the client's own pure modules
// (settings mapping, argument building, job tracking). Needs the repo's .venv.
//   initialize -> didOpen (a copy of examples/sycl/saxpy.cpp) -> codeAction -> kf.optimize
//   (budget 3, evalSeconds 0.1) -> window/workDoneProgress/create (answered) -> $/progress
//   begin/report/end -> kf/jobFinished -> kf/variantText -> shutdown/exit.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { test } from "node:test";

import { createMessageConnection, type MessageConnection, ResponseError, StreamMessageReader, StreamMessageWriter } from "vscode-jsonrpc/node";

import * as A from "../../src/args";
import { REPO } from "../common";
import { serverCommand, toServerSettings } from "../../src/settings";
import { finishedMessage, JOB_FINISHED, JOB_PROGRESS, JOB_STARTED, JobTracker, statusText, type TrackedJob } from "../../src/status";

const PYTHON = process.env.KF_PYTHON ?? join(REPO, ".venv", "bin", "python");
const FAKE_KEY = "sk-kf-smoke-test-not-a-real-key";

interface Progress { token: string; value: { kind: string; message?: string; percentage?: number; title?: string } }

function waitFor<T>(what: string, ms: number, check: () => T | undefined | null | false, log: () => string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = (): void => {
      const v = check();
      if (v) {
        resolve(v);
      } else if (Date.now() - t0 > ms) {
        reject(new Error(`timed out after ${ms} ms waiting for ${what}\n--- server stderr (tail) ---\n${log()}`));
      } else {
        setTimeout(tick, 50);
      }
    };
    tick();
  });
}

test("kf serve over vscode-jsonrpc: code action -> optimize -> progress -> result", { timeout: 300_000 }, async () => {
  const ws = mkdtempSync(join(tmpdir(), "kf-smoke-"));
  const file = join(ws, "saxpy.cpp");
  copyFileSync(join(REPO, "examples", "sycl", "saxpy.cpp"), file);
  const text = readFileSync(file, "utf8");
  const uri = pathToFileURL(file).href;

  const cmd = serverCommand(PYTHON, ["--log-level", "INFO"]);
  const proc: ChildProcess = spawn(cmd.command, cmd.args, { cwd: ws, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr?.on("data", (d: Buffer) => { stderr += d.toString(); });
  const tail = (): string => stderr.split("\n").slice(-40).join("\n");
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  assert.ok(proc.stdout && proc.stdin);
  const conn: MessageConnection = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));

  // the client's settings object, with client-only keys the mapping must leave out
  const { settings } = toServerSettings({
    server: { pythonPath: PYTHON }, notifyAfterSeconds: 10, budget: { evaluations: 3 }, evalSeconds: 0.1, watch: false,
    llm: { baseUrl: null, model: "" },
  });
  const created: string[] = [];
  const progress: Progress[] = [];
  const messages: string[] = [];
  const configPulls: unknown[] = [];
  const tracker = new JobTracker();
  const finished: TrackedJob[] = [];
  conn.onRequest("window/workDoneProgress/create", (p: { token: string }) => { created.push(String(p.token)); return null; });
  conn.onRequest("workspace/configuration", (p: { items: Array<{ section?: string }> }) => {
    configPulls.push(p);
    return p.items.map((i) => (i.section === "kf" ? settings : null));
  });
  conn.onRequest("client/registerCapability", () => null);
  conn.onRequest("workspace/codeLens/refresh", () => null);
  conn.onRequest("workspace/inlayHint/refresh", () => null);
  conn.onRequest("workspace/applyEdit", () => ({ applied: true }));
  conn.onRequest("window/showMessageRequest", () => null);
  conn.onNotification("$/progress", (p: Progress) => { progress.push(p); });
  conn.onNotification("window/showMessage", (p: { message: string }) => { messages.push(p.message); });
  conn.onNotification("window/logMessage", () => undefined);
  conn.onNotification("textDocument/publishDiagnostics", () => undefined);
  for (const m of [JOB_STARTED, JOB_PROGRESS, JOB_FINISHED]) {
    conn.onNotification(m, (p: unknown) => {
      const j = tracker.update(m, p);
      if (j && m === JOB_FINISHED) {
        finished.push(j);
      }
    });
  }
  conn.listen();

  try {
    const init = await conn.sendRequest<{ capabilities: { executeCommandProvider?: { commands: string[] }; codeActionProvider?: unknown } }>("initialize", {
      processId: process.pid,
      clientInfo: { name: "kf-smoke (vscode-jsonrpc)" },
      rootUri: pathToFileURL(ws).href,
      workspaceFolders: [{ uri: pathToFileURL(ws).href, name: "ws" }],
      initializationOptions: { kf: settings },
      capabilities: {
        window: { workDoneProgress: true, showMessage: {} },
        workspace: { configuration: true, workspaceFolders: true, applyEdit: true, codeLens: { refreshSupport: true },
          workspaceEdit: { documentChanges: true } },
        textDocument: {
          synchronization: { didSave: true }, codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ["", "quickfix", "refactor.rewrite"] } } },
          codeLens: {}, hover: {}, publishDiagnostics: {},
        },
      },
    });
    const commands = init.capabilities.executeCommandProvider?.commands ?? [];
    for (const c of A.SERVER_COMMANDS) {
      assert.ok(commands.includes(c), `the server does not offer ${c} (offers ${commands.join(", ")})`);
    }
    await conn.sendNotification("initialized", {});
    await conn.sendNotification("textDocument/didOpen", { textDocument: { uri, languageId: "cpp", version: 1, text } });
    await conn.sendNotification(A.SET_API_KEY_NOTIFICATION, { apiKey: FAKE_KEY });

    const line = text.split("\n").findIndex((l) => l.startsWith("void saxpy"));
    assert.ok(line > 0);
    const actions = await conn.sendRequest<Array<{ title: string }>>("textDocument/codeAction", {
      textDocument: { uri }, range: { start: { line, character: 6 }, end: { line, character: 6 } }, context: { diagnostics: [] },
    });
    const titles = actions.map((a) => a.title);
    assert.ok(titles.includes("Optimize kernel saxpy"), `code actions: ${JSON.stringify(titles)}`);
    const ref = A.kernelFromActions(actions);
    assert.deepEqual(ref, { uri, kernel: "saxpy" });

    const t0 = Date.now();
    const started = await conn.sendRequest<{ jobId: string; state: string; token: string | null }>("workspace/executeCommand", {
      command: A.OPTIMIZE, arguments: [A.optimizeArgs(ref.uri, ref.kernel, 3, 0.1)],
    });
    assert.ok(Date.now() - t0 < 5000, "kf.optimize returns at once");
    assert.equal(typeof started.jobId, "string", JSON.stringify(started));
    console.log(`optimize started: ${JSON.stringify(started)}`);

    const done = await waitFor("kf/jobFinished", 240_000, () => finished.find((j) => j.jobId === started.jobId), tail);
    console.log(`finished: ${JSON.stringify({ state: done.state, done: done.done, budget: done.budget, best: done.best ?? null })}`);
    assert.equal(done.state, "done", `job ended ${done.state}: ${done.error ?? done.message}\n${tail()}`);
    assert.equal(done.budget, 3);
    assert.ok(done.done >= 1 && done.done <= 3, `evaluations ${done.done}`);
    assert.equal(statusText([...tracker.jobs.values()]).busy, false, "the status bar is idle again");
    console.log(`status-bar text after: ${statusText([...tracker.jobs.values()]).text}; message: ${finishedMessage(done).text}`);

    // progress: created by the server (answered above), then begin ... end on that token
    assert.ok(started.token, "a work-done token (the client announced window.workDoneProgress)");
    assert.ok(created.includes(started.token), `window/workDoneProgress/create for ${started.token}: ${JSON.stringify(created)}`);
    await waitFor("$/progress end", 5000, () => progress.some((p) => p.token === started.token && p.value.kind === "end"), tail);
    const kinds = progress.filter((p) => p.token === started.token).map((p) => p.value.kind);
    console.log(`$/progress kinds: ${kinds.join(",")}`);
    assert.equal(kinds[0], "begin");
    assert.equal(kinds[kinds.length - 1], "end");
    assert.ok(kinds.includes("report"), "at least one report between begin and end");
    assert.ok((tracker.jobs.get(started.jobId)?.history.length ?? 0) >= 1, "kf/jobProgress carried the best speedup");

    // the variant text (what the kf-variant: diff shows), or the honest reason there is none
    const best = done.best && done.best.significant !== false && done.best.operator !== "reference" ? done.best : null;
    try {
      const vt = await conn.sendRequest<Record<string, unknown>>(A.VARIANT_TEXT, A.variantTextParams({ uri, kernel: "saxpy" }));
      assert.ok(best, `kf/variantText answered without a best variant: ${JSON.stringify(vt).slice(0, 200)}`);
      const doc = A.variantDocumentText(vt);
      assert.ok(doc.includes("void saxpy") && doc !== text, "the variant's text is the file with the variant applied");
      console.log(`kf/variantText: variant ${String(vt.variant).slice(0, 12)} speedup ${String(vt.speedup)}`);
    } catch (e) {
      if (!(e instanceof ResponseError)) {
        throw e;
      }
      assert.equal(best, null, `kf/variantText failed although a best variant exists: ${e.message}`);
      assert.equal(e.code, -32602);
      assert.match(e.message, /no verified faster variant of saxpy/);
      console.log(`kf/variantText: ${e.message} (no significant variant in 3 evaluations)`);
    }
    const jobs = await conn.sendRequest<{ jobs: Array<{ jobId: string }> }>("workspace/executeCommand", { command: A.LIST_JOBS, arguments: [{}] });
    assert.ok(jobs.jobs.some((j) => j.jobId === started.jobId));
    assert.ok(configPulls.length >= 1, "the server pulled its `kf` section (workspace/configuration)");
  } finally {
    await conn.sendRequest("shutdown").catch(() => undefined);
    await conn.sendNotification("exit").catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([exited, new Promise<string>((r) => { timer = setTimeout(() => r("timeout"), 15000); })]);
    clearTimeout(timer);
    if (code === "timeout") {
      proc.kill("SIGKILL");
    }
    conn.dispose();
    rmSync(ws, { recursive: true, force: true });
    assert.equal(code, 0, `kf serve exit code ${String(code)}\n${tail()}`);
  }
  assert.ok(!stderr.includes(FAKE_KEY), "the API key never reaches the server's log");
  assert.ok(!messages.some((m) => m.includes(FAKE_KEY)));
});
