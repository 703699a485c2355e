// The server's stderr -> the output channel, each line at its own level. `kf serve` logs
// `kf LEVEL logger: message` (kf_lsp/lsp/server.py); vscode-languageclient's default shows every
// stderr line as [error]. No `vscode` import.

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error";

const RECORD = /^kf (DEBUG|INFO|WARNING|ERROR|CRITICAL) /;
const LEVELS: Readonly<Record<string, LogLevel>> = {
  DEBUG: "debug", INFO: "info", WARNING: "warn", ERROR: "error", CRITICAL: "error",
};

/** The level of one stderr line. A `kf LEVEL ...` record has its own; the CLI's one-line
 *  failures (`kf: ...`) and a Python traceback are errors; any other line continues the
 *  record before it (a multi-line message or a traceback's frames), else it is info. */
export function levelOf(line: string, previous: LogLevel | null): LogLevel {
  const m = RECORD.exec(line);
  if (m) {
    return LEVELS[m[1]];
  }
  if (line.startsWith("kf: ") || line.startsWith("Traceback (most recent call last)")) {
    return "error";
  }
  return previous ?? "info";
}

/** Splits a stream of stderr chunks into lines and gives each its level. */
export class LineLeveler {
  private rest = "";
  private last: LogLevel | null = null;

  constructor(private readonly emit: (level: LogLevel, line: string) => void) {}

  push(chunk: string): void {
    const parts = (this.rest + chunk).split(/\r?\n/);
    this.rest = parts.pop() ?? "";
    for (const line of parts) {
      this.line(line);
    }
  }

  end(): void {
    if (this.rest) {
      this.line(this.rest);
      this.rest = "";
    }
  }

  private line(line: string): void {
    if (line.trim() === "") {
      return;
    }
    this.last = levelOf(line, this.last);
    this.emit(this.last, line);
  }
}
