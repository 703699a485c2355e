// The VS Code client of `kf serve`. Everything that does not need the `vscode` API lives in
// the pure modules (settings, status, args, heatmap, webviewHtml) and is unit-tested.
import { execFile } from "node:child_process";
import * as os from "node:os";
import * as vscode from "vscode";
import {
  CodeActionRequest,
  CodeLensRequest,
  DidChangeConfigurationNotification,
  DidOpenTextDocumentNotification,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  type Middleware,
  type ServerOptions,
} from "vscode-languageclient/node";

import * as A from "./args";
import { type ArchiveModel, isWebviewMessage, parseArchive } from "./heatmap";
import { ACTIVATION_GLOBS, isKernelFile, KERNEL_GLOB, SyncGate } from "./kernelFiles";
import { LineLeveler } from "./serverLog";
import { archiveCommand, serverCommand, type ServerCommand, toServerSettings } from "./settings";
import {
  finishedMessage, JOB_FINISHED, JOB_PROGRESS, JOB_STARTED, JobTracker, needsNotification, statusText, type TrackedJob,
} from "./status";
import { archivePage, makeNonce } from "./webviewHtml";

const SECRET_KEY = "kf.llmApiKey";
/** context keys of the `when` clauses (package.json) */
const CTX_KERNEL_FILE = "kf.kernelFile";
const CTX_RUNNING = "kf.serverRunning";

let client: LanguageClient | undefined;
const gate = new SyncGate();
let output: vscode.LogOutputChannel;
const tracker = new JobTracker();
const notified = new Set<string>();
const panels = new Map<string, ArchivePanel>();

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration("kf");
}

function plain(cfg: vscode.WorkspaceConfiguration): unknown {
  return JSON.parse(JSON.stringify(cfg)) as unknown;
}

function serverSettings(): Record<string, unknown> {
  const { settings, dropped } = toServerSettings(plain(config()));
  if (dropped.length) {
    output.appendLine(`kf: settings not sent to the server: ${dropped.join(", ")}`);
  }
  return settings;
}

function workspaceRoot(): string | undefined {
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}

function currentServerCommand(): ServerCommand {
  const c = config();
  return serverCommand(c.get<string>("server.pythonPath"), c.get<string[]>("server.extraArgs"), workspaceRoot(), os.homedir());
}

let traceChannel: vscode.LogOutputChannel | undefined;

/** The LSP trace (`kf.trace.server`) in a channel of its own, "kf LSP trace". The client
 *  logs it at the trace level, which a log channel hides unless the user lowers its level:
 *  here every line is shown (the setting is the switch). */
function lspTraceChannel(): vscode.LogOutputChannel {
  if (traceChannel) {
    return traceChannel;
  }
  const ch = vscode.window.createOutputChannel("kf LSP trace");
  const line = (m: string): void => ch.appendLine(m);
  const levels = new vscode.EventEmitter<vscode.LogLevel>();
  traceChannel = {
    name: ch.name,
    logLevel: vscode.LogLevel.Trace,
    onDidChangeLogLevel: levels.event,
    append: (v: string) => ch.append(v),
    appendLine: line,
    replace: (v: string) => ch.replace(v),
    clear: () => ch.clear(),
    show: (a?: boolean | vscode.ViewColumn) => ch.show(typeof a === "boolean" ? a : true),
    hide: () => ch.hide(),
    dispose: () => {
      levels.dispose();
      ch.dispose();
    },
    trace: line, debug: line, info: line, warn: line, error: line,
  };
  return traceChannel;
}

function isKernelDocument(doc: vscode.TextDocument): boolean {
  return doc.uri.scheme === "file" && isKernelFile(doc.uri.fsPath, doc.getText());
}

/** Only kernel files reach the server (SyncGate): C/C++ files without kernels are never
 *  opened there, and requests about them are answered here, empty. */
