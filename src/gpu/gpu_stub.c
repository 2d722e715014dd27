/* Built when CUDA is not found: every GPU entry point answers AZS_ERR_NO_DEVICE. */
#include "common/error.h"

int azs_gpu_available(void) { return 0; }
