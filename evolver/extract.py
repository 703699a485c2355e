"""From an LLM's reply to a kernel region that can be spliced into the user's file.

`extract_region` finds the code: fenced blocks (with or without a language tag, the last
one may lack its closing fence) or, with no fence at all, the whole reply; among several
blocks, the last one that defines the kernel by its name wins (models often quote the
original first). The region is the kernel's spec lines and definition, plus any helper
code written above the kernel in the same block (lines the reference file already has
outside the region, #include lines and namespace aliases are dropped; code after the
kernel, such as a host `main`, is dropped). When the reply's kernel has no `@kf` lines,
the reference's spec lines are put above it. A kernel whose braces do not close is a
truncated reply. `validate` splices the region into the reference file, finds the kernel
again, and rejects spec errors and contract changes before anything is compiled.

Failures are values (ExtractFailure), not exceptions: they become the operator's
Rejections and the next prompt's feedback.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

import msgspec

from backends.model import KernelSource, Language, Unit
from backends.kernel.scanner import find_kernels, stands_for
from backends.kernel.text import Lines, kf_comment_text
from backends.kernel.spec import check_contract
from backends.kernel.splice import StaleKernel, region_text, splice

__all__ = ["ExtractFailure", "CodeBlock", "code_blocks", "extract_region", "validate",
           "spec_lines", "describe"]


class ExtractFailure(msgspec.Struct, frozen=True):
    reason: str  # one line, for the user and the next prompt
    kind: str = "extract"  # no_code | truncated | wrong_kernel | spec_error | contract | stale


@dataclass(frozen=True)
class CodeBlock:
    text: str
    tag: str  # the fence's language tag ("" when none, or for an unfenced reply)
    closed: bool  # False: the reply ended inside the block
    fenced: bool


_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`]*)[^\n`]*$")
_DROP_PREAMBLE = re.compile(r"^\s*(#\s*include\b|#\s*pragma\s+once\b|using\s+namespace\b|"
                            r"namespace\s+\w+\s*=)")


def code_blocks(reply: str) -> list[CodeBlock]:
    """The fenced code blocks of a reply (LF line endings), in order; when there is no
    fence, the whole reply as one unfenced block."""
    text = reply.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    blocks: list[CodeBlock] = []
    i = 0
    while i < len(lines):
        m = _FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        fence, tag = m.group(1), m.group(2).lower()
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        blocks.append(CodeBlock(textwrap.dedent("\n".join(lines[i + 1:j])), tag, j < len(lines), True))
        i = j + 1
    if not blocks:
        blocks.append(CodeBlock(text, "", True, False))
    return blocks


def spec_lines(region: str) -> list[str]:
    """The `@kf` comment lines of a region (not `@kf begin`/`@kf end`), as written."""
    out = []
    for line in region.replace("\r\n", "\n").split("\n"):
        c = kf_comment_text(line)
        if c is not None and c.split()[1:2] not in (["begin"], ["end"]):
            out.append(line.rstrip())
    return out


def _is_marker(line: str, word: str) -> bool:
    c = kf_comment_text(line)
    return c is not None and c.split()[1:] == [word]


def _offsets(text: str, k: KernelSource) -> tuple[int, int, int]:
    """(region start, definition start, region end) offsets of `k` in `text`."""
    lines = Lines(text)
    return lines.offset(k.region.start), lines.offset(k.definition.start), lines.offset(k.region.end)


def extract_region(reply: str, reference: KernelSource, language: Language | None = None, *,
                   file_text: str | None = None, finish_reason: str | None = None
                   ) -> str | ExtractFailure:
    """The kernel region in `reply`, or why there is none.

    `file_text` is the reference file's text: with it, a reply without `@kf` lines gets
    the reference's spec lines, and helper lines the file already has are not repeated.
    `finish_reason` "length" marks a reply the server cut off.
    """
    language = language or reference.language
    cut = finish_reason == "length"
    blocks = code_blocks(reply)
    if not reply.strip():
        return ExtractFailure("the reply is empty" + (" (cut off at max_tokens)" if cut else ""),
                              "truncated" if cut else "no_code")
    chosen: tuple[CodeBlock, KernelSource] | None = None
    others: list[str] = []
    loose = [reference.name] if reference.form == "nd_item_function" else []  # its launcher stays in the file
    for b in blocks:
        for k in find_kernels(b.text, reference.file, language, loose):
            if stands_for(k, reference):
                chosen = (b, k)  # the last block defining it wins
            else:
                others.append(k.name)
    if chosen is None:
        if cut or any(not b.closed for b in blocks):
            return ExtractFailure("reply truncated: it ended before the kernel "
                                  f"'{reference.name}' was written", "truncated")
        if others:
            return ExtractFailure(f"the reply defines {', '.join(sorted(set(others)))}, not the "
                                  f"kernel '{reference.name}' (the name is part of the contract)",
                                  "wrong_kernel")
        what = "no code block" if not blocks[0].fenced else "no kernel definition in its code"
        return ExtractFailure(f"the reply has {what}: expected the whole region of "
                              f"'{reference.name}' in one fenced block", "no_code")
    block, k = chosen
    if any("no closing brace" in d.message for d in k.spec_errors):
        return ExtractFailure("reply truncated: the kernel's braces do not close"
                              + (" (cut off at max_tokens)" if cut else ""), "truncated")
    code = block.text
    r_start, d_start, r_end = _offsets(code, k)
    body = code[r_start:r_end].rstrip()
    preamble = code[:r_start]

    ref_region = region_text(file_text, reference) if file_text is not None else None
    outside: set[str] = set()
    if file_text is not None:
        lines = Lines(file_text)
        a, b = lines.offset(reference.region.start), lines.offset(reference.region.end)
        outside = {ln.strip() for ln in (file_text[:a] + "\n" + file_text[b:]).splitlines()
                   if ln.strip()}
    kept: list[str] = []
    for ln in preamble.split("\n"):
        if _DROP_PREAMBLE.match(ln) or (ln.strip() and ln.strip() in outside):
            continue
        kept.append(ln.rstrip())
    ref_begin = ref_region is not None and bool(ref_region.strip()) and \
        _is_marker(ref_region.lstrip().split("\n", 1)[0], "begin")
    body_has_begin = _is_marker(body.split("\n", 1)[0], "begin")

    has_spec = bool(spec_lines(code[r_start:d_start]))
    if not has_spec:
        # @kf lines left above the kernel by blank lines: pull them down onto it
        while kept and not kept[-1].strip():
            kept.pop()
        moved: list[str] = []
        while kept and kf_comment_text(kept[-1]) is not None:
            moved.insert(0, kept.pop())
        if spec_lines("\n".join(moved)):
            body = "\n".join(moved) + "\n" + body
        elif ref_region is not None:
            spec = spec_lines(ref_region)
            if spec:
                body = "\n".join(spec) + "\n" + body
        else:
            kept.extend(moved)
    helpers = "\n".join(kept).strip("\n")
    if not _has_code(helpers):
        helpers = ""
    if body_has_begin:
        return body
    region = (helpers + "\n\n" + body) if helpers else body
    if ref_begin:
        region = "// @kf begin\n" + region + "\n// @kf end"
    return region


def _has_code(text: str) -> bool:
    from backends.kernel.text import mask
    return bool(mask(text, comments=True, strings=False, preprocessor=False).strip())


def validate(region: str, reference: Unit) -> Unit | ExtractFailure:
    """The reference file with `region` spliced in, as a Unit ready to evaluate; or why
    not: the kernel is missing, its spec has errors, or it changed the contract."""
    ref = reference.kernel
    try:
        text = splice(reference.text, ref, region)
    except StaleKernel as e:
        return ExtractFailure(str(e), "stale")
    kernels = find_kernels(text, reference.path, ref.language)
    cand = next((k for k in kernels if k.name == ref.name), None)
    if cand is None:
        mine = find_kernels(region, reference.path, ref.language)
        if mine and not stands_for(mine[0], ref):
            problems = check_contract(ref, mine[0])
            return ExtractFailure("the reply changes the contract: " + "; ".join(problems),
                                  "contract")
        return ExtractFailure(f"no kernel '{ref.name}' in the reply's code", "no_code")
    if any("no closing brace" in d.message for d in cand.spec_errors):
        return ExtractFailure("reply truncated: the kernel's braces do not close", "truncated")
    problems = check_contract(ref, cand)
    if problems:
        return ExtractFailure("the reply changes the contract: " + "; ".join(problems), "contract")
    errors = [d for d in cand.spec_errors if d.severity == "error"]
    if errors:
        d = errors[0]
        line = d.line - cand.region.start.line + 1
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return ExtractFailure(f"spec error on line {line} of the region: {d.message}{more}",
                              "spec_error")
    if cand.spec is None:
        return ExtractFailure("the reply's kernel has no @kf spec lines", "spec_error")
    return Unit(path=reference.path, text=text, kernel=cand, tunables={},
                include_dirs=list(reference.include_dirs), flags=list(reference.flags),
                flags_source=reference.flags_source)


_IDEA = re.compile(r"^\s*(?:\*\*)?(?:idea|change|summary)(?:\*\*)?\s*[:\-]\s*(.+)$", re.I | re.M)


def describe(reply: str, limit: int = 80) -> str:
    """A short note on what a reply changed: its `Idea:` line, else its first sentence of
    prose, else ""."""
    text = reply.replace("\r\n", "\n")
    m = _IDEA.search(text)
    if m:
        s = m.group(1)
    else:
        prose = re.split(r"^[ \t]*(?:`{3,}|~{3,})", text, maxsplit=1, flags=re.M)[0]
        s = next((ln for ln in prose.split("\n") if ln.strip()), "")
        s = re.split(r"(?<=[.!?])\s", s.strip(), maxsplit=1)[0]
    s = " ".join(s.replace("*", "").replace("`", "").split())
    return s[: limit - 3] + "..." if len(s) > limit else s
