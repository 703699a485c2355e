"""The project's compiler flags for a file: compile_commands.json, settings, `@kf flags`.

A real kernel file is built with its project's flags: defines that pick types
(`-DENABLE_BF16`), include directories, `-std`, fast-math. kf reads them where C++ editors
do: a `compile_commands.json` found by walking up from the file (in each folder and its
`build/`, as clangd does), whose entry for the file gives its command (`command` string or
`arguments` list, relative paths taken from `directory`). A file without an entry takes
the configured flags (settings `kf.cuda.flags` / `kf.sycl.flags`, `--flags` on the command
line, `flags` of the MCP tools); the file's own `// @kf flags ...` lines come last.

Only flags that change what the compiler sees are kept (defines, include paths, language
standard, device code options); output, dependency, input-file and link flags are
dropped, and include paths become absolute so the flags mean the same from any folder.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
from typing import Iterable, Sequence

__all__ = ["ProjectFlags", "find_compile_commands", "compile_command_flags", "normalize", "split",
           "flags_for", "file_flags", "project_sources"]

# flags whose value is the next argument (when not attached)
_WITH_VALUE = {
    "-D", "-U", "-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-o", "-MF", "-MT", "-MQ",
    "-x", "-Xcompiler", "-Xptxas", "-Xnvlink", "-Xlinker", "-Xcudafe", "-Xarchive", "-ccbin", "--compiler-bindir",
    "-arch", "--gpu-architecture", "-code", "--gpu-code", "-gencode", "--generate-code", "-std", "--std",
    "-maxrregcount", "--maxrregcount", "-L", "-l", "-odir", "--output-directory", "--output-file",
    "--include-path", "--pre-include", "--define-macro", "--undefine-macro", "--system-include",
    "-Xclang", "--cuda-gpu-arch", "--cuda-path", "-target", "--target", "-rdc", "--relocatable-device-code",
    "--compiler-options", "--ptxas-options", "--linker-options", "-t", "--threads", "--options-file",
    "-optf", "--keep-dir", "-keep-dir",
}
# flags dropped with their value: where output goes, dependency files, link inputs, targets
_DROP_WITH_VALUE = {"-o", "-MF", "-MT", "-MQ", "-L", "-l", "-odir", "--output-directory", "--output-file",
                    "-Xnvlink", "-Xlinker", "-Xarchive", "-arch", "--gpu-architecture", "-code", "--gpu-code",
                    "-gencode", "--generate-code", "--cuda-gpu-arch", "-target", "--target", "-t", "--threads",
                    "--keep-dir", "-keep-dir", "-x", "--options-file", "-optf"}
_DROP = {"-c", "--compile", "-M", "-MM", "-MD", "-MMD", "-MP", "-E", "-S", "-cubin", "-ptx", "-fatbin",
         "--cubin", "--ptx", "--fatbin", "-dc", "-dw", "-dlink", "--device-c", "--device-w", "-lib", "-shared",
         "-static", "-run", "-v", "--verbose", "-keep", "--keep", "-save-temps", "-pipe", "-dryrun",
         "--dryrun", "-Werror", "-Winvalid-pch", "-fPIC", "-fpic", "-fPIE", "-pthread", "-rdynamic"}
# the same, attached: `-MFdeps.d`, `-ofile.o`, `-arch=sm_80`, `-lcublas`, `-L/lib`, `-xcu`
_DROP_ATTACHED = re.compile(r"^(-M[DMFTQP].*|-o.+|-Wl,.*|-Xlinker=.*|-gencode=.*|--generate-code=.*|-arch=.*|"
                            r"--gpu-architecture=.*|-code=.*|--gpu-code=.*|--cuda-gpu-arch=.*|--offload-arch=.*|"
                            r"-march=.*|-mtune=.*|--output-file=.*|-l(?!ineinfo$).+|-L.+|--keep-dir=.*|"
                            r"--options-file=.*|-x.+)$")
_SOURCE_EXT = (".cu", ".cuh", ".cpp", ".cc", ".cxx", ".c", ".hpp", ".h", ".o", ".obj", ".a", ".so")
# attached forms: `-DX`, `-I/path`, `-std=c++17`, `--gpu-architecture=sm_90`
_PATH_PREFIXES = ("--system-include=", "--pre-include=", "--include-path=", "-I", "-ccbin=")


class ProjectFlags:
    """Flags for one file and where they came from (`source`, for messages and the result)."""

    __slots__ = ("flags", "source")

    def __init__(self, flags: list[str], source: str):
        self.flags = flags
        self.source = source

    def __repr__(self) -> str:
        return f"ProjectFlags({self.flags!r}, {self.source!r})"


def split(text: str | Sequence[str] | None) -> list[str]:
    """A flags setting as given (one string, shell-quoted, or a list) -> arguments."""
    if text is None:
        return []
    if isinstance(text, str):
        try:
            return shlex.split(text)
        except ValueError:
            return text.split()
    out: list[str] = []
    for t in text:
        out.extend(split(t) if isinstance(t, str) and " " in t.strip() else [str(t)])
    return out


def _absolute(path: str, directory: str) -> str:
    path = os.path.expanduser(path)
    return os.path.normpath(path if os.path.isabs(path) else os.path.join(directory, path))


def _response_files(args: list[str], directory: str, depth: int = 0) -> list[str]:
    """Arguments with response files read in place: nvcc's `--options-file F` / `-optf F` (CMake
    puts a CUDA target's include directories in `includes_CUDA.rsp` this way) and `@F` (GCC,
    Clang); a file that cannot be read is left out (its flags are then missing, not invented)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        path = None
        if a in ("--options-file", "-optf") and i < len(args):
            path, i = args[i], i + 1
        elif a.startswith(("--options-file=", "-optf=")):
            path = a.split("=", 1)[1]
        elif a.startswith("@") and len(a) > 1:
            path = a[1:]
        if path is None:
            out.append(a)
            continue
        if depth > 3:
            continue
        try:
            with open(_absolute(path, directory), encoding="utf-8", errors="replace") as f:
                inner = split(f.read().replace("\n", " "))
        except OSError:
            continue
        for one in (x for x in inner):
            out.extend(_response_files([one], directory, depth + 1) if one.startswith(("@", "--options-file", "-optf"))
                       else [one])
        # `--options-file F` inside a response file takes its value from the same file
    return out


