import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { ACTIVATION_GLOBS, kernelLanguage, SyncGate } from "../../src/kernelFiles";
import { REPO, ROOT } from "../common";

const example = (p: string): string => readFileSync(join(REPO, "examples", p), "utf8");

test("kernel files as the server sees them: CUDA by extension, C++ only with SYCL kernels", () => {
  assert.equal(kernelLanguage("/w/saxpy.cu", example("cuda/saxpy.cu")), "cuda");
  assert.equal(kernelLanguage("/w/k.CUH", ""), "cuda");
  assert.equal(kernelLanguage("/w/saxpy.cpp", example("sycl/saxpy.cpp")), "sycl");
  assert.equal(kernelLanguage("/w/main.cpp", "#include <vector>\nint main() { return 0; }\n"), null);
  assert.equal(kernelLanguage("/w/util.h", "#pragma once\n"), null);
  assert.equal(kernelLanguage("/w/notes.txt", "#include <sycl/sycl.hpp>"), null);
  assert.equal(kernelLanguage("/w/k.hpp", "#  include <sycl/sycl.hpp>\n"), "sycl");
});

test("SyncGate: only kernel files are opened, changed, saved and closed on the server", () => {
  const g = new SyncGate();
  const sycl = example("sycl/saxpy.cpp");
  assert.equal(g.opened("file:///w/main.cpp", "/w/main.cpp", "int main() {}"), "skip");
  assert.equal(g.changed("file:///w/main.cpp", "/w/main.cpp", "int main() { }"), "skip");
  assert.equal(g.has("file:///w/main.cpp"), false);
  assert.equal(g.closed("file:///w/main.cpp"), "skip");

  assert.equal(g.opened("file:///w/saxpy.cpp", "/w/saxpy.cpp", sycl), "pass");
  assert.equal(g.changed("file:///w/saxpy.cpp", "/w/saxpy.cpp", "gone"), "pass", "an opened file stays synced");
  assert.equal(g.has("file:///w/saxpy.cpp"), true);
  assert.equal(g.opened("file:///w/saxpy.cpp", "/w/saxpy.cpp", sycl), "pass", "a restarted client opens it again");

  // a C++ file that becomes a SYCL kernel file while edited is opened then
  assert.equal(g.opened("file:///w/new.cpp", "/w/new.cpp", ""), "skip");
  assert.equal(g.changed("file:///w/new.cpp", "/w/new.cpp", "#include <sycl/sycl.hpp>\n"), "open");
  assert.equal(g.changed("file:///w/new.cpp", "/w/new.cpp", "#include <sycl/sycl.hpp>\n//"), "pass");
  assert.equal(g.size, 2);
  assert.equal(g.closed("file:///w/new.cpp"), "pass");
  assert.equal(g.closed("file:///w/new.cpp"), "skip");
  g.reset();
  assert.equal(g.size, 0);
});

test("package.json: activation on kernel workspaces, no every-C-file activation, trust declared", () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
    activationEvents: string[];
    capabilities: { untrustedWorkspaces: { supported: unknown } };
    contributes: { menus: Record<string, Array<{ when?: string }>>; keybindings: Array<{ when?: string }>;
      configuration: { properties: Record<string, unknown> }; commands: Array<{ command: string }> };
    license: string;
  };
  for (const g of ACTIVATION_GLOBS) {
    assert.ok(pkg.activationEvents.includes(`workspaceContains:${g}`), g);
  }
  assert.ok(!pkg.activationEvents.includes("onLanguage:c"), "plain C files never activate kf");
  assert.equal(pkg.capabilities.untrustedWorkspaces.supported, false);
  for (const items of Object.values(pkg.contributes.menus)) {
    for (const m of items) {
      assert.ok(m.when && m.when.includes("kf."), `menu item without a kf when clause: ${JSON.stringify(m)}`);
    }
  }
  assert.ok(pkg.contributes.keybindings.length > 0 && pkg.contributes.keybindings.every((k) => k.when?.includes("kf.kernelFile")));
  assert.ok("kf.trace.server" in pkg.contributes.configuration.properties);
  assert.ok(pkg.contributes.commands.some((c) => c.command === "kf.client.showLog"));
  assert.notEqual(pkg.license, "UNLICENSED");
});
