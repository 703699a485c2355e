// kf: <math.h> for NVRTC: the device math library is built in; the constants come from the prelude.
#pragma once
#include <cuda/std/cmath>
#include "kf_nvrtc_prelude.h"
