// The kernels at 16 lanes for CPUs with AVX-512 F/CD/BW/DQ/VL (Intel Skylake-SP and later Xeons, AMD Zen 4
// and later). Only called after the CPU was found to have them.
#if defined(__x86_64__)
#pragma clang fp contract(off)
#include <string.h>
#pragma clang attribute push(__attribute__((target("avx,avx2,fma,avx512f,avx512cd,avx512bw,avx512dq,avx512vl"))), \
                             apply_to = function)

typedef float VEC __attribute__((vector_size(64)));
#define LANES 16
#define SUFFIX avx512
#define PANEL_ROWS 14
#include "transpose16.h"
#include "winograd_body.h"
#define MADD(a, b, c) (__builtin_elementwise_fma((a), (b), (c)))
#define EVEN_LANES 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30
#define ODD_LANES 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31
#include "depthwise_body.h"
#include "activation_body.h"

#pragma clang attribute pop
#endif
