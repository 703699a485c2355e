"""A session that compiles but cannot run: CUDA on a machine with no GPU.

Compile errors (mapped to the user's lines) and the compiler's resource report
(registers, spills, shared memory) need no GPU, so they are still worth giving.
"""

from __future__ import annotations

from backends.session import CompileFailure, CompileUnit
from backends.model import DeviceInfo


class CompileOnlySession:
    can_run = False
    timing_method = "none"

    def __init__(self, backend: str, arch: str | None = None):
        if backend != "cuda":
            raise ValueError(f"compile-only evaluation exists for cuda, not {backend}")
        from backends.cuda.compiler import compile_cuda
        from backends.cuda.devices import default_arch

        self.arch = arch or default_arch()
        self._compile = compile_cuda
        self.info = DeviceInfo(backend="cuda", index=-1, name=f"no CUDA GPU: compile only ({self.arch})",
                               kind="none", arch=self.arch)

    def compile(self, unit: CompileUnit):
        out = self._compile(unit, self.arch, want_ptx=True)
        if isinstance(out, CompileFailure):
            return out
        # no run, so no Profile from the harness: carry the PTX features in the resources
        import msgspec

        from backends.kernel.features import extract

        feats, source = extract("cuda", out, unit.source, out.resources)
        if feats:
            out = msgspec.structs.replace(
                out, resources=msgspec.structs.replace(out.resources, features=feats, feature_source=source))
        return out

    # -- the disk cache of compiled kernels (backends/judge/compile_cache.py) --------------

    def artifact(self, kernel, unit: CompileUnit) -> bytes:
        import msgspec

        return msgspec.msgpack.encode(kernel)

    def from_artifact(self, data: bytes, unit: CompileUnit):
        """A module compiled before (its features were taken then); no warnings: they would
        name the lines of the text compiled first."""
        import msgspec

        from backends.cuda.compiler import CompiledModule

        return msgspec.structs.replace(msgspec.msgpack.decode(data, type=CompiledModule), warnings=[])

    def artifact_salt(self) -> str:
        from backends.cuda.compiler import artifact_salt

        return artifact_salt(self.arch)

    def close(self) -> None:
        pass
