// Device discovery: the GPU layout is usable only if the runtime sees a device.
#include <cuda_runtime.h>

extern "C" int azs_gpu_available(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        return 0;
    return n;
}