function syncMiddleware(): Middleware {
  const synced = (doc: vscode.TextDocument): boolean => gate.has(doc.uri.toString());
  return {
    didOpen: async (doc, next) => {
      if (gate.opened(doc.uri.toString(), doc.uri.fsPath, doc.getText()) === "pass") {
        await next(doc);
      }
    },
    didChange: async (event, next) => {
      const doc = event.document;
      const action = gate.changed(doc.uri.toString(), doc.uri.fsPath, doc.getText());
      if (action === "pass") {
        await next(event);
      } else if (action === "open" && client) {
        // it became a kernel file while edited: open it there with its whole text
        await client.sendNotification(DidOpenTextDocumentNotification.type,
          client.code2ProtocolConverter.asOpenTextDocumentParams(doc));
        updateContext(vscode.window.activeTextEditor);
      }
    },
    willSave: async (event, next) => (synced(event.document) ? next(event) : undefined),
    willSaveWaitUntil: (event, next) => (synced(event.document) ? next(event) : Promise.resolve([])),
    didSave: async (doc, next) => (synced(doc) ? next(doc) : undefined),
    didClose: async (doc, next) => {
      if (gate.closed(doc.uri.toString()) === "pass") {
        await next(doc);
      }
    },
    provideCodeLenses: (doc, token, next) => (synced(doc) ? next(doc, token) : []),
    provideHover: (doc, pos, token, next) => (synced(doc) ? next(doc, pos, token) : null),
    provideInlayHints: (doc, range, token, next) => (synced(doc) ? next(doc, range, token) : []),
    provideCodeActions: (doc, range, ctx, token, next) => (synced(doc) ? next(doc, range, ctx, token) : []),
  };
}

function makeClient(): LanguageClient {
  const cmd = currentServerCommand();
  // no `transport`: vscode-languageclient then spawns the command as given, over stdio
  // (TransportKind.stdio would append `--stdio`, which older `kf serve`s refuse)
  const serverOptions: ServerOptions = {
    command: cmd.command,
    args: cmd.args,
    options: { cwd: workspaceRoot() },
  };
  gate.reset();
  const clientOptions: LanguageClientOptions = {
    // files that may hold kernels; syncMiddleware lets only the kernel files through
    documentSelector: [{ scheme: "file", pattern: KERNEL_GLOB }],
    initializationOptions: { kf: serverSettings() },
    outputChannel: output,
    traceOutputChannel: lspTraceChannel(),
    // the server's log records at their own level (the default shows all stderr as [error])
    stdioOptions: {
      stdout: (input, channel) => {
        input.on("data", (d: Buffer) => channel.info(d.toString().trimEnd()));
      },
      stderr: (input, channel) => {
        const lines = new LineLeveler((level, line) => channel[level](line));
        input.setEncoding("utf8");
        input.on("data", (d: string) => lines.push(d));
        input.on("end", () => lines.end());
      },
    },
    middleware: {
      ...syncMiddleware(),
      workspace: {
        // the server pulls its `kf` section: answer with the mapped settings (no
        // client-only keys, never a secret)
        configuration: async (params, token, next) => {
          const raw: unknown = await next(params, token);
          if (!Array.isArray(raw)) {
            return raw as never;
          }
          const values: unknown[] = raw;
          return params.items.map((item, i): unknown => (item.section === "kf" ? serverSettings() : values[i]));
        },
      },
    },
  };
  const c = new LanguageClient("kf", "kf language server", serverOptions, clientOptions);
  for (const method of [JOB_STARTED, JOB_PROGRESS, JOB_FINISHED]) {
    c.onNotification(method, (payload: unknown) => {
      const job = tracker.update(method, payload);
      if (job && method === JOB_FINISHED) {
        void onFinished(job);
      }
    });
  }
  return c;
}

