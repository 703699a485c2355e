"""The language server's settings: a msgspec Struct with defaults, read leniently.

Sources, later ones winning: `initializationOptions` (either the settings object itself or
`{"kf": {...}}`), then the `kf` section of `workspace/configuration` (re-read on
`workspace/didChangeConfiguration`). Keys are camelCase (`maxJobs`); snake_case is
accepted too. A bad value never stops the server: `parse_settings` keeps the default for
that one field and returns a warning naming it (the server shows it with
window/showMessage).

The LLM API key is never a setting: it comes from the environment variable named by
`llm.apiKeyEnv`, or from the client at run time (command `kf.setApiKey`), and lives only
in the server process's environment. A key found in the settings is dropped with a
warning, and never echoed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from evolver.records import Budget, LLMConfig, SearchConfig

__all__ = ["Settings", "LanguageSettings", "LLMSettings", "LLMEndpoint", "BudgetSettings", "OnSaveSettings",
           "parse_settings", "merge_raw", "search_config", "choose_llm", "llm_endpoints", "key_envs", "DEFAULT_ENDPOINT"]

Positive = Annotated[int, Meta(ge=1)]
PositiveFloat = Annotated[float, Meta(gt=0)]


EnvName = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class LLMEndpoint(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    """A further endpoint a search may be pointed at by name (`llm.endpoints.NAME`)."""

    base_url: str
    model: str = ""  # the model used when a call names none
    models: list[str] = []  # further models a call may choose by name
    api_key_env: EnvName = "OPENAI_API_KEY"


class LLMSettings(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    base_url: str | None = None  # an OpenAI-compatible endpoint; None: the LLM operator is off
    model: str = ""
    api_key_env: EnvName = "OPENAI_API_KEY"  # where the key is read from (never the key itself)
    models: list[str] = []  # further models at base_url a call may choose by name
    endpoints: dict[str, LLMEndpoint] = {}  # further endpoints a call may choose by name
    temperature: Annotated[float, Meta(ge=0, le=2)] = 0.7
    max_tokens: Positive = 4096
    concurrency: Positive = 2
    token_budget: Positive | None = None


class BudgetSettings(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    evaluations: Positive = 32
    wall_seconds: PositiveFloat | None = None
    tokens: Positive | None = None
    patience: Positive | None = None


class OnSaveSettings(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    benchmark: bool = False  # re-benchmark a kernel whose code changed when its file is saved
    restart_search: bool = False  # ...and restart its search with the new code as the reference


class LanguageSettings(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    # compiler flags for files that have no compile_commands.json entry, e.g. "-DENABLE_BF16 -Iinclude"
    # (a string, shell-quoted, or a list; relative include paths from the workspace folder)
    flags: str | list[str] = []


class Settings(msgspec.Struct, frozen=True, rename="camel", forbid_unknown_fields=True):
    backend: Literal["auto", "cuda", "sycl"] = "auto"  # auto: the kernel's language decides
    device: Annotated[int, Meta(ge=0)] | None = None  # None: a GPU when present, else the first device
    llm: LLMSettings = LLMSettings()
    budget: BudgetSettings = BudgetSettings()
    tuning: Literal["auto", "exhaustive", "random", "bayes"] = "auto"
    eval_seconds: PositiveFloat = 0.5  # timing budget per kernel per evaluation
    on_save: OnSaveSettings = OnSaveSettings()
    scheduler: str | None = None  # Dask scheduler of `kf worker`s (tls://host:8786); None: local devices
    scheduler_target: str | None = None  # hardware tag evaluations must run on (cuda-sm_90, sycl-cpu...)
    tls_ca: str | None = None  # PEM paths for a tls:// scheduler (default: $KF_TLS_CA, ...)
    tls_cert: str | None = None
    tls_key: str | None = None
    max_jobs: Positive = 2  # jobs (searches, benchmarks) running at once
    queue_jobs: bool = True  # past maxJobs: queue (true) or refuse with a message (false)
    variant_actions: Annotated[int, Meta(ge=0, le=20)] = 3  # "Apply variant" actions offered
    watch: bool = True  # watch the workspace folders for changes made outside the editor
    debounce_ms: Annotated[int, Meta(ge=0, le=10000)] = 300
    cuda: LanguageSettings = LanguageSettings()  # kf.cuda.flags
    sycl: LanguageSettings = LanguageSettings()  # kf.sycl.flags


_SECRET_KEYS = {"apikey", "api_key", "key", "token", "secret", "password"}


def _camel(key: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), key)


def _fields(cls: type) -> dict[str, Any]:
    """encoded (camelCase) name -> field info."""
    return {f.encode_name: f for f in msgspec.structs.fields(cls)}


def _lenient(raw: dict, cls: type, where: str, warnings: list[str]) -> Any:
    fields = _fields(cls)
    good: dict[str, Any] = {}
    for key, value in raw.items():
        name = _camel(str(key))
        path = f"{where}.{name}"
        if name.lower() in _SECRET_KEYS:
            warnings.append(f"{path}: secrets are not read from settings (ignored); set the environment "
                            "variable named by kf.llm.apiKeyEnv or use the kf.setApiKey command")
            continue
        f = fields.get(name)
        if f is None:
            warnings.append(f"{path}: unknown setting (ignored)")
            continue
        sub = f.type if isinstance(f.type, type) and issubclass(f.type, msgspec.Struct) else None
        if sub is not None:
            if not isinstance(value, dict):
                warnings.append(f"{path}: expected an object, got {type(value).__name__} (default used)")
                continue
            good[name] = msgspec.to_builtins(_lenient(value, sub, path, warnings))
            continue
        try:
            msgspec.convert({name: value}, cls)
        except msgspec.ValidationError as e:
            warnings.append(f"{path}: {_why(e)} (default used)")
            continue
        good[name] = value
    return msgspec.convert(good, cls)


def _why(e: msgspec.ValidationError) -> str:
    text = str(e)
    return re.sub(r"\s*-\s*at `\$[^`]*`$", "", text)


def merge_raw(*layers: object) -> dict:
    """Deep-merge raw settings objects (later wins); non-dict layers are skipped."""
    out: dict = {}
    for layer in layers:
        if isinstance(layer, dict):
            _merge(out, layer)
    return out


def _merge(into: dict, new: dict) -> None:
    for k, v in new.items():
        k = _camel(str(k))
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            _merge(into[k], v)
        else:
            into[k] = v


def unwrap(options: object) -> object:
    """initializationOptions may be the settings or {"kf": settings}."""
    if isinstance(options, dict) and isinstance(options.get("kf"), dict):
        return options["kf"]
    return options


def parse_settings(raw: object) -> tuple[Settings, list[str]]:
    """Settings from a raw JSON object, and one warning per value that was not usable.
    Never raises."""
    if raw is None:
        return Settings(), []
    if not isinstance(raw, dict):
        return Settings(), [f"kf: settings must be an object, got {type(raw).__name__} (defaults used)"]
    warnings: list[str] = []
    try:
        settings = _lenient(raw, Settings, "kf", warnings)
    except Exception as e:  # a bug here must not take the server down
        return Settings(), [f"kf: settings could not be read ({type(e).__name__}); defaults used"]
    return settings, warnings


DEFAULT_ENDPOINT = "default"


def llm_endpoints(llm: LLMSettings) -> dict[str, LLMEndpoint]:
    """The configured endpoints by name: "default" (`llm.baseUrl`, when set) and `llm.endpoints`."""
    out: dict[str, LLMEndpoint] = {}
    if llm.base_url:
        out[DEFAULT_ENDPOINT] = LLMEndpoint(base_url=llm.base_url, model=llm.model, models=list(llm.models),
                                            api_key_env=llm.api_key_env)
    for name, e in llm.endpoints.items():
        out.setdefault(name, e)
    return out


def key_envs(llm: LLMSettings) -> list[str]:
    """The variables the configured endpoints read their keys from."""
    return sorted({llm.api_key_env, *(e.api_key_env for e in llm.endpoints.values())})


def describe_endpoints(llm: LLMSettings) -> str:
    found = llm_endpoints(llm)
    if not found:
        return "none is configured"
    return "; ".join(f"{name}: " + ", ".join(dict.fromkeys(m for m in [e.model, *e.models] if m)) or name
                     for name, e in found.items())


def choose_llm(settings: Settings, use: bool | None, endpoint: str | None = None,
               model: str | None = None) -> Settings | str:
    """Settings whose `llm` is the endpoint and model a call chose BY NAME among the configured
    ones (never a URL or a key variable of the call's own), or a one-line reason.
    `use`: None = as configured (the default endpoint when there is one), False = no LLM,
    True = an LLM (the default endpoint unless `endpoint` names another)."""
    llm = settings.llm
    if use is False:
        return msgspec.structs.replace(settings, llm=msgspec.structs.replace(llm, base_url=None))
    if use is None and endpoint is None and model is None:
        return settings
    found = llm_endpoints(llm)
    if not found:
        return ("no LLM endpoint is configured; whoever starts kf configures them (kf mcp --llm-base-url URL "
                "--model NAME, or the settings' llm.baseUrl / llm.endpoints); a call only picks one by name")
    name = endpoint or (DEFAULT_ENDPOINT if DEFAULT_ENDPOINT in found else next(iter(found)))
    e = found.get(name)
    if e is None:
        return f"no LLM endpoint named {name!r} (configured: {describe_endpoints(llm)})"
    allowed = [m for m in dict.fromkeys([e.model, *e.models]) if m]
    chosen = model or e.model or (allowed[0] if allowed else "")
    if model is not None and model not in allowed:
        return f"the LLM endpoint {name!r} offers no model {model!r} (configured: {', '.join(allowed) or 'none'})"
    return msgspec.structs.replace(settings, llm=msgspec.structs.replace(
        llm, base_url=e.base_url, model=chosen, api_key_env=e.api_key_env))


def search_config(settings: Settings, budget: int | None = None, eval_seconds: float | None = None) -> SearchConfig:
    """The evolver's SearchConfig for a search started from the editor."""
    b = settings.budget
    llm = LLMConfig(base_url=settings.llm.base_url, model=settings.llm.model,
                    api_key_env=settings.llm.api_key_env, temperature=settings.llm.temperature,
                    max_tokens=settings.llm.max_tokens, concurrency=settings.llm.concurrency,
                    token_budget=settings.llm.token_budget) if settings.llm.base_url else LLMConfig()
    return SearchConfig(budget=Budget(evaluations=budget or b.evaluations, wall_seconds=b.wall_seconds,
                                      tokens=b.tokens, patience=b.patience),
                        tuning=settings.tuning, llm=llm,
                        eval_seconds=eval_seconds if eval_seconds is not None else settings.eval_seconds)
