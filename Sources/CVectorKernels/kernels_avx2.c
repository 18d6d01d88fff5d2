// The kernels at 8 lanes for CPUs with AVX2 and FMA (Intel Haswell and later, AMD Zen). Only called after
// the CPU was found to have them.
#if defined(__x86_64__)
#pragma clang fp contract(off)
#include <string.h>
#pragma clang attribute push(__attribute__((target("avx,avx2,fma"))), apply_to = function)

typedef float VEC __attribute__((vector_size(32)));
#define LANES 8
#define SUFFIX avx2
#define PANEL_ROWS 6
#include "transpose8.h"
#include "winograd_body.h"
#define MADD(a, b, c) (__builtin_elementwise_fma((a), (b), (c)))
#define EVEN_LANES 0, 2, 4, 6, 8, 10, 12, 14
#define ODD_LANES 1, 3, 5, 7, 9, 11, 13, 15
#include "depthwise_body.h"
#include "activation_body.h"

#pragma clang attribute pop
#endif
