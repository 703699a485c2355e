import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { archiveCommand, CLIENT_KEYS, expandPath, SERVER_KEYS, serverCommand, toServerSettings } from "../../src/settings";
import { ROOT } from "../common";

test("client settings map onto the server's kf section", () => {
  const raw = {
    server: { pythonPath: "/venv/bin/python", extraArgs: [] },
    notifyAfterSeconds: 10,
    backend: "sycl",
    device: null,
    llm: { baseUrl: "http://localhost:8000/v1", model: "m", apiKeyEnv: "OPENAI_API_KEY", tokenBudget: null, apiKey: "sk-secret" },
    budget: { evaluations: 8, wallSeconds: null },
    onSave: { benchmark: true, restartSearch: false },
    maxJobs: 3,
    scheduler: null,
    get: () => 1, // WorkspaceConfiguration methods are skipped
  };
  const { settings, dropped } = toServerSettings(raw);
  assert.deepEqual(settings, {
    backend: "sycl",
    llm: { baseUrl: "http://localhost:8000/v1", model: "m", apiKeyEnv: "OPENAI_API_KEY" },
    budget: { evaluations: 8 },
    onSave: { benchmark: true, restartSearch: false },
    maxJobs: 3,
  });
  assert.deepEqual(dropped, ["llm.apiKey"]);
  assert.ok(!JSON.stringify(settings).includes("sk-secret"), "a secret never reaches the server's settings");
});

test("unknown and malformed settings are dropped, not sent", () => {
  assert.deepEqual(toServerSettings({ bogus: 1, llm: "x", token: "t" }), { settings: {}, dropped: ["bogus", "llm", "token"] });
  assert.deepEqual(toServerSettings(null), { settings: {}, dropped: [] });
  assert.deepEqual(toServerSettings([1]), { settings: {}, dropped: [] });
});

test("every kf.* setting of package.json is a server setting or a client one", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as
    { contributes: { configuration: { properties: Record<string, unknown> } } };
  const keys = Object.keys(pkg.contributes.configuration.properties);
  assert.ok(keys.length > 20);
  for (const full of keys) {
    const [, head, sub] = full.split(".");
    if (CLIENT_KEYS.includes(head)) {
      continue;
    }
    const known = SERVER_KEYS[head];
    assert.ok(known, `${full}: not a server setting`);
    if (sub !== undefined) {
      assert.ok(known !== true && known[sub], `${full}: not a server setting`);
    } else {
      assert.equal(known, true, `${full}: a section, not a value`);
    }
  }
  // and every server setting is exposed
  for (const [k, v] of Object.entries(SERVER_KEYS)) {
    if (v === true) {
      assert.ok(keys.includes(`kf.${k}`), `kf.${k} missing from package.json`);
    } else {
      for (const s of Object.keys(v)) {
        assert.ok(keys.includes(`kf.${k}.${s}`), `kf.${k}.${s} missing from package.json`);
      }
    }
  }
});

test("the server's Python settings are what the client mirrors", () => {
  // kf_lsp/core/settings.py is the source of truth: every field name there (camelCased) is known here
  const py = readFileSync(join(ROOT, "..", "..", "kf_lsp", "core", "settings.py"), "utf8");
  const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
  const classes: Record<string, string[]> = {};
  let current = "";
  for (const line of py.split("\n")) {
    const cls = /^class (\w+)\(msgspec\.Struct/.exec(line);
    if (cls) {
      current = cls[1];
      classes[current] = [];
      continue;
    }
    const field = /^ {4}([a-z_]+): /.exec(line);
    if (current && field) {
      classes[current].push(camel(field[1]));
    }
    if (/^\S/.test(line) && !cls) {
      current = "";
    }
  }
  const sub: Record<string, string> = { llm: "LLMSettings", budget: "BudgetSettings", onSave: "OnSaveSettings" };
  assert.ok(classes.Settings?.length > 10, "parsed kf_lsp/core/settings.py");
  assert.deepEqual([...classes.Settings].sort(), Object.keys(SERVER_KEYS).sort());
  for (const [k, cls] of Object.entries(sub)) {
    const known = SERVER_KEYS[k];
    assert.ok(known !== true);
    assert.deepEqual([...classes[cls]].sort(), Object.keys(known).sort(), k);
  }
});

test("server command: the configured interpreter runs the module, else kf on PATH", () => {
  assert.deepEqual(serverCommand("", []), { command: "kf", args: ["serve"] });
  assert.deepEqual(serverCommand(undefined, ["--log-level", "DEBUG"]), { command: "kf", args: ["serve", "--log-level", "DEBUG"] });
  assert.deepEqual(serverCommand("${workspaceFolder}/.venv/bin/python", [], "/ws", "/home/u"),
    { command: "/ws/.venv/bin/python", args: ["-m", "kf_lsp", "serve"] });
  assert.equal(expandPath("~/venv/bin/python", undefined, "/home/u"), "/home/u/venv/bin/python");
  assert.deepEqual(archiveCommand(serverCommand("/py", []), "/a/b.cu", "k"),
    { command: "/py", args: ["-m", "kf_lsp", "archive", "/a/b.cu:k", "--json", "-"] });
  assert.deepEqual(archiveCommand(serverCommand("", []), "/a/b.cu", "k"),
    { command: "kf", args: ["archive", "/a/b.cu:k", "--json", "-"] });
});
