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