async function sendApiKey(context: vscode.ExtensionContext): Promise<void> {
  const key = await context.secrets.get(SECRET_KEY);
  if (key && client?.isRunning()) {
    await client.sendNotification(A.SET_API_KEY_NOTIFICATION, { apiKey: key });
  }
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  client = makeClient();
  try {
    await client.start();
    void vscode.commands.executeCommand("setContext", CTX_RUNNING, true);
  } catch (e) {
    const cmd = currentServerCommand();
    void vscode.window.showErrorMessage(
      `kf: could not start the language server (${cmd.command} ${cmd.args.join(" ")}): ${String(e)}. ` +
      "Set kf.server.pythonPath to the Python of a virtual environment with kf installed.", "Open settings",
    ).then((pick) => pick && vscode.commands.executeCommand("workbench.action.openSettings", "kf.server"));
    return;
  }
  await sendApiKey(context);
}

let starting: Promise<void> | undefined;

/** Start the server once: when the workspace has kernel files, at the first kernel file
 *  opened, or at the first kf command. */
function ensureStarted(context: vscode.ExtensionContext): Promise<void> {
  starting ??= startClient(context);
  return starting;
}

async function workspaceHasKernels(): Promise<boolean> {
  for (const glob of ACTIVATION_GLOBS) {
    const found = await vscode.workspace.findFiles(glob, "**/node_modules/**", 1);
    if (found.length > 0) {
      return true;
    }
  }
  return false;
}

function updateContext(editor: vscode.TextEditor | undefined): void {
  void vscode.commands.executeCommand("setContext", CTX_KERNEL_FILE, !!editor && isKernelDocument(editor.document));
}

function requireClient(): LanguageClient {
  if (!client || !client.isRunning()) {
    throw new Error("the kf language server is not running (kf: Restart language server)");
  }
  return client;
}

async function execute(command: string, arg: unknown): Promise<unknown> {
  return requireClient().sendRequest(ExecuteCommandRequest.type, { command, arguments: [arg] });
}

/** The kernel at the cursor: the server's own code actions there name it; else the lens
 *  above the cursor; else the identifier under the cursor. */
async function kernelAtCursor(editor: vscode.TextEditor | undefined): Promise<A.KernelRef | null> {
  if (!editor) {
    void vscode.window.showWarningMessage("kf: open a CUDA or SYCL file and put the cursor in a kernel");
    return null;
  }
  const c = requireClient();
  const doc = editor.document;
  const uri = c.code2ProtocolConverter.asUri(doc.uri);
  const pos = editor.selection.active;
  const range = { start: { line: pos.line, character: pos.character }, end: { line: pos.line, character: pos.character } };
  const actions = await c.sendRequest(CodeActionRequest.type, {
    textDocument: { uri }, range, context: { diagnostics: [] },
  });
  let ref = A.kernelFromActions(actions ?? []);
  if (!ref) {
    const lenses = await c.sendRequest(CodeLensRequest.type, { textDocument: { uri } });
    ref = A.kernelFromLenses(lenses ?? [], pos.line);
  }
  if (!ref) {
    const name = A.identifierAt(doc.lineAt(pos.line).text, pos.character);
    if (name) {
      ref = { uri, kernel: name };
    }
  }
  if (!ref) {
    void vscode.window.showWarningMessage("kf: no kernel at the cursor (kernels with a `// @kf` spec are listed by their code lenses)");
  }
  return ref;
}

function report(e: unknown): void {
  const msg = e instanceof Error ? e.message : String(e);
  void vscode.window.showErrorMessage(`kf: ${msg}`);
}

async function optimizeAtCursor(): Promise<void> {
  const ref = await kernelAtCursor(vscode.window.activeTextEditor);
  if (!ref) {
    return;
  }
  const res = (await execute(A.OPTIMIZE, A.optimizeArgs(ref.uri, ref.kernel))) as { jobId?: string | null; error?: string };
  if (res && res.jobId === null && res.error) {
    void vscode.window.showWarningMessage(`kf: ${res.error}`);
  }
}

