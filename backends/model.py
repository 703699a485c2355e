"""Plain data shared by every layer: kernels, specs, evaluation requests and results.

Everything here is a msgspec Struct so it crosses process and network boundaries
(worker pipes, Dask, the LSP wire, SQLite) as stable JSON or msgpack. Positions are
0-based (line, column) like LSP; front ends add 1 when printing.
"""

from __future__ import annotations

import enum
from typing import Literal

import msgspec

Language = Literal["cuda", "sycl"]


class Position(msgspec.Struct, frozen=True):
    line: int
    column: int


class Range(msgspec.Struct, frozen=True):
    start: Position
    end: Position  # exclusive


class Diagnostic(msgspec.Struct, frozen=True):
    """A message tied to a place in a user's file (compile error, spec error...)."""

    file: str
    line: int  # 0-based
    column: int  # 0-based
    severity: Literal["error", "warning", "info"]
    message: str
    source: str = "kf"  # who said it: "kf", "nvrtc", "sycl-rtc", "ptxas"

    def format(self) -> str:
        return f"{self.file}:{self.line + 1}:{self.column + 1}: {self.severity}: {self.message}"


class Param(msgspec.Struct, frozen=True):
    """One kernel parameter as written in the signature."""

    name: str
    type: str  # the declared type text, e.g. "const float* __restrict__"
    base_type: str  # the element/scalar type without qualifiers, e.g. "float"
    is_pointer: bool
    is_const: bool  # the pointee (for pointers) or the value is const


# ---------------------------------------------------------------------------
# The spec: what a kernel computes on, how it is launched, what may be tuned.
# Written in `// @kf ...` comment lines directly above the kernel (docs/spec.md).
# ---------------------------------------------------------------------------


class BufferSpec(msgspec.Struct, frozen=True):
    name: str  # a pointer parameter of the kernel
    role: Literal["in", "out", "inout"]
    dtype: str  # canonical: f16 f32 f64 i8 u8 i16 u16 i32 u32 i64 u64
    length: str  # element count, an expression of variables
    low: str | None = None  # optional value range for generated inputs [low, high)
    high: str | None = None
    line: int = 0  # 0-based line of the spec entry in the file
    start: str | None = None  # `out` only: the value every element holds before each run (`start 0`)


class Variable(msgspec.Struct, frozen=True):
    """`@kf n = 1 << 20`: a scalar parameter's value or a problem-size variable."""

    name: str
    expr: str
    line: int = 0


class Launch(msgspec.Struct, frozen=True):
    """Launch shape as expressions. CUDA: grid (in blocks) and block; SYCL: global and local
    (in work-items, stored in the same fields). 1 to 3 dimensions, x first."""

    grid: list[str]
    block: list[str]
    shared: str = "0"  # dynamic shared (CUDA) / local (SYCL) memory in bytes
    line: int = 0


class Tunable(msgspec.Struct, frozen=True):
    name: str
    values: list[int | float | str]  # a str value is a type (`tune T = float, half`)
    line: int = 0


class Require(msgspec.Struct, frozen=True):
    """`@kf require C % 4 == 0`: a condition every problem size must meet (checked, derived
    and random sizes alike); an expression of variables that is true or false."""

    expr: str
    line: int = 0


class Reference(msgspec.Struct, frozen=True):
    """`@kf reference ref.py:func`: a Python function (NumPy; PyTorch where installed) or a
    KernelBench-style module (`Model`, `get_inputs`) that computes the expected outputs."""

    path: str  # as written, relative to the kernel's file
    function: str | None = None  # None: a KernelBench module (Model)
    line: int = 0
    precision: str = "float64"  # float inputs reach it as: float64 | float32 | native (the buffer's own type)


class Check(msgspec.Struct, frozen=True):
    """An extra problem size for correctness: variable overrides, e.g. {"n": "4097"}."""

    assignments: dict[str, str]
    line: int = 0


