import assert from "node:assert/strict";
import { test } from "node:test";

import { LineLeveler, levelOf, type LogLevel } from "../../src/serverLog";

test("each kf log record keeps its own level", () => {
  assert.equal(levelOf("kf INFO kf.lsp: indexed 3 kernel files in /ws", null), "info");
  assert.equal(levelOf("kf DEBUG kf.lsp: didChange", "error"), "debug");
  assert.equal(levelOf("kf WARNING kf.lsp: watch failed", null), "warn");
  assert.equal(levelOf("kf ERROR kf.lsp: job crashed", null), "error");
  assert.equal(levelOf("kf CRITICAL x: y", null), "error");
});

test("CLI failures and tracebacks are errors; other lines continue the record before", () => {
  assert.equal(levelOf("kf: error: unrecognized arguments: --bogus", "info"), "error");
  assert.equal(levelOf("Traceback (most recent call last):", "info"), "error");
  assert.equal(levelOf("  File \"x.py\", line 3", "error"), "error");
  assert.equal(levelOf("  second line of an INFO message", "info"), "info");
  assert.equal(levelOf("a library's print", null), "info");
  assert.equal(levelOf("kf INFOX not a record", null), "info");
});

test("LineLeveler splits chunks into lines at any boundary", () => {
  const got: Array<[LogLevel, string]> = [];
  const l = new LineLeveler((level, line) => got.push([level, line]));
  l.push("kf INFO kf.lsp: one\r\nkf WARN");
  l.push("ING kf.lsp: two\n\nTraceback (most recent call last):\n  File \"a\"\nkf INFO kf.lsp: thr");
  l.end();
  assert.deepEqual(got, [
    ["info", "kf INFO kf.lsp: one"],
    ["warn", "kf WARNING kf.lsp: two"],
    ["error", "Traceback (most recent call last):"],
    ["error", "  File \"a\""],
    ["info", "kf INFO kf.lsp: thr"],
  ]);
});
