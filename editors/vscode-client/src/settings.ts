// The `kf` settings of VS Code -> the language server's `kf` section (kf_lsp/core/settings.py),
// and the command line that starts the server. No `vscode` import: unit-tested with node.

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** The server's settings, by key; nested objects list their own keys. */
export const SERVER_KEYS: Readonly<Record<string, true | Readonly<Record<string, true>>>> = {
  backend: true,
  device: true,
  llm: { baseUrl: true, model: true, apiKeyEnv: true, models: true, endpoints: true, temperature: true, maxTokens: true,
    concurrency: true, tokenBudget: true },
  budget: { evaluations: true, wallSeconds: true, tokens: true, patience: true },
  tuning: true,
  evalSeconds: true,
  onSave: { benchmark: true, restartSearch: true },
  scheduler: true,
  schedulerTarget: true,
  tlsCa: true,
  tlsCert: true,
  tlsKey: true,
  maxJobs: true,
  queueJobs: true,
  variantActions: true,
  watch: true,
  debounceMs: true,
  cuda: { flags: true },
  sycl: { flags: true },
};

/** Settings the client keeps for itself (never sent to the server). */
export const CLIENT_KEYS: readonly string[] = ["server", "notifyAfterSeconds", "trace"];

const SECRET = /^(api_?key|key|token|secret|password)$/i;

export interface Mapped {
  settings: JsonObject;
  /** dotted names that were left out (client-only, unknown, or secrets), for the log */
  dropped: string[];
}

function isObject(v: unknown): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The server's `kf` section from the client's `kf` configuration object: known keys only,
 *  nulls left out (the server's default applies), secrets never. */
export function toServerSettings(raw: unknown): Mapped {
  const settings: JsonObject = {};
  const dropped: string[] = [];
  if (!isObject(raw)) {
    return { settings, dropped };
  }
  for (const [key, value] of Object.entries(raw)) {
    if (typeof value === "function" || value === undefined) {
      continue;
    }
    const known = SERVER_KEYS[key];
    if (known === undefined || SECRET.test(key)) {
      dropped.push(key);
      continue;
    }
    if (value === null) {
      continue;
    }
    if (known === true) {
      settings[key] = value;
      continue;
    }
    if (!isObject(value)) {
      dropped.push(key);
      continue;
    }
    const sub: JsonObject = {};
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "function" || v === undefined) {
        continue;
      }
      if (!known[k] || SECRET.test(k)) {
        dropped.push(`${key}.${k}`);
        continue;
      }
      if (v !== null) {
        sub[k] = v;
      }
    }
    if (Object.keys(sub).length > 0) {
      settings[key] = sub;
    }
  }
  return { settings, dropped: dropped.filter((d) => !CLIENT_KEYS.includes(d)) };
}

export interface ServerCommand {
  command: string;
  args: string[];
}

/** `${workspaceFolder}`, `${userHome}` and a leading `~` in a configured path. */
export function expandPath(path: string, workspaceFolder: string | undefined, home: string | undefined): string {
  let p = path.trim();
  if (home && (p === "~" || p.startsWith("~/"))) {
    p = home + p.slice(1);
  }
  if (workspaceFolder !== undefined) {
    p = p.split("${workspaceFolder}").join(workspaceFolder);
  }
  if (home !== undefined) {
    p = p.split("${userHome}").join(home);
  }
  return p;
}

/** How to start `kf serve`: the configured interpreter runs the module, else `kf` on PATH. */
export function serverCommand(pythonPath: string | undefined, extraArgs: readonly string[] | undefined,
  workspaceFolder?: string, home?: string): ServerCommand {
  const extra = (extraArgs ?? []).filter((a) => typeof a === "string");
  const python = pythonPath ? expandPath(pythonPath, workspaceFolder, home) : "";
  if (python) {
    return { command: python, args: ["-m", "kf_lsp", "serve", ...extra] };
  }
  return { command: "kf", args: ["serve", ...extra] };
}

/** The `kf archive FILE:KERNEL --json -` command line, run with the same interpreter. */
export function archiveCommand(server: ServerCommand, file: string, kernel: string): ServerCommand {
  const head = server.command === "kf" && server.args[0] === "serve" ? [] : ["-m", "kf_lsp"];
  return { command: server.command, args: [...head, "archive", `${file}:${kernel}`, "--json", "-"] };
}
