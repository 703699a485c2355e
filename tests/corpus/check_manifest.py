#!/usr/bin/env python3
"""Validate tests/corpus/manifest.json and print a summary table (stdlib only).

Checks, for every entry:
  - the source file exists (relative to tests/corpus) and is under 60 KB;
  - its `line` holds the kernel's name (CUDA `__global__` and SYCL nd_item
    functions) or a `parallel_for` call (SYCL lambdas, named or FUNC#K);
  - the spec file exists, is not empty, and every line starts with `// @kf`;
  - language/form/flags are well formed and (file, kernel) pairs are unique.
And for the corpus: every project folder has a licence file, the whole corpus
stays under 2 MB, and the CUDA/SYCL and project minimums of the brief hold.

Usage: python3 tests/corpus/check_manifest.py [--quiet]   (exit 1 on any problem)
"""
import collections
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FORMS = {"global", "nd_item_function", "lambda", "free_function"}
LANGS = {"cuda", "sycl"}
KEYS = ["file", "project", "language", "kernel", "line", "form", "host_launch", "flags", "spec", "notes"]
LICENCE_NAMES = ("LICENSE", "LICENSE.txt", "LICENSE.md", "License.txt", "license.txt", "COPYING")
MAX_FILE = 60 * 1024
MAX_TOTAL = 2 * 1024 * 1024


def check(entries):
    problems = []
    seen = set()
    for i, e in enumerate(entries):
        where = f"entry {i} ({e.get('file')}:{e.get('kernel')})"
        missing = [k for k in KEYS if k not in e]
        if missing:
            problems.append(f"{where}: missing keys {missing}")
            continue
        if e["language"] not in LANGS:
            problems.append(f"{where}: language {e['language']!r}")
        if e["form"] not in FORMS:
            problems.append(f"{where}: form {e['form']!r}")
        if (e["language"] == "cuda") != (e["form"] == "global"):
            problems.append(f"{where}: form {e['form']} does not fit language {e['language']}")
        if not isinstance(e["flags"], list) or not all(isinstance(f, str) for f in e["flags"]):
            problems.append(f"{where}: flags must be a list of strings")
        if not isinstance(e["host_launch"], bool):
            problems.append(f"{where}: host_launch must be true or false")
        key = (e["file"], e["kernel"])
        if key in seen:
            problems.append(f"{where}: duplicate (file, kernel)")
        seen.add(key)
        if not e["file"].startswith(e["project"] + "/"):
            problems.append(f"{where}: file is not under the project folder {e['project']}/")

        path = os.path.join(HERE, e["file"])
        if not os.path.isfile(path):
            problems.append(f"{where}: file not found")
        else:
            if os.path.getsize(path) > MAX_FILE:
                problems.append(f"{where}: file is over 60 KB")
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().split("\n")
            n = e["line"]
            if not isinstance(n, int) or not 1 <= n <= len(lines):
                problems.append(f"{where}: line {n} is outside the file")
            else:
                text = lines[n - 1]
                if e["form"] == "lambda":
                    if "parallel_for" not in text.split("//")[0]:
                        problems.append(f"{where}: line {n} holds no parallel_for call: {text.strip()!r}")
                    named = "#" not in e["kernel"]
                    if named and e["kernel"] not in text:
                        problems.append(f"{where}: line {n} does not name the kernel: {text.strip()!r}")
                elif e["kernel"] not in text:
                    problems.append(f"{where}: line {n} does not hold {e['kernel']!r}: {text.strip()!r}")

        spec = os.path.join(HERE, e["spec"])
        expected = os.path.basename(e["spec"])
        if not e["spec"].startswith(f"specs/{e['project']}/") or not expected.endswith(
                "." + e["kernel"].replace("#", "_") + ".kf"):
            problems.append(f"{where}: spec path {e['spec']} is not specs/{e['project']}/<stem>.<kernel>.kf")
        if not os.path.isfile(spec):
            problems.append(f"{where}: spec not found: {e['spec']}")
        else:
            with open(spec, encoding="utf-8") as f:
                spec_lines = f.read().splitlines()
            if not spec_lines:
                problems.append(f"{where}: spec is empty")
            bad = [s for s in spec_lines if not s.startswith("// @kf")]
            if bad:
                problems.append(f"{where}: spec lines not starting with '// @kf': {bad[:3]}")
            if e["language"] == "cuda" and not any(s.startswith(("// @kf grid", "// @kf block")) for s in spec_lines):
                problems.append(f"{where}: CUDA spec without grid/block")
            if e["language"] == "sycl" and not any(s.startswith("// @kf global") for s in spec_lines):
                problems.append(f"{where}: SYCL spec without global")

    projects = sorted({e["project"] for e in entries})
    for p in projects:
        folder = os.path.join(HERE, p)
        if not any(os.path.isfile(os.path.join(folder, name)) for name in LICENCE_NAMES):
            problems.append(f"project {p}: no licence file in {p}/")
    total = 0
    for root, _, files in os.walk(HERE):
        for name in files:
            total += os.path.getsize(os.path.join(root, name))
    if total > MAX_TOTAL:
        problems.append(f"corpus is {total} bytes, over 2 MB")
    langs = collections.Counter(e["language"] for e in entries)
    sycl_projects = {e["project"] for e in entries if e["language"] == "sycl"}
    if len(entries) < 70:
        problems.append(f"only {len(entries)} kernels (at least 70 wanted)")
    if len(projects) < 8:
        problems.append(f"only {len(projects)} projects (at least 8 wanted)")
    if langs["sycl"] < 25 or len(sycl_projects) < 4:
        problems.append(f"{langs['sycl']} SYCL kernels from {len(sycl_projects)} projects (25 from 4 wanted)")
    return problems, total


def table(entries, total):
    by_project = collections.OrderedDict()
    for e in sorted(entries, key=lambda e: e["project"]):
        by_project.setdefault(e["project"], collections.Counter())[(e["language"], e["form"])] += 1
    cols = [("cuda", "global"), ("sycl", "nd_item_function"), ("sycl", "lambda"), ("sycl", "free_function")]
    head = ["project", "files", "cuda global", "sycl nd_item", "sycl lambda", "sycl free fn", "total"]
    files = collections.Counter()
    for p, f in {(e["project"], e["file"]) for e in entries}:
        files[p] += 1
    rows = []
    for p, c in by_project.items():
        rows.append([p, str(files[p])] + [str(c[k]) for k in cols] + [str(sum(c.values()))])
    sums = collections.Counter()
    for c in by_project.values():
        sums.update(c)
    rows.append(["all", str(sum(files.values()))] + [str(sums[k]) for k in cols] + [str(len(entries))])
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    out = [" | ".join(h.ljust(w) for h, w in zip(head, widths)), "-+-".join("-" * w for w in widths)]
    for r in rows:
        out.append(" | ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths))))
    langs = collections.Counter(e["language"] for e in entries)
    out.append("")
    out.append(f"kernels: {len(entries)} (cuda {langs['cuda']}, sycl {langs['sycl']}); "
               f"projects: {len(by_project)}; host launch in the same file: "
               f"{sum(e['host_launch'] for e in entries)}; corpus size: {total / 1024:.0f} KiB")
    return "\n".join(out)


def main():
    with open(os.path.join(HERE, "manifest.json"), encoding="utf-8") as f:
        entries = json.load(f)
    problems, total = check(entries)
    if "--quiet" not in sys.argv:
        print(table(entries, total))
    for p in problems:
        print("PROBLEM:", p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
