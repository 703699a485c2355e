// kf: <limits.h> for NVRTC.
#pragma once
#include <cuda/std/climits>
