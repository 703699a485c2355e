// Arguments of the server's commands (kf_lsp/lsp/commands.py: ONE camelCase object each),
// finding the kernel at the cursor from the server's own code actions / lenses, and the
// `kf-variant:` URIs of the diff view. No `vscode` import.

export const OPTIMIZE = "kf.optimize";
export const STOP = "kf.stop";
export const BENCHMARK = "kf.benchmark";
export const APPLY_VARIANT = "kf.applyVariant";
export const VARIANT_DIFF = "kf.variantDiff";
export const ADD_SPEC = "kf.addSpec";
export const SET_API_KEY = "kf.setApiKey";
export const LIST_JOBS = "kf.listJobs";
export const SERVER_COMMANDS = [OPTIMIZE, STOP, BENCHMARK, APPLY_VARIANT, VARIANT_DIFF, ADD_SPEC, SET_API_KEY, LIST_JOBS];
export const VARIANT_TEXT = "kf/variantText";
export const SET_API_KEY_NOTIFICATION = "kf/setApiKey";
export const VARIANT_SCHEME = "kf-variant";

export interface KernelRef {
  uri: string;
  kernel: string;
}

export interface OptimizeArgs extends KernelRef {
  budget?: number;
  evalSeconds?: number;
}

export function optimizeArgs(uri: string, kernel: string, budget?: number, evalSeconds?: number): OptimizeArgs {
  const a: OptimizeArgs = { uri, kernel };
  if (budget !== undefined && Number.isInteger(budget) && budget >= 1) {
    a.budget = budget;
  }
  if (evalSeconds !== undefined && evalSeconds > 0 && evalSeconds <= 60) {
    a.evalSeconds = evalSeconds;
  }
  return a;
}

export function stopArgs(target: { job: string } | KernelRef): Record<string, string> {
  return "job" in target ? { job: target.job } : { uri: target.uri, kernel: target.kernel };
}

export function applyArgs(uri: string, kernel: string, variant?: string, version?: number): Record<string, unknown> {
  const a: Record<string, unknown> = { uri, kernel };
  if (variant) {
    a.variant = variant;
  }
  if (version !== undefined) {
    a.version = version;
  }
  return a;
}

interface CommandLike {
  command?: unknown;
  arguments?: unknown;
}

/** The command of a Command or a CodeAction (or a CodeLens). */
function commandOf(item: unknown): CommandLike | null {
  if (typeof item !== "object" || item === null) {
    return null;
  }
  const o = item as { command?: unknown; arguments?: unknown };
  if (typeof o.command === "string") {
    return o;
  }
  if (typeof o.command === "object" && o.command !== null) {
    return o.command;
  }
  return null;
}

/** The kernel that the server's kf.* actions at the cursor are about (the first one). */
export function kernelFromActions(items: readonly unknown[] | null | undefined): KernelRef | null {
  for (const item of items ?? []) {
    const c = commandOf(item);
    if (!c || typeof c.command !== "string" || !c.command.startsWith("kf.")) {
      continue;
    }
    const args = Array.isArray(c.arguments) ? c.arguments : [];
    const a = args[0] as Record<string, unknown> | undefined;
    if (a && typeof a.uri === "string" && typeof a.kernel === "string") {
      return { uri: a.uri, kernel: a.kernel };
    }
  }
  return null;
}

/** The running job id that a "Stop optimizing" action carries, if any. */
export function jobFromActions(items: readonly unknown[] | null | undefined): string | null {
  for (const item of items ?? []) {
    const c = commandOf(item);
    if (c && c.command === STOP && Array.isArray(c.arguments)) {
      const a = c.arguments[0] as Record<string, unknown> | undefined;
      if (a && typeof a.job === "string") {
        return a.job;
      }
    }
  }
  return null;
}

/** A lens (range + command) nearest above-or-at `line` that names a kernel: a fallback when
 *  the cursor is outside every kernel's region. */
export function kernelFromLenses(lenses: ReadonlyArray<{ range: { start: { line: number } }; command?: unknown }>,
  line: number): KernelRef | null {
  let best: { line: number; ref: KernelRef } | null = null;
  for (const l of lenses) {
    const ref = kernelFromActions([l]);
    const at = l.range.start.line;
    if (ref && at <= line && (!best || at > best.line)) {
      best = { line: at, ref };
    }
  }
  return best ? best.ref : null;
}

/** A C/C++ identifier at a column of a line (the kernel name under the cursor). */
export function identifierAt(lineText: string, character: number): string | null {
  const re = /[A-Za-z_][A-Za-z0-9_]*/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(lineText)) !== null) {
    if (character >= m.index && character <= m.index + m[0].length) {
      return m[0];
    }
  }
  return null;
}

export interface VariantRef {
  /** the file's URI (file:...) */
  uri: string;
  kernel: string;
  variant?: string;
}

/** The pieces of a `kf-variant:` URI: path = the file's path + ".variant", query = JSON. */
export function variantUriParts(ref: VariantRef, fsPath: string): { scheme: string; path: string; query: string } {
  const label = ref.variant ? ref.variant.slice(0, 8) : "best";
  return {
    scheme: VARIANT_SCHEME,
    path: `${fsPath}.${ref.kernel}.${label}${extOf(fsPath)}`,
    query: JSON.stringify({ uri: ref.uri, kernel: ref.kernel, variant: ref.variant ?? null }),
  };
}

function extOf(p: string): string {
  const m = /\.[A-Za-z0-9]+$/.exec(p);
  return m ? m[0] : "";
}

/** The variant a `kf-variant:` URI's query names, or null. */
export function parseVariantQuery(query: string): VariantRef | null {
  try {
    const o = JSON.parse(query) as Record<string, unknown>;
    if (typeof o.uri === "string" && typeof o.kernel === "string") {
      return { uri: o.uri, kernel: o.kernel, variant: typeof o.variant === "string" ? o.variant : undefined };
    }
  } catch {
    // not ours
  }
  return null;
}

/** The kf/variantText params for a variant ref. */
export function variantTextParams(ref: VariantRef): Record<string, string> {
  const p: Record<string, string> = { uri: ref.uri, kernel: ref.kernel };
  if (ref.variant) {
    p.variant = ref.variant;
  }
  return p;
}

/** The text shown in the diff's right side from a kf/variantText answer: the whole file
 *  with the variant applied, else (the kernel changed since) the variant's region. */
export function variantDocumentText(answer: unknown): string {
  if (typeof answer !== "object" || answer === null) {
    return "";
  }
  const a = answer as Record<string, unknown>;
  if (typeof a.text === "string") {
    return a.text;
  }
  const head = a.stale ? "// kf: the kernel changed since this variant was measured; its region as measured:\n" : "";
  return head + (typeof a.region === "string" ? a.region : "");
}
