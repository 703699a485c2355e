"""The evaluation worker process at its edges: a worker whose pool died ends quietly."""

from __future__ import annotations

import multiprocessing as mp

import msgspec


def _orphan(conn) -> None:  # spawn target: the worker, left alone with a dead pool
    from backends.run import worker

    worker.main(conn, "sycl", 0)


def test_a_worker_whose_pool_died_ends_quietly():
    """When the process owning an evaluation worker is killed (a Dask worker under kill -9),
    the worker's next message meets a broken pipe: it must end (exit 0, no traceback in the
    host's log, as was seen on the H200), not raise BrokenPipeError."""
    ctx = mp.get_context("spawn")
    ours, theirs = ctx.Pipe()
    p = ctx.Process(target=_orphan, args=(theirs,))
    p.start()
    theirs.close()
    # a request is waiting when the worker starts, and nobody is left to read its answer
    ours.send_bytes(msgspec.msgpack.encode(["stats"]))
    ours.close()
    p.join(60)
    assert p.exitcode == 0


def test_the_logs_of_killed_kf_processes_are_removed_and_a_live_ones_kept(tmp_path):
    """A kf process killed with -9 cannot remove its workers' logs: 490 empty kf-worker-*.log
    had piled up in /tmp. The next pool removes those whose owner is gone, never a live one's."""
    import os
    import subprocess

    from backends.run.local_pool import prune_stale_logs

    gone = subprocess.Popen(["true"])
    gone.wait()
    dead = tmp_path / f"kf-worker-sycl-p{gone.pid}-x1y2.log"
    live = tmp_path / f"kf-worker-cuda-p{os.getpid()}-a3b4.log"
    unowned = tmp_path / "kf-worker-sycl-q9w8.log"  # an older kf's name: no owner to ask, left alone
    other = tmp_path / f"notes-p{gone.pid}.log"
    for f in (dead, live, unowned, other):
        f.write_text("")
    assert prune_stale_logs(str(tmp_path)) == 1
    assert not dead.exists() and live.exists() and unowned.exists() and other.exists()
