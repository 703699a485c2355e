// Shared by the tests (not a test file itself).
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** editors/vscode-client (tests run from out/test/<kind>/). */
export const ROOT = join(__dirname, "..", "..");
/** the repository */
export const REPO = join(ROOT, "..", "..");

/** A recorded archive export (test/fixtures/*-archive.json, from test/fixtures/record.sh). */
export function fixture(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(ROOT, "test", "fixtures", name), "utf8")) as Record<string, unknown>;
}

/** The recorded transpose archive plus four SYNTHETIC cells on other levels of the three
 *  axes (tuning alone never leaves the first cell), to exercise slicing. */
export function synthetic(): Record<string, unknown> {
  const d = fixture("transpose-archive.json") as Record<string, unknown> & { cells: Array<Record<string, unknown>> };
  const c0 = d.cells[0];
  const extra = [[1, 0, 0, 1.6], [2, 1, 0, 3.1], [0, 1, 1, 0.7], [3, 2, 2, 1.9]].map(([a, b, c, s], i) => ({
    ...c0, cell: [a, b, c], variant: `synthetic${i}`.padEnd(64, "0"), operator: "llm", speedup: s, speedup_low: s * 0.95,
    speedup_high: s * 1.05, description: "",
  }));
  return { ...d, cells: [...d.cells, ...extra], synthetic: "cells other than the first are made up (test/common.ts)" };
}