async function stop(): Promise<void> {
  const active = tracker.active();
  if (active.length === 0) {
    const ref = await kernelAtCursor(vscode.window.activeTextEditor).catch(() => null);
    if (ref) {
      await execute(A.STOP, A.stopArgs(ref));
    } else {
      void vscode.window.showInformationMessage("kf: no search running");
    }
    return;
  }
  let targets: TrackedJob[] = active;
  if (active.length > 1) {
    const items = [
      { label: "$(debug-stop) Stop all", jobs: active },
      ...active.map((j) => ({ label: `${j.kernel}`, description: `${j.kind} ${j.done}/${j.budget}`, jobs: [j] })),
    ];
    const pick = await vscode.window.showQuickPick(items, { placeHolder: "Stop which job?" });
    if (!pick) {
      return;
    }
    targets = pick.jobs;
  }
  for (const j of targets) {
    await execute(A.STOP, A.stopArgs({ job: j.jobId }));
  }
}

function versionOf(uri: string): number | undefined {
  const doc = vscode.workspace.textDocuments.find((d) => d.uri.toString() === vscode.Uri.parse(uri).toString());
  return doc?.version;
}

async function applyVariant(uri: string, kernel: string, variant?: string): Promise<void> {
  const res = (await execute(A.APPLY_VARIANT, A.applyArgs(uri, kernel, variant, versionOf(uri)))) as
    { applied?: boolean; alreadyApplied?: boolean; reason?: string | null } | null;
  if (res && res.applied === false && res.alreadyApplied) {
    void vscode.window.showInformationMessage(`kf: ${res.reason ?? "already applied"}`);
  } else if (res && res.applied === false) {
    void vscode.window.showWarningMessage(`kf: not applied: ${res.reason ?? "the editor refused the edit"}`);
  }
}

async function applyBest(): Promise<void> {
  const ref = await kernelAtCursor(vscode.window.activeTextEditor);
  if (ref) {
    await applyVariant(ref.uri, ref.kernel);
  }
}

async function showDiff(ref: A.VariantRef): Promise<void> {
  const left = vscode.Uri.parse(ref.uri);
  const parts = A.variantUriParts(ref, left.fsPath);
  const right = vscode.Uri.from(parts);
  const label = ref.variant ? ref.variant.slice(0, 8) : "best variant";
  await vscode.commands.executeCommand("vscode.diff", left, right, `${ref.kernel}: original ↔ ${label}`,
    { preview: true, viewColumn: vscode.ViewColumn.Active });
}

async function showDiffAtCursor(): Promise<void> {
  const ref = await kernelAtCursor(vscode.window.activeTextEditor);
  if (ref) {
    await showDiff(ref);
  }
}

class VariantProvider implements vscode.TextDocumentContentProvider {
  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const ref = A.parseVariantQuery(uri.query);
    if (!ref) {
      return "// kf: not a variant URI";
    }
    try {
      const answer = await requireClient().sendRequest(A.VARIANT_TEXT, A.variantTextParams(ref));
      return A.variantDocumentText(answer);
    } catch (e) {
      return `// kf: ${e instanceof Error ? e.message : String(e)}`;
    }
  }
}

// -- the archive view ---------------------------------------------------------------------

