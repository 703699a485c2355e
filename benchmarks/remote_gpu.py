"""`kf optimize --remote` over a Dask cluster of `kf worker`s, one per GPU: scaling and faults.

    python3 benchmarks/remote_gpu.py [--kernel benchmarks/kernels/axpy_items.cu] [--budget 32]
                                     [--workers 2] [--out DIR]

Runs, side by side in one process, the same search (a fresh database each time):
  1. locally (`kf optimize`, one device), for reference;
  2. on a cluster with 1 `kf worker`;
  3. on a cluster with N `kf worker`s, each pinned to its own device (GPU i for worker i;
     where the host has fewer GPUs than workers, workers share them, and the report says so);
  4. on N workers again, with one worker's Dask process killed with SIGKILL while it
     evaluates: the evaluation must be retried on another worker and the search must end
     with its whole budget.
A thread on a second Dask client samples which workers hold tasks, so "both busy" is seen,
not assumed. Prints a Markdown section (and writes it to DIR/remote_gpu.md with the raw
figures in DIR/remote_gpu.json). Needs a backend with devices (CUDA GPUs; on a CPU-only
machine `--kernel benchmarks/kernels/axpy_items.cpp` runs the mechanics on the SYCL CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KF = [sys.executable, "-m", "kf_lsp"]


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("NCCL_NVLS_ENABLE", "0")  # never NVLink multicast on shared hosts
    env.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
    env.setdefault("NVSHMEM_DISABLE_NVLS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _kill_tree(p: subprocess.Popen) -> None:
    import psutil

    try:
        kids = psutil.Process(p.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        kids = []
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
    for k in kids:
        try:
            k.kill()
        except psutil.NoSuchProcess:
            pass


def gpu_count(backend: str) -> int:
    out = subprocess.run(KF + ["devices", "--json"], capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300)
    try:
        devs = json.loads(out.stdout)
    except json.JSONDecodeError:
        return 0
    rows = devs if isinstance(devs, list) else devs.get("devices", [])
    return sum(1 for d in rows if d.get("backend") == backend and d.get("index", -1) >= 0)


class Cluster:
    """A loopback scheduler and `kf worker` processes, each pinned to one device."""

    def __init__(self, tmp: Path, backend: str, devices: list[int], log):
        self.procs: list[subprocess.Popen] = []
        self.workers: dict[str, subprocess.Popen] = {}
        sched_file = tmp / "scheduler.json"
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
             "--no-dashboard", "--scheduler-file", str(sched_file)], stdout=log, stderr=log, env=_env()))
        deadline = time.monotonic() + 60
        while not sched_file.exists() or not sched_file.read_text().strip().endswith("}"):
            if time.monotonic() > deadline:
                raise RuntimeError("the scheduler did not start")
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        for i, dev in enumerate(devices):
            name = f"w{i}"
            p = subprocess.Popen(KF + ["worker", self.address, "--backend", backend, "--devices", f"{backend}:{dev}",
                                       "--name", name], stdout=log, stderr=log, env=_env(), cwd=ROOT)
            self.procs.append(p)
            self.workers[name] = p
        from distributed import Client

        self.client = Client(self.address, timeout=60)
        deadline = time.monotonic() + 240
        while len(self.client.scheduler_info(n_workers=-1)["workers"]) < len(devices):
            if time.monotonic() > deadline:
                raise RuntimeError(f"fewer than {len(devices)} workers joined")
            time.sleep(0.2)

    def dask_pid(self, worker_address: str) -> int:
        """The pid of the Dask worker process behind `worker_address` (a child of its `kf worker`)."""
        import psutil

        name = self.client.scheduler_info(n_workers=-1)["workers"][worker_address]["name"]
        parent = self.workers[str(name).rsplit("-", 1)[0]]
        kids = [c for c in psutil.Process(parent.pid).children() if "backends.run.cluster" in " ".join(c.cmdline())]
        if len(kids) != 1:
            raise RuntimeError(f"cannot tell the Dask process of {name}: {kids}")
        return kids[0].pid

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:
            pass
        for p in reversed(self.procs):
            _kill_tree(p)


class BusySampler(threading.Thread):
    """Which workers held evaluations, sampled every 0.2 s."""

    def __init__(self, client):
        super().__init__(daemon=True)
        self.client, self.seen, self.samples, self.both = client, {}, 0, 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                busy = [a for a, keys in self.client.processing().items() if keys]
            except Exception:
                busy = []
            self.samples += 1
            self.both += len(busy) >= 2
            for a in busy:
                self.seen[a] = self.seen.get(a, 0) + 1
            time.sleep(0.2)


def optimize(kernel: str, budget: int, db: Path, remote: str | None, log) -> tuple[dict, float, int]:
    cmd = KF + ["optimize", kernel, "--budget", str(budget), "--db", str(db), "--json"]
    if remote:
        cmd += ["--remote", remote]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=3000)
    wall = time.perf_counter() - t0
    log.write(p.stderr.encode())
    try:
        doc = json.loads(p.stdout)
    except json.JSONDecodeError:
        doc = {"error": (p.stdout + p.stderr)[-2000:]}
    log.write(f"\n== kf optimize {' '.join(cmd[3:])}: exit {p.returncode}\n{p.stdout[-20000:]}\n".encode())
    return doc, wall, p.returncode


def summary(doc: dict) -> str:
    best = doc.get("best")
    if not best:
        return f"no verified improvement ({doc.get('reason')})" if "error" not in doc else "error: " + doc["error"][-300:]
    tun = ", ".join(f"{k}={v}" for k, v in best.get("tunables", {}).items())
    return f"{best['speedup']:.2f}x [{best['speedup_low']:.2f}-{best['speedup_high']:.2f}] {tun}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="benchmarks/kernels/axpy_items.cu")
    ap.add_argument("--budget", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default=os.environ.get("OUT") or tempfile.mkdtemp(prefix="kf-remote-"))
    ap.add_argument("--runs", default="local,1,n,fault", help="which runs, comma-separated (default: all)")
    args = ap.parse_args()
    backend = "cuda" if args.kernel.endswith((".cu", ".cuh")) else "sycl"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="kf-remote-db-"))
    log = open(out / "remote_gpu.log", "ab")
    gpus = gpu_count(backend) or 1
    devices = [i % gpus for i in range(args.workers)]
    shared = gpus < args.workers
    rows: list[dict] = []

    def record(name, doc, wall, rc, sampler=None, extra=""):
        ev = doc.get("evaluations") or 0
        row = {"run": name, "evaluations": ev, "wall_s": round(wall, 1), "per_min": round(60 * ev / wall, 1) if wall else 0,
               "exit": rc, "best": summary(doc), "reason": doc.get("reason"), "note": extra}
        if sampler is not None:
            row["workers_busy"] = {a.rsplit(":", 1)[-1]: n for a, n in sampler.seen.items()}
            row["both_busy_fraction"] = round(sampler.both / max(1, sampler.samples), 2)
        rows.append(row)
        print(json.dumps(row), flush=True)

    runs = set(args.runs.split(","))
    if "local" in runs:
        doc, wall, rc = optimize(args.kernel, args.budget, tmp / "local.db", None, log)
        record("local, 1 device", doc, wall, rc)
    for n in [n for n, key in ((1, "1"), (args.workers, "n")) if key in runs]:
        (tmp / f"c{n}").mkdir()
        c = Cluster(tmp / f"c{n}", backend, devices[:n], log)
        try:
            s = BusySampler(c.client)
            s.start()
            doc, wall, rc = optimize(args.kernel, args.budget, tmp / f"remote{n}.db", c.address, log)
            s.stop.set()
            s.join()
            record(f"Dask, {n} kf worker{'s' if n > 1 else ''} on device(s) {devices[:n]}", doc, wall, rc, s)
        finally:
            c.close()
    # faults: kill -9 one worker's Dask process mid-evaluation
    def fault_run() -> None:
        (tmp / "cf").mkdir()
        c = Cluster(tmp / "cf", backend, devices, log)
        try:
            s = BusySampler(c.client)
            s.start()
            result: dict = {}

            def go():
                result["r"] = optimize(args.kernel, args.budget, tmp / "fault.db", c.address, log)

            t = threading.Thread(target=go)
            t.start()
            killed = None
            deadline = time.monotonic() + 600
            while killed is None and time.monotonic() < deadline and t.is_alive():
                busy = [a for a, keys in c.client.processing().items() if keys]
                if busy and s.samples > 10:
                    time.sleep(0.5)
                    busy = [a for a, keys in c.client.processing().items() if keys]
                    if busy:
                        pid = c.dask_pid(busy[0])
                        os.kill(pid, signal.SIGKILL)
                        killed = (busy[0], pid, time.strftime("%H:%M:%S"))
                time.sleep(0.1)
            t.join()
            s.stop.set()
            s.join()
            doc, wall, rc = result["r"]
            record(f"Dask, {args.workers} workers, one killed with SIGKILL mid-evaluation", doc, wall, rc, s,
                   f"killed {killed[0]} (pid {killed[1]})" if killed else "no evaluation was caught in flight")
        finally:
            c.close()

    if "fault" in runs:
        fault_run()
    base = next((r for r in rows if r["run"].startswith("Dask, 1 ")), None)
    many = next((r for r in rows if r["run"].startswith(f"Dask, {args.workers} kf")), None)
    scale = many["per_min"] / base["per_min"] if base and many and base["per_min"] else None
    lines = [f"## `kf optimize --remote` on GPUs (benchmarks/remote_gpu.py, {time.strftime('%Y-%m-%d')})", "",
             f"Kernel {args.kernel}, budget {args.budget}, tuning only; {gpus} {backend} device(s) on this host, "
             f"{args.workers} workers" + (" sharing them (fewer devices than workers: the scaling figure is "
                                           "not a multi-GPU figure)" if shared else ", one per device") + ".", "",
             "| run | evaluations | wall (s) | evaluations/min | exit | best | busy |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        busy = ""
        if "workers_busy" in r:
            busy = f"{len(r['workers_busy'])} worker(s) seen busy, both at once {r['both_busy_fraction']:.0%} of samples"
        lines.append(f"| {r['run']} | {r['evaluations']} | {r['wall_s']} | {r['per_min']} | {r['exit']} | {r['best']} | "
                     f"{busy}{'; ' + r['note'] if r['note'] else ''} |")
    if scale is not None:
        lines += ["", f"Scaling, {args.workers} workers over 1: {scale:.2f}x evaluations per minute."]
    text = "\n".join(lines) + "\n"
    print(text)
    (out / "remote_gpu.md").write_text(text)
    (out / "remote_gpu.json").write_text(json.dumps({"rows": rows, "gpus": gpus, "shared": shared, "scale": scale}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
