#ifndef CBLAS_SHIM_H
#define CBLAS_SHIM_H
// Debian's cblas.h (OpenBLAS) also declares openblas_set_num_threads and friends.
#include <cblas.h>
// mallopt: CamwatchTensor tunes how glibc serves the large, short-lived kernel buffers.
#include <malloc.h>
#endif