def normalize(args: Iterable[str], directory: str, source_file: str | None = None) -> list[str]:
    """Compiler arguments -> the flags kf keeps: attached form (`-DX`, `-I/abs`, `-std=c++17`),
    include paths absolute (relative ones taken from `directory`), response files read,
    output / dependency / link / architecture flags and input files dropped (kf compiles for
    the device it runs on)."""
    out: list[str] = []
    items = _response_files(list(args), directory)
    i = 0
    src = os.path.normpath(source_file) if source_file else None
    while i < len(items):
        a = items[i]
        i += 1
        if not a:
            continue
        nxt = items[i] if i < len(items) else None
        if a in _WITH_VALUE and nxt is not None:
            value = nxt
            i += 1
            if a in _DROP_WITH_VALUE:
                continue
            a = _attach(a, value)
        elif a in _DROP or _DROP_ATTACHED.match(a):
            continue
        elif not a.startswith("-"):
            p = _absolute(a, directory)
            if a.lower().endswith(_SOURCE_EXT) or (src and p == src):
                continue  # an input or output file
            if out and out[-1] in ("-Xcompiler", "-Xptxas"):
                out[-1] = _attach(out[-1], a)
                continue
            continue  # a stray word (the compiler's own path is dropped before)
        out.append(_with_absolute_path(_canonical(a), directory))
    return out


def _canonical(a: str) -> str:
    """Attached spellings of path flags in kf's one form (`-isystem/p` -> `--system-include=/p`)."""
    for old, new in (("-isystem", "--system-include="), ("-iquote", "-I"), ("-idirafter", "-I"),
                     ("-include", "--pre-include="), ("--include-path=", "-I"), ("--define-macro=", "-D"),
                     ("--undefine-macro=", "-U")):
        if a.startswith(old) and len(a) > len(old) and not a.startswith(new):
            rest = a[len(old):]
            return new + (rest[1:] if rest.startswith("=") else rest)
    return a


def include_dirs(flags: Sequence[str]) -> list[str]:
    """The include directories of normalized flags (`-I`, `--system-include=`), in order: where
    the drafter reads the project's headers, whichever front resolved the flags."""
    out = []
    for f in flags:
        for pre in ("-I", "--system-include="):
            if f.startswith(pre) and len(f) > len(pre) and f[len(pre):] not in out:
                out.append(f[len(pre):])
    return out


def _attach(flag: str, value: str) -> str:
    """One argument for a flag and its value: `-DX`, `-I/p`, `-std=c++17`, `--system-include=/p`."""
    if flag in ("-D", "-U", "-I", "-iquote", "-idirafter"):
        return ("-D" if flag == "-D" else "-U" if flag == "-U" else "-I") + value
    if flag == "-isystem":
        return "--system-include=" + value
    if flag in ("-include", "-imacros"):
        return "--pre-include=" + value
    if flag == "--define-macro":
        return "-D" + value
    if flag == "--undefine-macro":
        return "-U" + value
    if flag == "--include-path":
        return "-I" + value
    return f"{flag}={value}"


def _with_absolute_path(a: str, directory: str) -> str:
    for p in _PATH_PREFIXES:
        if a.startswith(p) and len(a) > len(p):
            value = a[len(p):]
            if p == "-ccbin=" and "/" not in value:
                return a  # a compiler found on PATH
            return p + _absolute(value, directory)
    return a


# ---------------------------------------------------------------------------
# compile_commands.json
# ---------------------------------------------------------------------------


def find_compile_commands(path: str, stop: str | None = None) -> str | None:
    """The compile_commands.json a C++ editor would use for `path`: in the file's folder or
    one above it, directly or in its `build/` folder; `stop` bounds the walk (a workspace root)."""
    d = os.path.dirname(os.path.abspath(path))
    stop = os.path.abspath(stop) if stop else None
    while True:
        for cand in (os.path.join(d, "compile_commands.json"), os.path.join(d, "build", "compile_commands.json")):
            if os.path.isfile(cand):
                return cand
        if stop and os.path.normpath(d) == os.path.normpath(stop):
            return None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


