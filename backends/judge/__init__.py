"""How one evaluation is judged: compile, verify against the reference (poison, canaries,
input checks: verify.py), time with noise-aware statistics, profile (features, ncu).

Runs inside a worker process, over the DeviceSession interface (backends/session.py).
May import backends.model, backends.session and backends.kernel; runtimes only lazily
(cuda's occupancy calculator).
"""
