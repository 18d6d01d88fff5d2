// The kernels at 4 lanes: SSE on every x86-64 CPU (NEON elsewhere), and the path the wider ones must equal.
#pragma clang fp contract(off)

typedef float VEC __attribute__((vector_size(16)));
#define LANES 4
#define SUFFIX sse
#include "transpose4.h"
#include "winograd_body.h"
#define MADD(a, b, c) ((a) * (b) + (c))
#define EVEN_LANES 0, 2, 4, 6
#define ODD_LANES 1, 3, 5, 7
#include "depthwise_body.h"
#include "activation_body.h"
