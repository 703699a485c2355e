// kf: <stddef.h> for NVRTC.
#pragma once
#include <cuda/std/cstddef>
