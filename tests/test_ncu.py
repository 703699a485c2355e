"""Parsing Nsight Compute's CSV (recorded output; running ncu needs a GPU)."""

from backends.judge.ncu import parse_csv

RECORDED = '''==PROF== Connected to process 123
"ID","Process ID","Kernel Name","dram__bytes.sum","gpu__time_duration.sum","launch__registers_per_thread"
"","","","byte","ns","register/thread"
"0","123","saxpy","190941952","71840","16"
'''


def test_metrics_in_base_units():
    m = parse_csv(RECORDED)
    assert abs(m["gpu__time_duration.sum"] - 71.84e-6) < 1e-12
    assert m["dram__bytes.sum"] == 190941952 and m["launch__registers_per_thread"] == 16


def test_no_rows_gives_nothing():
    assert parse_csv("==PROF== No kernels were profiled.\n") == {}


def test_the_probe_imports_this_checkout_and_not_a_shadowing_cuda_package():
    """ncu runs `python -m backends.judge.ncu` in a new process: its path must start at the
    folder holding `backends` (a path into backends/ would make `backends/cuda` shadow
    cuda-python's `cuda`, as once happened on the GPU)."""
    import os
    from pathlib import Path

    from backends.judge.ncu import probe_env

    first = Path(probe_env()["PYTHONPATH"].split(os.pathsep)[0])
    assert (first / "backends" / "judge" / "ncu.py").is_file()
    assert not (first / "cuda").exists()
