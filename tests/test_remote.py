"""Remote evaluation on a real Dask cluster on loopback: a `dask scheduler` and `kf worker`
processes (SYCL on the CPU). Routing by hardware tag, refusal of anything but kf's own
entry point, faults (a worker killed mid-evaluation, a hang, an unreachable scheduler),
TLS with throwaway certificates, plain tcp beyond loopback refused."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import psutil
import pytest

from backends.model import EvalOptions, EvalResult, Verdict
from backends.run.multi_target import MultiTargetPool
from backends.run.local_pool import EvalPool
from backends.run.pool import Pool, make_pool
from backends.run.cluster import (InsecureAddress, NoMatchingWorker, RemotePool, SchedulerUnreachable, TaskRefused,
                             check_address, evaluate_remote, make_security)

from evalcases import request
from machine_load import slowdown

pytestmark = pytest.mark.timeout(300)

# the run limit is a guard, scaled with the load (tests/machine_load.py): at load 12 on 2 cores a
# 2^22 saxpy with kf's checks passed 10 s on a remote worker (a `wrong` candidate judged `timeout`)
SMALL = EvalOptions(seeds=1, target_seconds=0.1, min_trials=3, max_trials=20, warmup_seconds=0.01,
                    timeout_s=10.0 * slowdown(), check_extra_sizes=False)
ROOT = Path(__file__).resolve().parent.parent


def req(case, options=SMALL, device=0):
    return request("sycl", case, "sycl", device=device, options=options)


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        parent = psutil.Process(proc.pid)
        kids = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for k in kids:
        try:
            k.kill()
        except psutil.NoSuchProcess:
            pass


class Cluster:
    """A scheduler on a random loopback port and `kf worker` processes, as subprocesses."""

    def __init__(self, tmp: Path, tls: dict | None = None):
        self.tmp, self.tls = tmp, tls
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        sched_file = tmp / "scheduler.json"
        cmd = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
               "--no-dashboard", "--scheduler-file", str(sched_file)]
        if tls:
            cmd += ["--protocol", "tls", "--tls-ca-file", tls["ca"], "--tls-cert", tls["cert"], "--tls-key", tls["key"]]
        self.log = open(tmp / "cluster.log", "ab")
        self.procs.append(subprocess.Popen(cmd, stdout=self.log, stderr=self.log))
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.read_text().strip().endswith("}"):
            assert time.monotonic() < deadline, "the scheduler did not start"
            assert self.procs[0].poll() is None, (tmp / "cluster.log").read_text()
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]

    def security(self):
        return make_security(self.tls["ca"], self.tls["cert"], self.tls["key"]) if self.tls else None

    def add_worker(self, name: str) -> None:
        cmd = [sys.executable, "-m", "kf_lsp", "worker", self.address, "--backend", "sycl", "--devices", "0",
               "--name", name]
        if self.tls:
            cmd += ["--tls-ca", self.tls["ca"], "--tls-cert", self.tls["cert"], "--tls-key", self.tls["key"]]
        p = subprocess.Popen(cmd, stdout=self.log, stderr=self.log, cwd=ROOT)
        self.procs.append(p)
        self.workers[name] = p

    def dask_worker_pid(self, name: str) -> int:
        kids = [c for c in psutil.Process(self.workers[name].pid).children() if "backends.run.cluster" in " ".join(c.cmdline())]
        assert len(kids) == 1, kids
        return kids[0].pid

    def close(self) -> None:
        for p in reversed(self.procs):
            _kill_tree(p)
        self.log.close()


def wait_for_workers(pool: RemotePool, n: int, resource: str = "sycl-cpu", seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while pool.capacity(resource, max_age=0) < n:
        assert time.monotonic() < deadline, f"fewer than {n} {resource} workers after {seconds}s"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.add_worker("kfa")
        c.add_worker("kfb")
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def pool(cluster):
    with RemotePool(cluster.address, "sycl", connect_timeout=30) as p:
        wait_for_workers(p, 2)
        yield p


# -- addresses and TLS configuration (no cluster needed) -----------------------------------


def test_plain_tcp_beyond_loopback_is_refused():
    for address in ("tcp://192.0.2.1:8786", "192.0.2.1:8786", "tcp://[2001:db8::1]:8786", "tcp://gpu-box:8786"):
        with pytest.raises(InsecureAddress, match="refuses plain tcp"):
            RemotePool(address)
    with pytest.raises(InsecureAddress, match="needs certificates"):
        RemotePool("tls://192.0.2.1:8786")
    for address in ("tcp://127.0.0.1:1", "tcp://127.3.4.5:1", "tcp://[::1]:1", "localhost:1"):
        assert check_address(address).startswith("tcp://")
    out = subprocess.run([sys.executable, "-m", "kf_lsp", "worker", "tcp://192.0.2.1:8786"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "refuses plain tcp" in out.stderr, out.stderr


def test_unreachable_scheduler_is_one_clear_error_or_falls_back():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    t0 = time.monotonic()
    with pytest.raises(SchedulerUnreachable, match=f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        make_pool("sycl", [0], f"tcp://127.0.0.1:{port}", connect_timeout=2)
    assert time.monotonic() - t0 < 20
    said = []
    p = make_pool("sycl", [0], f"tcp://127.0.0.1:{port}", connect_timeout=1, fallback_local=True, on_fallback=said.append)
    with p:
        assert isinstance(p, EvalPool) and isinstance(p, Pool)
    assert said and "local sycl devices" in said[0]


# -- the loopback cluster ---------------------------------------------------------------


def test_remote_evaluation_uses_the_workers_device(pool):
    assert isinstance(pool, Pool) and pool.size == 2 and pool.tags() == {"sycl-cpu"}
    good = pool.evaluate_sync(req("good", device=7))  # the client's index means nothing remotely
    assert good.verdict is Verdict.CORRECT, good.message
    assert good.device.tag == "sycl-cpu" and good.speedup is not None
    wrong = pool.evaluate_sync(req("wrong"))
    assert wrong.verdict is Verdict.WRONG and any(not c.ok for c in wrong.checks)

    async def both():
        return await asyncio.gather(pool.evaluate(req("good")), pool.evaluate(req("wrong")))

    a, b = asyncio.run(both())
    assert (a.verdict, b.verdict) == (Verdict.CORRECT, Verdict.WRONG)


def test_pool_made_inside_an_event_loop(cluster, pool):
    async def main():  # as the language server and the search do: make_pool and evaluate in a loop
        with make_pool("sycl", remote=cluster.address) as p:
            assert p.size == 2
            return await p.evaluate(req("good"))

    assert asyncio.run(main()).verdict is Verdict.CORRECT

def test_routing_by_hardware_tag(pool):
    t0 = time.monotonic()
    with pytest.raises(NoMatchingWorker, match="cuda-sm_90 hardware .*the cluster has: sycl-cpu"):
        pool.evaluate_sync(req("good"), target="cuda-sm_90")
    assert time.monotonic() - t0 < 60  # refused without waiting for a worker (a deadline, not a speed claim)
    # Submitted anyway, behind kf's back: a sycl-cpu worker never runs it, it waits.
    payload = msgspec.msgpack.encode(req("good"))
    fut = pool.client.submit(evaluate_remote, payload, resources={"cuda-sm_90": 1}, pure=False)
    time.sleep(3)
    assert fut.status == "pending"
    assert not any(fut.key in keys for keys in pool.client.processing().values())
    fut.cancel()
    # And the routed form runs where the tag is.
    assert pool.evaluate_sync(req("good"), target="sycl-cpu").verdict is Verdict.CORRECT


def test_workers_run_nothing_but_the_evaluator(pool, tmp_path):
    marker = tmp_path / "pwned"
    fut = pool.client.submit(os.system, f"touch {marker}", pure=False)
    with pytest.raises(TaskRefused, match="not kf's evaluation entry point"):
        fut.result(timeout=30)
    fut2 = pool.client.submit(evaluate_remote, {"not": "bytes"}, pure=False)
    with pytest.raises(TaskRefused, match="one bytes argument"):
        fut2.result(timeout=30)
    with pytest.raises(Exception, match="refuses 'run'"):
        pool.client.run(os.system, f"touch {marker}")
    from distributed.diagnostics.plugin import WorkerPlugin

    class Touch(WorkerPlugin):
        def setup(self, worker):
            os.system(f"touch {marker}")

    with pytest.raises(Exception, match="a kf worker refuses 'plugin-add'"):
        pool.client.register_plugin(Touch(), name="touch")
    try:  # the scheduler keeps it for workers joining later: they refuse it too (never unpickled)
        pool.client.unregister_worker_plugin("touch")
    except Exception:
        pass
    time.sleep(0.5)
    assert not marker.exists()
    # The workers are unharmed.
    assert pool.evaluate_sync(req("good")).verdict is Verdict.CORRECT


def test_hang_times_out_and_the_client_has_its_own_limit(pool):
    hang = pool.evaluate_sync(req("hang", msgspec.structs.replace(SMALL, timeout_s=2.0)))
    assert hang.verdict is Verdict.TIMEOUT, hang.message
    impatient = RemotePool(pool.address, "sycl", timeout=0.5, _client=pool.client)
    # a candidate that cannot finish first: a warm `good` evaluation takes 0.6-0.9 s, and the client
    # looks every 0.25 s, so on a quiet machine it could come back `correct` before the 0.5 s limit
    # fired. The worker's own limit (3 s, scaled with the load) is the one the client must beat.
    late = impatient.evaluate_sync(req("hang", msgspec.structs.replace(SMALL, timeout_s=3.0 * slowdown())))
    assert late.verdict is Verdict.TIMEOUT and "client-side limit" in late.message
    assert pool.evaluate_sync(req("good")).verdict is Verdict.CORRECT


def test_multi_target_over_the_cluster(pool):
    with EvalPool("sycl", [0]) as local:
        multi = MultiTargetPool({"sycl-cpu": pool.for_target("sycl-cpu"), "local": local}, owns=False)
        result = asyncio.run(multi.evaluate_multi(req("wrong")))
        assert set(result.results) == {"sycl-cpu", "local"}
        assert result.verdict is Verdict.WRONG and all(r.verdict is Verdict.WRONG for r in result.results.values())
        combined = asyncio.run(multi.evaluate(req("good")))
        assert combined.verdict is Verdict.CORRECT and combined.speedup is not None, combined.message
        assert "sycl-cpu" in combined.message and "local" in combined.message


def test_kf_bench_remote(cluster, pool):
    cmd = [sys.executable, "-m", "kf_lsp", "bench", "examples/sycl/saxpy.cpp", "--candidate",
           "tests/kernels/sycl/good.cpp", "--seeds", "1", "--time-budget", "0.1", "--json", "--remote", cluster.address]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = msgspec.json.decode(out.stdout, type=EvalResult)
    assert result.verdict is Verdict.CORRECT and result.device.tag == "sycl-cpu"
    bad = subprocess.run(cmd[:-1] + ["tcp://192.0.2.1:8786"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "refuses plain tcp" in bad.stderr
    none = subprocess.run(cmd + ["--hardware", "cuda-sm_90"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert none.returncode == 2 and "no worker of" in none.stderr and "cuda-sm_90" in none.stderr, none.stderr


def test_kf_optimize_remote(cluster, pool, tmp_path):
    """The search runs unchanged over the cluster: every evaluation on a remote worker."""
    db = tmp_path / "kf.db"
    cmd = [sys.executable, "-m", "kf_lsp", "optimize", "examples/sycl/saxpy.cpp:saxpy", "--budget", "3",
           "--eval-seconds", "0.1", "--db", str(db), "--json", "--remote", cluster.address]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode in (0, 1), out.stderr
    from evolver.store import Store

    store = Store(str(db))
    (key,) = store.searches()
    assert key.device.startswith("remote") and cluster.address in key.device
    done = [v for v in store.variants(key.id) if v.result is not None]
    assert len(done) >= 3 and all(v.result.device.tag == "sycl-cpu" for v in done)
    assert all(v.verdict is Verdict.CORRECT for v in done)


def test_a_worker_killed_mid_evaluation_is_retried_elsewhere(cluster, pool):
    slow = msgspec.structs.replace(SMALL, target_seconds=2.0, min_trials=5, max_trials=2000, noise_target=0.0)
    fut = pool.submit(req("good", slow))
    deadline = time.monotonic() + 60
    victim = victim_addr = None
    while victim is None:
        assert time.monotonic() < deadline, "the evaluation never started"
        for addr, keys in pool.client.processing().items():
            if fut.key in keys:
                victim, victim_addr = pool.workers(0)[addr]["name"], addr
        time.sleep(0.1)
    time.sleep(1.0)  # in the middle of it
    os.kill(cluster.dask_worker_pid(victim.rsplit("-", 1)[0]), signal.SIGKILL)
    result = msgspec.msgpack.decode(fut.result(timeout=120), type=EvalResult)
    assert result.verdict is Verdict.CORRECT, result.message
    holders = pool.client.who_has(fut)[fut.key]
    assert holders and victim_addr not in holders  # re-run on the surviving worker
    # `kf worker` restarts the killed process; evaluations go on on both.
    wait_for_workers(pool, 2)

    async def two():
        return await asyncio.wait_for(asyncio.gather(pool.evaluate(req("good")), pool.evaluate(req("good"))), 120)

    again = asyncio.run(two())
    assert all(r.verdict is Verdict.CORRECT for r in again)


# -- TLS -----------------------------------------------------------------------------------


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(d: Path, name: str) -> dict:
    """A throwaway CA and one certificate it signed (used by scheduler, workers and client)."""
    d.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", f"/CN={name}-ca", cwd=d)
    _openssl("req", *ec, "-keyout", "node.key", "-out", "node.csr", "-subj", f"/CN={name}-node", cwd=d)
    (d / "ext.cnf").write_text("basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
                               "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
             "node.pem", "-days", "1", "-extfile", "ext.cnf", cwd=d)
    return {"ca": str(d / "ca.pem"), "cert": str(d / "node.pem"), "key": str(d / "node.key")}


def test_tls_cluster_works_and_refuses_strangers(tmp_path):
    tls = make_ca(tmp_path / "pki", "kf")
    rogue = make_ca(tmp_path / "rogue", "rogue")
    c = Cluster(tmp_path, tls)
    try:
        assert c.address.startswith("tls://")
        c.add_worker("kftls")
        with pytest.raises(InsecureAddress):
            RemotePool(c.address)  # tls:// without certificates
        with RemotePool(c.address, "sycl", security=c.security(), connect_timeout=30) as p:
            wait_for_workers(p, 1)
            r = p.evaluate_sync(req("good"))
            assert r.verdict is Verdict.CORRECT, r.message
        # A certificate from another CA: the handshake fails, kf says the scheduler is unreachable.
        with pytest.raises(SchedulerUnreachable):
            RemotePool(c.address, "sycl", security=make_security(rogue["ca"], rogue["cert"], rogue["key"]),
                       connect_timeout=3)
        # A client trusting the right CA but holding a rogue certificate: refused by the scheduler.
        with pytest.raises(SchedulerUnreachable):
            RemotePool(c.address, "sycl", security=make_security(tls["ca"], rogue["cert"], rogue["key"]),
                       connect_timeout=3)
    finally:
        c.close()



def test_language_server_remote_setting(cluster, pool, tmp_path):
    """`kf serve` with the `kf.scheduler` setting: an Optimize job's evaluations run on the
    cluster's workers, and the results come back to the editor as usual."""
    import asyncio

    from lsp_client import Doc, events, execute, kf_session, wait_for
    from test_lsp_e2e import workspace

    from evolver.store import Store

    root, path = workspace(tmp_path)

    async def run():
        settings = {"budget": {"evaluations": 3}, "evalSeconds": 0.1, "scheduler": cluster.address}
        async with kf_session(root, settings) as c:
            doc = Doc(c, path).open()
            started = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
            done = await wait_for(lambda: events(c, "kf/jobFinished", started["jobId"]), 240, 0.2, "kf/jobFinished")
            return done[0]

    finished = asyncio.run(run())
    assert finished["state"] == "done", finished
    store = Store(os.path.join(root, ".kf", "kf.db"))
    (key,) = store.searches()
    assert key.device.startswith("remote") and cluster.address in key.device
    evaluated = [v for v in store.variants(key.id) if v.result is not None]
    # the reference and the one other point of its tune space (REPEAT = 64, 1)
    assert len(evaluated) == 2 and all(v.result.device.tag == "sycl-cpu" for v in evaluated)
    assert finished["best"] and finished["best"]["tunables"]["REPEAT"] == 1
