"""The code reads as its architecture: no import cycles, no private names across modules,
and each part imports only the layers below it: in backends/ (backends/__init__.py), from
kf_lsp down to evolver down to backends, and in kf_lsp/ the fronts (cli, lsp, mcp) over the
shared core, never each other (kf_lsp/__init__.py)."""

from __future__ import annotations

import ast
import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent
ROOT = REPO / "backends"
PACKAGES = ("backends", "evolver", "kf_lsp")

# what each part may import (besides itself); run is the top and may import anything
ALLOWED = {
    "backends.model": set(),
    "backends.session": {"backends.model"},
    "backends.compare_kernel": set(),
    "backends.kernel": {"backends.model"},
    "backends.cuda": {"backends.model", "backends.session", "backends.kernel", "backends.compare_kernel"},
    "backends.sycl": {"backends.model", "backends.session", "backends.kernel", "backends.compare_kernel"},
    "backends.judge": {"backends.model", "backends.session", "backends.kernel", "backends.cuda",
                       "backends.compare_kernel"},
}


def _modules(packages=("backends",)) -> dict[str, pathlib.Path]:
    out = {}
    for pkg in packages:
        root = REPO / pkg
        for f in root.rglob("*.py"):
            parts = (pkg,) + f.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = f
    return out


def _imports(name: str, path: pathlib.Path, modules) -> list[tuple[str, str]]:
    """(imported module, imported name) pairs, lazy imports inside functions included."""
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                full = f"{mod}.{a.name}"
                found.append((full if full in modules else mod, a.name))
        elif isinstance(node, ast.Import):
            found += [(a.name, "") for a in node.names]
    return [(m, n) for m, n in found if m.split(".")[0] in PACKAGES]


def _part(module: str) -> str:
    return ".".join(module.split(".")[:2])


def test_no_import_cycles_and_no_private_imports():
    modules = _modules(PACKAGES)
    graph = {m: {t for t, _ in _imports(m, p, modules) if t in modules and t != m} for m, p in modules.items()}
    private = [(m, t, n) for m, p in modules.items() for t, n in _imports(m, p, modules)
               if n.startswith("_") and t != m]
    assert not private, f"private names imported across modules: {private}"

    state: dict[str, int] = {}
    cycle: list[str] = []

    def visit(m: str, path: list[str]) -> bool:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycle.extend(path[path.index(t):] + [t] if t in path else [m, t])
                return True
            if t not in state and visit(t, path + [t]):
                return True
        state[m] = 2
        return False

    for m in sorted(graph):
        if m not in state and visit(m, [m]):
            break
    assert not cycle, "import cycle: " + " -> ".join(cycle)


def test_each_part_imports_only_the_layers_below_it():
    modules = _modules()
    wrong = []
    for m, p in modules.items():
        allowed = ALLOWED.get(_part(m))
        if allowed is None:
            continue  # backends.run, backends (the package docstring)
        for t, _ in _imports(m, p, modules):
            if _part(t) != _part(m) and _part(t) not in allowed:
                wrong.append(f"{m} imports {t}")
    assert not wrong, "; ".join(wrong)


# kf_lsp: the fronts over the shared core; main.py and the __main__ launchers sit above them
FRONTS = {"kf_lsp.cli", "kf_lsp.lsp", "kf_lsp.mcp"}
LAUNCHERS = {"kf_lsp.main", "kf_lsp.__main__", "kf_lsp.cli.__main__"}


def test_packages_depend_one_way():
    """kf_lsp -> evolver -> backends: nothing below imports anything above it."""
    modules = _modules(PACKAGES)
    rank = {"backends": 0, "evolver": 1, "kf_lsp": 2}
    wrong = [f"{m} imports {t}" for m, p in modules.items() for t, _ in _imports(m, p, modules)
             if rank[t.split(".")[0]] > rank[m.split(".")[0]]]
    assert not wrong, "; ".join(wrong)


def test_fronts_never_import_each_other_and_core_imports_no_front():
    modules = _modules(("kf_lsp",))
    wrong = []
    for m, p in modules.items():
        if m in LAUNCHERS or m == "kf_lsp":
            continue
        mine = _part(m)
        for t, _ in _imports(m, p, modules):
            theirs = _part(t)
            if theirs in FRONTS and theirs != mine:
                wrong.append(f"{m} imports {t}")
    assert not wrong, "; ".join(wrong)
    flat = [m for m in modules if m.count(".") == 1 and m not in LAUNCHERS and _part(m) not in FRONTS | {"kf_lsp.core"}]
    assert not flat, f"kf_lsp/ holds modules outside its fronts and core: {flat}"
