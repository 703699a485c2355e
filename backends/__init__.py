"""What a kernel is, how one evaluation of it is judged, and where evaluations run.

    model.py    the plain data every layer shares (kernels, specs, requests, results)
    session.py  DeviceSession: the interface each runtime implements for the judge
    compare_kernel.py  kf's own output-comparison kernel, written once for both runtimes
    kernel/     what a kernel is: finding kernels, the @kf spec, tunables, splicing,
                behavioural features read from its compiled code
    judge/      how one evaluation is judged: compile, verify, time, profile (ncu)
    run/        where evaluations run: spawned worker processes, pools, a Dask cluster
    cuda/ sycl/ the runtimes (NVRTC + cuda.core; dpctl + the SYCL runtime compiler)

Imports point down this list's layers: run -> judge -> kernel -> model, and the runtimes
see only session, model, compare_kernel and kernel's element types. Nothing here knows of searches or editors.
"""