function runArchive(ref: A.KernelRef): Promise<unknown> {
  const file = vscode.Uri.parse(ref.uri).fsPath;
  const cmd = archiveCommand(currentServerCommand(), file, ref.kernel);
  return new Promise((resolve, reject) => {
    execFile(cmd.command, cmd.args, { cwd: workspaceRoot(), maxBuffer: 64 * 1024 * 1024, timeout: 60000 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${cmd.command} ${cmd.args.join(" ")}: ${(stderr || err.message).trim().split("\n").slice(-3).join(" ")}`));
          return;
        }
        try {
          resolve(JSON.parse(stdout) as unknown);
        } catch {
          reject(new Error(`kf archive printed no JSON: ${stdout.slice(0, 200)}`));
        }
      });
  });
}

class ArchivePanel {
  readonly panel: vscode.WebviewPanel;
  private model: ArchiveModel | null = null;
  private data: Record<string, unknown> = {};
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly context: vscode.ExtensionContext, readonly ref: A.KernelRef) {
    const media = vscode.Uri.joinPath(context.extensionUri, "media");
    const compiled = vscode.Uri.joinPath(context.extensionUri, "out", "src");
    this.panel = vscode.window.createWebviewPanel("kf.archive", `kf archive: ${ref.kernel}`, vscode.ViewColumn.Beside, {
      enableScripts: true,
      localResourceRoots: [media, compiled],
      retainContextWhenHidden: true,
    });
    this.panel.onDidDispose(() => this.dispose(), null, this.disposables);
    this.panel.webview.onDidReceiveMessage((m: unknown) => void this.onMessage(m), null, this.disposables);
    this.disposables.push({ dispose: tracker.onChange((job, method) => this.onJob(job, method)) });
  }

  private html(data: unknown): string {
    const w = this.panel.webview;
    const u = (...p: string[]): string => w.asWebviewUri(vscode.Uri.joinPath(this.context.extensionUri, ...p)).toString();
    return archivePage({
      cspSource: w.cspSource, nonce: makeNonce(), styleUri: u("media", "archive.css"), shimUri: u("media", "shim.js"),
      heatmapUri: u("out", "src", "heatmap.js"), scriptUri: u("media", "archive.js"),
    }, data, `kf archive: ${this.ref.kernel}`);
  }

  private liveHistory(): Array<[number, number]> {
    const jobs = tracker.forKernel(this.ref.uri, this.ref.kernel).filter((j) => j.kind === "optimize");
    return jobs.length ? jobs[jobs.length - 1].history : [];
  }

  async load(): Promise<void> {
    const data = (await runArchive(this.ref)) as Record<string, unknown>;
    if (!Array.isArray(data.history) && this.liveHistory().length) {
      data.history = this.liveHistory(); // until the export carries it: what this session saw
    }
    const m = parseArchive(data);
    if (typeof m === "string") {
      throw new Error(m);
    }
    this.model = m;
    this.data = data;
    if (this.panel.webview.html) {
      await this.panel.webview.postMessage({ type: "data", data });
    } else {
      this.panel.webview.html = this.html(data);
    }
  }

  private onJob(job: TrackedJob, method: string): void {
    if (job.uri !== this.ref.uri || job.kernel !== this.ref.kernel || job.kind !== "optimize") {
      return;
    }
    if (method === JOB_FINISHED) {
      this.load().catch((e: unknown) => output.appendLine(`kf archive refresh: ${String(e)}`));
    } else if (!Array.isArray(this.data.history)) {
      void this.panel.webview.postMessage({ type: "history", history: job.history });
    }
  }

  private async onMessage(m: unknown): Promise<void> {
    if (!isWebviewMessage(m)) {
      return;
    }
    try {
      switch (m.type) {
        case "select":
        case "diff":
          await showDiff({ ...this.ref, variant: m.variant });
          break;
        case "apply": {
          const cell = this.model?.cells.find((c) => c.variant === m.variant) ?? this.model?.finals.find((c) => c.variant === m.variant);
          const what = cell ? ` (${cell.speedup?.toFixed(2) ?? "?"}x, ${cell.operator})` : "";
          const ok = await vscode.window.showInformationMessage(`Apply variant ${m.variant.slice(0, 8)}${what} to ${this.ref.kernel}?`,
            { modal: true }, "Apply");
          if (ok === "Apply") {
            await applyVariant(this.ref.uri, this.ref.kernel, m.variant);
          }
          break;
        }
        case "refresh":
          await this.load();
          break;
        default:
          break;
      }
    } catch (e) {
      report(e);
    }
  }

  dispose(): void {
    panels.delete(`${this.ref.uri}::${this.ref.kernel}`);
    for (const d of this.disposables.splice(0)) {
      d.dispose();
    }
  }
}

async function showArchive(context: vscode.ExtensionContext): Promise<void> {
  const ref = await kernelAtCursor(vscode.window.activeTextEditor);
  if (!ref) {
    return;
  }
  const key = `${ref.uri}::${ref.kernel}`;
  let p = panels.get(key);
  if (p) {
    p.panel.reveal();
  } else {
    p = new ArchivePanel(context, ref);
    panels.set(key, p);
  }
  try {
    await p.load();
  } catch (e) {
    p.panel.dispose();
    throw e;
  }
}

// -- jobs: status bar, notifications -----------------------------------------------------------

async function onFinished(job: TrackedJob): Promise<void> {
  notified.delete(job.jobId);
  tracker.prune();
  const msg = finishedMessage(job);
  if (msg.level === "error") {
    return; // the server already showed it (window/showMessage)
  }
  const buttons = msg.hasBest ? ["Apply", "Show diff", "Archive"] : job.kind === "optimize" ? ["Archive"] : [];
  const pick = await vscode.window.showInformationMessage(msg.text, ...buttons);
  try {
    if (pick === "Apply") {
      await applyVariant(job.uri, job.kernel);
    } else if (pick === "Show diff") {
      await showDiff({ uri: job.uri, kernel: job.kernel });
    } else if (pick === "Archive") {
      const key = `${job.uri}::${job.kernel}`;
      const p = panels.get(key) ?? new ArchivePanel(extensionContext, { uri: job.uri, kernel: job.kernel });
      panels.set(key, p);
      await p.load();
    }
  } catch (e) {
    report(e);
  }
}

function notifyLongJob(job: TrackedJob): void {
  notified.add(job.jobId);
  void vscode.window.withProgress({
    location: vscode.ProgressLocation.Notification,
    title: `kf: optimizing ${job.kernel}`,
    cancellable: true,
  }, (progress, token) => new Promise<void>((resolve) => {
    let last = job.budget > 0 ? (100 * job.done) / job.budget : 0;
    progress.report({ message: `${job.done}/${job.budget} evaluations`, increment: last });
    const off = tracker.onChange((j) => {
      if (j.jobId !== job.jobId) {
        return;
      }
      if (j.state !== "queued" && j.state !== "running") {
        off();
        resolve();
        return;
      }
      const pct = j.budget > 0 ? (100 * j.done) / j.budget : 0;
      progress.report({
        message: `${j.done}/${j.budget} evaluations${j.bestSpeedup ? `, best ${j.bestSpeedup.toFixed(2)}x` : ""}`,
        increment: Math.max(0, pct - last),
      });
      last = Math.max(last, pct);
    });
    token.onCancellationRequested(() => {
      execute(A.STOP, A.stopArgs({ job: job.jobId })).catch(report);
      off();
      resolve();
    });
  }));
}

async function showJobs(): Promise<void> {
  const jobs = [...tracker.jobs.values()].reverse();
  if (jobs.length === 0) {
    void vscode.window.showInformationMessage("kf: no search running");
    return;
  }
  const pick = await vscode.window.showQuickPick(jobs.map((j) => ({
    label: `${j.state === "running" || j.state === "queued" ? "$(sync~spin)" : "$(check)"} ${j.kernel}`,
    description: `${j.kind} ${j.state} ${j.done}/${j.budget}${j.bestSpeedup ? ` best ${j.bestSpeedup.toFixed(2)}x` : ""}`,
    detail: j.message,
    job: j,
  })), { placeHolder: "kf jobs (pick a running one to stop it, a finished one to open its archive)" });
  if (!pick) {
    return;
  }
  if (pick.job.state === "running" || pick.job.state === "queued") {
    await execute(A.STOP, A.stopArgs({ job: pick.job.jobId }));
  } else {
    const p = new ArchivePanel(extensionContext, { uri: pick.job.uri, kernel: pick.job.kernel });
    panels.set(`${pick.job.uri}::${pick.job.kernel}`, p);
    await p.load();
  }
}

let extensionContext: vscode.ExtensionContext;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  extensionContext = context;
  output = vscode.window.createOutputChannel("kf", { log: true });
  context.subscriptions.push(output);

  const item = vscode.window.createStatusBarItem("kf.jobs", vscode.StatusBarAlignment.Left, 50);
  item.name = "kf searches";
  item.command = "kf.client.showJobs";
  const refresh = (): void => {
    const s = statusText([...tracker.jobs.values()]);
    item.text = s.text;
    item.tooltip = s.tooltip;
    if (client) {
      item.show();
    } else {
      item.hide(); // no server yet (no kernel file seen): nothing to show
    }
  };
  refresh();
  context.subscriptions.push(item, { dispose: tracker.onChange(refresh) });
  const timer = setInterval(() => {
    const after = config().get<number>("notifyAfterSeconds", 10);
    for (const j of tracker.active()) {
      if (needsNotification(j, Date.now(), after, notified)) {
        notifyLongJob(j);
      }
    }
  }, 1000);
  context.subscriptions.push({ dispose: () => clearInterval(timer) });

  const register = (id: string, fn: () => Promise<void>): void => {
    context.subscriptions.push(vscode.commands.registerCommand(id,
      () => ensureStarted(context).then(fn).then(refresh).catch(report)));
  };
  context.subscriptions.push(vscode.commands.registerCommand("kf.client.showLog", () => output.show(true)));
  register("kf.client.optimizeAtCursor", optimizeAtCursor);
  register("kf.client.stop", stop);
  register("kf.client.applyBest", applyBest);
  register("kf.client.showDiff", showDiffAtCursor);
  register("kf.client.showArchive", () => showArchive(context));
  register("kf.client.showJobs", showJobs);
  register("kf.client.setApiKey", async () => {
    const key = await vscode.window.showInputBox({
      title: "kf: LLM API key", prompt: "Stored in VS Code's secret storage and sent to the kf server process only",
      password: true, ignoreFocusOut: true,
    });
    if (key === undefined || key.trim() === "") {
      return;
    }
    await context.secrets.store(SECRET_KEY, key.trim());
    await sendApiKey(context);
    void vscode.window.showInformationMessage("kf: API key stored in the secret storage");
  });
  register("kf.client.clearApiKey", async () => {
    await context.secrets.delete(SECRET_KEY);
    void vscode.window.showInformationMessage("kf: API key removed from the secret storage (restart the server to drop it there)");
  });
  register("kf.client.restartServer", async () => {
    if (client) {
      await client.stop().catch(() => undefined);
    }
    starting = startClient(context);
    await starting;
  });
  context.subscriptions.push(vscode.workspace.registerTextDocumentContentProvider(A.VARIANT_SCHEME, new VariantProvider()));
  context.subscriptions.push(context.secrets.onDidChange((e) => {
    if (e.key === SECRET_KEY) {
      void sendApiKey(context);
    }
  }));
  context.subscriptions.push(vscode.workspace.onDidChangeConfiguration((e) => {
    if (!client?.isRunning()) {
      return;
    }
    if (e.affectsConfiguration("kf.server")) {
      void vscode.window.showInformationMessage("kf: the server command changed", "Restart server")
        .then((pick) => pick && vscode.commands.executeCommand("kf.client.restartServer"));
    } else if (e.affectsConfiguration("kf")) {
      void client.sendNotification(DidChangeConfigurationNotification.type, { settings: { kf: serverSettings() } });
    }
  }));
  updateContext(vscode.window.activeTextEditor);
  context.subscriptions.push(vscode.window.onDidChangeActiveTextEditor(updateContext));
  const maybeStart = (doc: vscode.TextDocument): void => {
    if (isKernelDocument(doc)) {
      void ensureStarted(context).then(refresh);
    }
    if (doc === vscode.window.activeTextEditor?.document) {
      updateContext(vscode.window.activeTextEditor);
    }
  };
  context.subscriptions.push(vscode.workspace.onDidOpenTextDocument(maybeStart));
  context.subscriptions.push(vscode.workspace.onDidChangeTextDocument((e) => {
    if (!client) {
      maybeStart(e.document); // (once started, the SyncGate watches edits)
    }
  }));
  if (vscode.workspace.textDocuments.some(isKernelDocument) || await workspaceHasKernels()) {
    await ensureStarted(context);
    refresh();
  }
}

export async function deactivate(): Promise<void> {
  if (client) {
    await client.stop();
    client = undefined;
  }
}
