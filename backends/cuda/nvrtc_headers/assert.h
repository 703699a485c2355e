// kf: <assert.h> for NVRTC: device assert is built in.
#pragma once
#include <cuda/std/cassert>
