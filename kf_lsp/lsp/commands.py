"""Command identifiers (workspace/executeCommand) and their arguments.

Every command takes ONE argument, a JSON object, described by the Struct below (camelCase
keys). `parse_args` turns the raw `arguments` list into that Struct or an error string
(the server answers InvalidParams with it); nothing here raises on bad input.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = ["OPTIMIZE", "STOP", "BENCHMARK", "APPLY_VARIANT", "VARIANT_DIFF", "ADD_SPEC", "SET_API_KEY",
           "LIST_JOBS", "ALL", "KernelArgs", "OptimizeArgs", "StopArgs", "VariantArgs", "ApplyArgs",
           "AddSpecArgs", "ApiKeyArgs", "NoArgs", "ARGS", "parse_args", "to_plain",
           "VARIANT_TEXT", "JOB_STARTED", "JOB_PROGRESS", "JOB_FINISHED", "SET_API_KEY_NOTIFICATION"]

OPTIMIZE = "kf.optimize"
STOP = "kf.stop"
BENCHMARK = "kf.benchmark"
APPLY_VARIANT = "kf.applyVariant"
VARIANT_DIFF = "kf.variantDiff"
ADD_SPEC = "kf.addSpec"
SET_API_KEY = "kf.setApiKey"
LIST_JOBS = "kf.listJobs"
ALL = [OPTIMIZE, STOP, BENCHMARK, APPLY_VARIANT, VARIANT_DIFF, ADD_SPEC, SET_API_KEY, LIST_JOBS]

# custom requests / notifications
VARIANT_TEXT = "kf/variantText"  # request: VariantArgs -> VariantText
# server -> client: a job's events (JobPayload; kf/jobFinished with `best`), named by the shared layer
from kf_lsp.core.jobs import JOB_FINISHED, JOB_PROGRESS, JOB_STARTED  # noqa: E402
SET_API_KEY_NOTIFICATION = "kf/setApiKey"  # client -> server: ApiKeyArgs


class KernelArgs(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    uri: str
    kernel: str


class LLMChoice(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """An endpoint and a model among those the settings configure, by name (never a URL or a key variable)."""

    endpoint: str | None = None  # "default" is kf.llm.baseUrl; others are kf.llm.endpoints' names
    model: str | None = None  # the endpoint's model or one of its `models`


class OptimizeArgs(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    uri: str
    kernel: str
    budget: Annotated[int, Meta(ge=1, le=100000)] | None = None  # evaluations; default kf.budget
    eval_seconds: Annotated[float, Meta(gt=0, le=60)] | None = None  # default kf.evalSeconds
    llm: bool | LLMChoice | None = None  # false: tuning only; default: as the settings say


class StopArgs(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """Either a job id, or a kernel (uri + kernel: every job on it)."""

    job: str | None = None
    uri: str | None = None
    kernel: str | None = None


class VariantArgs(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    uri: str
    kernel: str
    variant: str | None = None  # a variant id (or a unique prefix); default the best


class ApplyArgs(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    uri: str
    kernel: str
    variant: str | None = None  # default: the best variant
    version: int | None = None  # the document version the action was computed for


class AddSpecArgs(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    uri: str
    kernel: str
    version: int | None = None


class ApiKeyArgs(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    api_key: str  # kept in the server process's environment only; never logged or stored


class NoArgs(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


ARGS: dict[str, type] = {
    OPTIMIZE: OptimizeArgs,
    STOP: StopArgs,
    BENCHMARK: KernelArgs,
    APPLY_VARIANT: ApplyArgs,
    VARIANT_DIFF: VariantArgs,
    ADD_SPEC: AddSpecArgs,
    SET_API_KEY: ApiKeyArgs,
    LIST_JOBS: NoArgs,
    VARIANT_TEXT: VariantArgs,
}


def to_plain(obj: Any) -> Any:
    """pygls hands custom messages' params over as namedtuples: back to dicts and lists."""
    if hasattr(obj, "_asdict"):
        return {k: to_plain(v) for k, v in obj._asdict().items()}
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def parse_args(command: str, arguments: Any) -> Any | str:
    """The command's argument Struct, or a one-line error. `arguments` is the raw list of
    executeCommand (one object expected) or a request's params object."""
    cls = ARGS.get(command)
    if cls is None:
        return f"unknown command {command!r}"
    args = to_plain(arguments)
    if isinstance(args, list):
        if len(args) == 0:
            args = {}
        elif len(args) == 1:
            args = args[0]
        else:
            return f"{command}: expected one argument object, got {len(args)} arguments"
    if args is None:
        args = {}
    if not isinstance(args, dict):
        return f"{command}: expected an object argument, got {type(args).__name__}"
    try:
        return msgspec.convert(args, cls)
    except msgspec.ValidationError as e:
        return f"{command}: {e}"