@functools.lru_cache(maxsize=16)
def _load(db: str, mtime: float) -> dict[str, tuple[list[str], str]]:
    """{absolute file: (arguments, directory)} of a compile_commands.json."""
    try:
        with open(db, encoding="utf-8") as f:
            entries = json.load(f)
    except (OSError, ValueError):
        return {}
    out: dict[str, tuple[list[str], str]] = {}
    if not isinstance(entries, list):
        return out
    base = os.path.dirname(db)
    for e in entries:
        if not isinstance(e, dict) or "file" not in e:
            continue
        directory = _absolute(str(e.get("directory") or "."), base)
        if isinstance(e.get("arguments"), list):
            args = [str(x) for x in e["arguments"]]
        elif isinstance(e.get("command"), str):
            try:
                args = shlex.split(e["command"])
            except ValueError:
                args = e["command"].split()
        else:
            continue
        out.setdefault(_absolute(str(e["file"]), directory), (args, directory))
    return out


def compile_command_flags(path: str, stop: str | None = None) -> ProjectFlags | None:
    """The flags of `path`'s entry in its compile_commands.json; None without an entry."""
    db = find_compile_commands(path, stop)
    if db is None:
        return None
    try:
        entries = _load(db, os.path.getmtime(db))
    except OSError:
        return None
    target = os.path.normpath(os.path.abspath(path))
    hit = entries.get(target) or entries.get(os.path.realpath(target))
    if hit is not None:
        args, directory = hit
        return ProjectFlags(normalize(args[1:], directory, target), f"compile_commands.json ({db})")
    root = os.path.dirname(db)
    if os.path.basename(root) == "build":
        root = os.path.dirname(root)
    near = _nearest_entry(target, {f: e for f, e in entries.items() if f.startswith(root + os.sep)})
    if near is None or not target.startswith(root + os.sep):
        return None
    args, directory = entries[near]
    return ProjectFlags(normalize(args[1:], directory, near),
                        f"compile_commands.json ({db}; {os.path.basename(target)} has no entry: "
                        f"those of {os.path.relpath(near, root)})")


def _nearest_entry(target: str, entries: dict) -> str | None:
    """For a file without an entry (a header, a new file), the entry clangd would borrow flags
    from: the most path components in common, then the same language (.cu/.cuh with .cu,
    C++ with C++), then the nearest name (the caller keeps to the database's project)."""
    cuda = target.lower().endswith((".cu", ".cuh"))
    best, key = None, None
    parts = target.split(os.sep)
    for f in entries:
        fp = f.split(os.sep)
        common = 0
        for a, b in zip(parts[:-1], fp[:-1]):
            if a != b:
                break
            common += 1
        same_lang = f.lower().endswith((".cu", ".cuh")) == cuda
        k = (common, same_lang, -abs(len(fp) - len(parts)), os.path.basename(f) == os.path.basename(target))
        if key is None or k > key:
            best, key = f, k
    return best


def project_sources(path: str, stop: str | None = None, limit: int = 40) -> list[str]:
    """The files the project compiles (its compile_commands.json's entries), nearest to
    `path` first; [] without a database. Where a kernel's launch or callers may be."""
    db = find_compile_commands(path, stop)
    if db is None:
        return []
    try:
        entries = _load(db, os.path.getmtime(db))
    except OSError:
        return []
    here = os.path.dirname(os.path.abspath(path))
    return sorted(entries, key=lambda f: (not f.startswith(here + os.sep), len(os.path.relpath(f, here)), f))[:limit]


# ---------------------------------------------------------------------------
# The flags of a file
# ---------------------------------------------------------------------------


def file_flags(kernels: Sequence[object]) -> list[str]:
    """Every `@kf flags` line of a file's kernels, in file order (they are one unit's flags)."""
    out: list[str] = []
    for k in kernels:
        spec = getattr(k, "spec", None)
        if spec is not None and spec.flags:
            out.extend(spec.flags)
    return out


def flags_for(path: str, configured: str | Sequence[str] | None = None, configured_source: str = "",
              spec_flags: Sequence[str] = (), workspace: str | None = None) -> ProjectFlags:
    """The flags `path` is built with: its compile_commands.json entry, else the configured
    ones (relative include paths from `workspace`, else the current folder), then the file's
    `@kf flags` (relative to the file's folder)."""
    here = os.path.dirname(os.path.abspath(path))
    found = compile_command_flags(path, None)
    if found is not None:
        flags, source = list(found.flags), found.source
    else:
        given = split(configured)
        flags = normalize(given, os.path.abspath(workspace) if workspace else os.getcwd())
        source = (configured_source or "configured") if given else ""
    if spec_flags:
        flags += normalize(list(spec_flags), here)
        source = f"{source} + @kf flags" if source else "@kf flags"
    return ProjectFlags(flags, source)
