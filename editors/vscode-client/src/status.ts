// Running searches, from the server's kf/jobStarted, kf/jobProgress and kf/jobFinished
// notifications (payloads: kf_lsp/core/jobs.py _job_payload). No `vscode` import.

export const JOB_STARTED = "kf/jobStarted";
export const JOB_PROGRESS = "kf/jobProgress";
export const JOB_FINISHED = "kf/jobFinished";

export interface VariantSummary {
  id: string;
  operator: string;
  speedup: number | null;
  speedupLow?: number | null;
  speedupHigh?: number | null;
  timeMedian?: number | null;
  tunables?: Record<string, number>;
  cell?: number[] | null;
  significant?: boolean;
}

export interface JobPayload {
  jobId: string;
  /** "optimize" | "benchmark" */
  kind: string;
  uri: string;
  kernel: string;
  /** "queued" | "running" | "done" | "cancelled" | "error" */
  state: string;
  done: number;
  budget: number;
  bestSpeedup: number | null;
  message: string;
  queued?: boolean;
  best?: VariantSummary | null;
  error?: string;
}

export interface TrackedJob extends JobPayload {
  /** when the client first heard of it (ms) */
  firstSeen: number;
  /** best speedup after each progress report: [done, best] */
  history: Array<[number, number]>;
}

export function isActive(state: string): boolean {
  return state === "queued" || state === "running";
}

export function fmtSpeedup(s: number | null | undefined): string {
  return s === null || s === undefined || !Number.isFinite(s) ? "-" : `${s.toFixed(2)}x`;
}

export function isJobPayload(p: unknown): p is JobPayload {
  if (typeof p !== "object" || p === null) {
    return false;
  }
  const o = p as Record<string, unknown>;
  return typeof o.jobId === "string" && typeof o.kernel === "string" && typeof o.state === "string";
}

export class JobTracker {
  readonly jobs = new Map<string, TrackedJob>();
  private readonly listeners: Array<(job: TrackedJob, method: string) => void> = [];

  constructor(private readonly now: () => number = Date.now) {}

  onChange(listener: (job: TrackedJob, method: string) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) {
        this.listeners.splice(i, 1);
      }
    };
  }

  /** Apply one notification; returns the job, or undefined for a payload that is not one. */
  update(method: string, payload: unknown): TrackedJob | undefined {
    if (!isJobPayload(payload)) {
      return undefined;
    }
    const old = this.jobs.get(payload.jobId);
    const job: TrackedJob = {
      ...old,
      ...payload,
      firstSeen: old?.firstSeen ?? this.now(),
      history: old?.history ?? [],
    };
    if (method === JOB_FINISHED && isActive(job.state)) {
      job.state = job.error ? "error" : "done"; // a finish is a finish whatever the payload says
    }
    if (job.bestSpeedup !== null && job.bestSpeedup !== undefined && Number.isFinite(job.bestSpeedup)) {
      const last = job.history[job.history.length - 1];
      if (!last || last[0] !== job.done || last[1] !== job.bestSpeedup) {
        job.history = [...job.history, [job.done, job.bestSpeedup]];
      }
    }
    this.jobs.set(job.jobId, job);
    for (const l of [...this.listeners]) {
      l(job, method);
    }
    return job;
  }

  active(): TrackedJob[] {
    return [...this.jobs.values()].filter((j) => isActive(j.state));
  }

  /** Forget finished jobs (they stay until the next finish so their result can be read). */
  prune(keep: number = 20): void {
    const finished = [...this.jobs.values()].filter((j) => !isActive(j.state));
    for (const j of finished.slice(0, Math.max(0, finished.length - keep))) {
      this.jobs.delete(j.jobId);
    }
  }

  forKernel(uri: string, kernel: string): TrackedJob[] {
    return [...this.jobs.values()].filter((j) => j.uri === uri && j.kernel === kernel);
  }
}

function jobShort(j: JobPayload): string {
  if (j.state === "queued") {
    return `${j.kernel} (queued)`;
  }
  const best = j.bestSpeedup ? ` ${fmtSpeedup(j.bestSpeedup)}` : "";
  return j.kind === "benchmark" ? `${j.kernel} (benchmark)` : `${j.kernel} ${j.done}/${j.budget}${best}`;
}

/** The status-bar item: text (with a codicon), tooltip, and whether it is busy. */
export function statusText(jobs: readonly JobPayload[]): { text: string; tooltip: string; busy: boolean } {
  const active = jobs.filter((j) => isActive(j.state));
  if (active.length === 0) {
    return { text: "$(dashboard) kf", tooltip: "kf: no search running", busy: false };
  }
  const text = active.length === 1
    ? `$(sync~spin) kf: ${jobShort(active[0])}`
    : `$(sync~spin) kf: ${active.length} jobs (${active.map((j) => j.kernel).join(", ")})`;
  const tooltip = active.map((j) => {
    const what = j.kind === "optimize" ? "optimizing" : "benchmarking";
    const msg = j.message ? ` - ${j.message}` : "";
    return `${what} ${j.kernel}: ${j.state === "queued" ? "queued" : `${j.done}/${j.budget} evaluations`}` +
      (j.bestSpeedup ? `, best ${fmtSpeedup(j.bestSpeedup)}` : "") + msg;
  }).join("\n");
  return { text, tooltip: tooltip + "\nclick: list or stop jobs", busy: true };
}

/** The message shown when a job ends. */
export function finishedMessage(j: JobPayload): { level: "info" | "warning" | "error"; text: string; hasBest: boolean } {
  if (j.error || j.state === "error") {
    return { level: "error", text: j.error || j.message || `kf: ${j.kind} of ${j.kernel} failed`, hasBest: false };
  }
  const b = j.best;
  const ok = !!b && b.operator !== "reference" && (b.significant ?? true) && (b.speedup ?? 0) > 1;
  if (j.kind === "benchmark") {
    return { level: "info", text: `kf: benchmarked ${j.kernel}${j.message ? `: ${j.message}` : ""}`, hasBest: false };
  }
  // one vocabulary with the server (docs/lsp.md): cancelled = stopped, interrupted = its server stopped first
  const early = j.state === "cancelled" || j.state === "interrupted";
  const stopped = j.state === "cancelled" ? "stopped" : j.state === "interrupted" ? "interrupted" : "finished";
  if (ok && b) {
    const tun = Object.entries(b.tunables ?? {}).map(([k, v]) => `${k}=${v}`).join(", ");
    const ci = b.speedupLow && b.speedupHigh ? ` [${b.speedupLow.toFixed(2)}-${b.speedupHigh.toFixed(2)}]` : "";
    // a search that did not reach its final re-time offers its first measurements: said so
    const note = early ? ", not re-timed" : "";
    return {
      level: "info",
      text: `kf: ${j.kernel} ${stopped}: ${fmtSpeedup(b.speedup)}${ci} faster variant (${b.operator}${tun ? `: ${tun}` : ""})${note}`,
      hasBest: true,
    };
  }
  return {
    level: "info",
    text: `kf: ${j.kernel} ${stopped} after ${j.done} evaluations: no verified faster variant`,
    hasBest: false,
  };
}

/** Whether a running job deserves its own notification (with a Cancel button) by now. */
export function needsNotification(j: TrackedJob, now: number, afterSeconds: number, shown: ReadonlySet<string>): boolean {
  return j.kind === "optimize" && j.state === "running" && !shown.has(j.jobId) &&
    now - j.firstSeen >= afterSeconds * 1000;
}
