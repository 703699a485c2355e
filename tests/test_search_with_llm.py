"""The whole loop with an endpoint: `kf optimize --llm-base-url` against the scripted
OpenAI-compatible TEST DOUBLE (tests/llm_double.py; a capable LLM cannot exist here), on
the real SYCL evaluator. The real tiny-LLM round trip is tests/test_tiny_llm.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

from evolver.store import Store

from llm_double import LLMDouble, broken_variant, contract_variant, good_variant, prose_wrapped, truncated

ROOT = Path(__file__).resolve().parent.parent


def test_optimize_with_an_endpoint_runs_the_whole_loop(tmp_path):
    src = tmp_path / "saxpy.cpp"
    src.write_text((ROOT / "examples/sycl/saxpy.cpp").read_text())
    db = tmp_path / "kf.db"
    script = [good_variant(), broken_variant(), contract_variant(), truncated(), prose_wrapped()]
    with LLMDouble(script) as llm:
        proc = subprocess.run(
            [sys.executable, "-m", "kf_lsp", "optimize", f"{src}:saxpy", "--budget", "10",
             "--llm-base-url", llm.url, "--model", "double", "--db", str(db), "--eval-seconds", "0.1", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
            env={**os.environ, "OPENAI_API_KEY": "sk-test-secret-value"},
        )
        requests = list(llm.requests)
    assert proc.returncode in (0, 1), proc.stderr
    assert "sk-test-secret-value" not in proc.stdout + proc.stderr

    # the endpoint was asked, with the reference kernel and the device in the prompt
    chats = [r for r in requests if "saxpy" in json.dumps(r)]
    assert chats, "the LLM operator never called the endpoint"
    prompt = json.dumps(chats[0])
    assert "@kf" in prompt and "cpu" in prompt.lower()

    store = Store(str(db))
    (key,) = [s for s in store.searches() if s.kernel == "saxpy"][:1]
    llm_variants = [v for v in store.variants(key.id) if v.operator == "llm"]
    verdicts = {v.verdict.value for v in llm_variants}
    # a good reply became a verified kernel; the broken one a compile error at its line;
    # the contract change and the truncated reply never reached the compiler
    assert "correct" in verdicts, verdicts
    assert "compile_error" in verdicts and "contract_violation" in verdicts and "rejected" in verdicts
    broken = next(v for v in llm_variants if v.verdict.value == "compile_error")
    assert broken.result and broken.result.diagnostics and "undeclared_z" in broken.result.diagnostics[0].message
    good = next(v for v in llm_variants if v.verdict.value == "correct")
    assert good.speedup and good.speedup_low <= good.speedup <= good.speedup_high and good.prompt
    assert store.prompts(key.id), "prompts are persisted with their lineage"
