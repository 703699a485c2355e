"""What a kernel is: kernels found in CUDA/SYCL source, their `@kf` spec, tunables bound
into their text, and variants spliced into a file. Pure functions of text, no devices.

May import backends.model only (and its own modules: text <- declarations <- tunables <-
scanner; expressions, dtypes <- spec <- scanner; splice and load on top).
"""
