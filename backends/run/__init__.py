"""Where evaluations run: the spawned worker process (worker.py), the local pool of them
(local_pool.py), the Dask cluster and its `kf worker` (cluster.py), several targets at
once (multi_target.py), the Pool interface and its factory (pool.py), device choice.

The top of backends: may import everything below it (judge, kernel, model, runtimes).
"""