class Spec(msgspec.Struct, frozen=True):
    buffers: list[BufferSpec]
    variables: list[Variable]
    launch: Launch | None
    tunables: list[Tunable] = []
    checks: list[Check] = []
    rtol: float | None = None  # None: the default for the output's dtype
    atol: float | None = None
    bytes: str | None = None  # override of bytes moved per launch (else from buffers)
    flops: str | None = None  # floating-point operations per launch, for the roofline
    range: Range | None = None  # where the spec lines are
    fixed: list[str] = []  # `@kf fixed NAME`: variables kf never varies (no derived sizes)
    requires: list[Require] = []  # `@kf require EXPR`: conditions on problem sizes
    nulls: list[str] = []  # `@kf NAME = null`: pointer parameters passed as null pointers
    types: dict[str, str] = {}  # `@kf T = float`: type template parameters bound to types
    flags: list[str] = []  # `@kf flags ...`: compiler flags for the file (beside the project's)
    reference: Reference | None = None  # `@kf reference ...`: a Python oracle
    values: str | None = None  # `@kf values special|finite|ordinary`: the special input set (backends/judge/inputs.py)

    def buffer(self, name: str) -> BufferSpec | None:
        return next((b for b in self.buffers if b.name == name), None)


KernelForm = Literal["global", "free_function", "nd_item_function", "lambda"]


class KernelSource(msgspec.Struct, frozen=True):
    """A kernel found in a file: where it is and what it promises.

    `form` is how the user wrote it: a CUDA `__global__` function, a SYCL free-function
    kernel, a function taking `sycl::nd_item<N>` called from a `parallel_for` lambda, or
    the lambda itself; the last two are lifted into a free-function kernel to compile and
    spliced back in the user's form."""

    file: str
    language: Language
    name: str
    params: list[Param]
    definition: Range  # the kernel definition (template line, attributes .. closing brace)
    name_range: Range  # the kernel's name token, for hover and lenses
    region: Range  # what a variant replaces: spec lines + definition (or @kf begin/end block)
    spec: Spec | None
    spec_errors: list[Diagnostic] = []
    is_template: bool = False
    template_params: list[str] = []
    content_hash: str = ""  # sha256 of the region text (splice's check that the text is unchanged)
    code_hash: str = ""  # the region plus the tunable values bound outside it: the kernel's identity
    form: KernelForm = "global"
    # SYCL lambdas and nd_item functions (backends/kernel/sycl_forms.py): the launch as the code
    # writes it. dims: 1-3, 0 when the code does not say (the spec's `global` does);
    # range_launch: a `range` launch with an `id`/`item` (the spec needs `global` only; kf picks
    # the work-group and rounds the global size up, and the extra work-items do nothing).
    dims: int = 0
    range_launch: bool = False


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


class Verdict(str, enum.Enum):
    CORRECT = "correct"
    COMPILED = "compiled"  # compiled and resource-checked only: no device to run it here
    CONTRACT = "contract_violation"  # candidate changed parameters/buffers; not compiled
    REJECTED = "rejected"  # an operator's proposal that never became a kernel (no code in an LLM reply, truncated, endpoint error)
    SPEC_ERROR = "spec_error"  # the spec cannot be evaluated (bad expression, missing entry)
    COMPILE_ERROR = "compile_error"
    LAUNCH_ERROR = "launch_error"  # the runtime refused the launch (bad shape, too much smem)
    WRONG = "wrong"  # outputs differ from the reference beyond tolerance
    UNWRITTEN = "unwritten"  # output elements the reference writes were left untouched (poison)
    CONSTANT = "constant_output"  # output constant/all-zero where the reference's is not
    INPUT_MODIFIED = "input_modified"
    OUT_OF_BOUNDS = "out_of_bounds"  # guard bytes around a buffer were overwritten, or read (the output depends on them)
    NONDETERMINISTIC = "nondeterministic"  # right once, wrong on a repeat with the same inputs (a race, uninitialised memory), or a sanitizer's finding
    TIMEOUT = "timeout"
    CRASH = "crash"  # the worker process died or the device reported a sticky error
    REFERENCE_FAILED = "reference_failed"  # the original kernel itself did not run cleanly
    INTERNAL = "internal_error"  # a bug in kf; reported, never hidden


# Failure stages, for the search's feedback: higher is closer to a usable kernel.
VERDICT_STAGE: dict[Verdict, int] = {
    Verdict.CONTRACT: 0,
    Verdict.REJECTED: 0,
    Verdict.SPEC_ERROR: 0,
    Verdict.COMPILE_ERROR: 1,
    Verdict.LAUNCH_ERROR: 2,
    Verdict.CRASH: 2,
    Verdict.TIMEOUT: 2,
    Verdict.OUT_OF_BOUNDS: 3,
    Verdict.NONDETERMINISTIC: 3,
    Verdict.INPUT_MODIFIED: 3,
    Verdict.UNWRITTEN: 3,
    Verdict.CONSTANT: 3,
    Verdict.WRONG: 3,
    Verdict.COMPILED: 4,
    Verdict.CORRECT: 5,
    Verdict.REFERENCE_FAILED: 0,
    Verdict.INTERNAL: 0,
}


