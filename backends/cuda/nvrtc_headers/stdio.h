// kf: <stdio.h> for NVRTC: device printf is built in (a file with host code goes to nvcc).
#pragma once
