"""What a kernel is: kernels found in CUDA/SYCL source, their `@kf` spec, tunables bound
into their text, variants spliced into a file, and the behavioural features read from
their compiled code (PTX) or masked source. Pure functions of text, no devices.

May import backends.model only (and its own modules: text <- declarations <- tunables <-
scanner; expressions, dtypes <- spec <- scanner; splice and load on top).
"""