class Mismatch(msgspec.Struct, frozen=True):
    buffer: str
    index: int
    expected: float
    got: float


class CheckReport(msgspec.Struct, frozen=True):
    """Correctness of one (problem size, seed) run."""

    sizes: dict[str, int]
    seed: int
    ok: bool
    buffer: str | None = None  # the first failing buffer
    mismatches: list[Mismatch] = []  # the first few
    mismatch_count: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    message: str = ""
    nonfinite_count: int = 0  # elements that are NaN/Inf where the reference's are finite (or the reverse)
    derived: bool = False  # a size kf chose (backends/judge/sizes.py), not one the spec lists
    # the oracle's account (backends/judge/oracle.py): what the outputs were compared with and how
    oracle: str = ""  # "python reference" (`@kf reference`) or "original" (the original kernel's outputs)
    rule: str = ""  # why it passed or failed: "tolerance" | "no worse than the original" | ""
    rtol: float | None = None  # the tolerance used for `buffer` (the worst one when all passed)
    atol: float | None = None  # absolute part actually used (scaled to the outputs' magnitude)
    original_error: float | None = None  # with a Python reference: the original's max abs error against it


class Timing(msgspec.Struct, frozen=True):
    """Per-launch times in seconds. `samples` are kept so comparisons can be made later."""

    median: float
    p10: float
    p90: float
    mean: float
    stdev: float
    trials: int
    samples: list[float]
    method: str  # "cuda-events" / "host-clock"
    stop: str = ""  # why timing stopped: "noise", "time cap", "max trials" (backends/judge/stats.py)
    noise: float | None = None  # half-width of the median's 95% interval / median (0.01: +-1%)


class Profile(msgspec.Struct, frozen=True):
    registers: int | None = None
    spill_stores: int | None = None  # bytes
    spill_loads: int | None = None  # bytes
    stack_bytes: int | None = None
    static_shared: int | None = None  # bytes
    dynamic_shared: int | None = None  # bytes
    occupancy: float | None = None  # estimated fraction of max resident warps (CUDA)
    block_threads: int | None = None
    grid_blocks: int | None = None
    bytes_moved: int | None = None  # per launch, from the spec
    flops: int | None = None
    bandwidth: float | None = None  # bytes/s achieved
    peak_bandwidth: float | None = None  # bytes/s measured on this device
    bandwidth_fraction: float | None = None  # of peak
    flop_rate: float | None = None
    above_peak: bool = False  # achieved beyond the device's measured peak: suspicious
    ncu: dict[str, float] = {}
    sub_group_sizes: list[int] = []  # SYCL
    # Counts read from what the compiler produced (CUDA: PTX; SYCL: see backends/kernel/features.py),
    # e.g. {"ld_global_v4": 2, "bar_sync": 1, "shfl": 0, "mma": 0, "fma": 12, "instructions": 80}.
    # The search turns them into behavioural descriptors; comments and names cannot move them.
    features: dict[str, float] = {}
    feature_source: str = ""  # "ptx" / "sycl-source" / ""
    notes: list[str] = []


class DeviceInfo(msgspec.Struct, frozen=True):
    backend: str  # "cuda" | "sycl"
    index: int
    name: str
    kind: str  # "gpu" | "cpu" | "accelerator"
    arch: str = ""  # "sm_90", "opencl:cpu"...
    memory_bytes: int = 0
    compute_units: int = 0
    peak_bandwidth: float | None = None  # bytes/s, measured (cached per device)
    details: dict[str, str | int | float] = {}

    @property
    def tag(self) -> str:
        """Hardware tag used for routing: cuda-sm_90, sycl-cpu..."""
        return f"{self.backend}-{self.arch}" if self.backend == "cuda" else f"{self.backend}-{self.kind}"


class Unit(msgspec.Struct, frozen=True):
    """A compilable file with one kernel of interest in it."""

    path: str  # the user's file (diagnostics name it); may not exist on disk (unsaved text)
    text: str  # the whole file text
    kernel: KernelSource  # parsed from `text`; spec taken from here
    tunables: dict[str, int | float | str] = {}  # tunable bindings; missing ones take their defaults
    include_dirs: list[str] = []
    flags: list[str] = []  # the project's compiler flags for this file (compile_commands.json, settings, CLI)
    flags_source: str = ""  # where `flags` came from, for messages: "compile_commands.json", "kf.cuda.flags"...


class SkippedSize(msgspec.Struct, frozen=True):
    """A size kf chose where the original crashed its worker (a sticky device fault, a
    segfault, a hang): the pool runs the evaluation again in a fresh worker without it
    (backends/run/local_pool.py), and the verdict names it with `reason`."""

    sizes: dict[str, int]  # the run's integer sizes, as its label shows them (n=67)
    reason: str  # what the original did there: "its process died (killed by SIGSEGV)", "it faulted: ..."


class EvalOptions(msgspec.Struct, frozen=True):
    seeds: int = 3
    check_extra_sizes: bool = True
    time: bool = True
    min_trials: int = 6  # before the noise target or the time cap may stop timing: 6 paired trials are the
    # fewest whose distribution-free interval covers 95% (backends/judge/stats.py)
    max_trials: int = 200
    target_seconds: float = 1.0  # the time cap of the timing loop (both kernels' trials together)
    warmup_seconds: float = 0.02
    # timing stops early once every kernel's median is known within +-noise_target (95% interval);
    # 0: always time for target_seconds (the search's confirmations and final re-time)
    noise_target: float = 0.02
    min_effect: float = 0.02  # smallest speedup called significant (the search's rule, evolver/claims.py)
    profile: bool = True
    ncu: bool = False
    timeout_s: float = 30.0  # for one launch and its checks: longer is a hang (the worker is killed)
    sanitize: bool = False  # CUDA: run the candidate under compute-sanitizer (racecheck, initcheck, memcheck) too
    compile_overlap: bool = True  # compile the candidate in a thread beside the original's work
    # the original's preamble will recur in full compiles (a search's candidates): keep it precompiled where
    # the backend can (SYCL: backends/sycl/pch.py); off for a single evaluation, where building it costs a compile
    precompile: bool = False
    skip_sizes: list[SkippedSize] = []  # derived sizes left out: the original crashed there (set by the pool)


class EvalRequest(msgspec.Struct, frozen=True):
    reference: Unit
    candidate: Unit | None = None  # None: benchmark the reference alone
    backend: str = "sycl"
    device: int = 0
    options: EvalOptions = EvalOptions()
    nonce: int = 0  # mixed into input seeds so repeated evaluations see new inputs
    # candidates the search asks next, compiled ahead, never while timing (judge/ahead.py); [] says that
    # candidates will follow (a search's original): the compile-ahead helper starts beside it; None: none will
    ahead: list[Unit] | None = None


class KernelMeasurement(msgspec.Struct, frozen=True):
    timing: Timing | None = None
    profile: Profile | None = None


class Build(msgspec.Struct, frozen=True, omit_defaults=True):
    """How the original was compiled: which compiler, with which of the project's flags,
    from where (compile_commands.json, settings, --flags, `@kf flags`), and why that compiler."""

    compiler: str  # "nvcc 13.0.88" / "nvrtc 13.5"
    flags: list[str] = []
    flags_source: str = ""
    why: str = ""  # e.g. "`int main()` is host code (vectorAdd.cu:120)"


class EvalResult(msgspec.Struct, frozen=True):
    verdict: Verdict
    message: str = ""  # one line for humans
    diagnostics: list[Diagnostic] = []  # compile errors/warnings mapped to the user's file
    checks: list[CheckReport] = []
    reference: KernelMeasurement | None = None
    candidate: KernelMeasurement | None = None
    speedup: float | None = None  # reference median / candidate median
    speedup_low: float | None = None  # 95% confidence interval of the speedup
    speedup_high: float | None = None
    significant: bool = False  # candidate significantly faster than the reference
    device: DeviceInfo | None = None
    compile_seconds: float = 0.0
    wall_seconds: float = 0.0
    build: Build | None = None  # the compiler and flags used (CUDA)

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.CORRECT


def encode_json(obj: object) -> bytes:
    return msgspec.json.encode(obj)


def decode_json(data: bytes | str, type_: type) -> object:
    return msgspec.json.decode(data, type=type_)
