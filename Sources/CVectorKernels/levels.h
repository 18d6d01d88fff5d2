// The per-level entry points behind the dispatching functions of CVectorKernels.h.
#ifndef CVECTORKERNELS_LEVELS_H
#define CVECTORKERNELS_LEVELS_H

#include "CVectorKernels.h"

/// Floats per scratch half-row of the depthwise kernel: the padded row (stride 1) or each of its even and odd
/// halves (stride 2), with room for the last vector's loads past the row's end (16 = the widest lanes).
#define CW_DEPTHWISE_HALF(ow, kw, stride) ((stride) == 1 ? (ow) + (kw) - 1 + 16 : (ow) + ((kw) + 1) / 2 + 16)

#define CW_DECLARE_LEVEL(suffix)                                                                                  \
    void cw_winograd_input_##suffix(const float *src, long c, long h, long w, long top, long left, long tilesY,   \
                                    long tilesX, long firstRow, long rows, float *band, long pw, float *v,        \
                                    long vStride);                                                                \
    void cw_winograd_output_##suffix(const float *m, long o, long tiles, long mStride,                           \
                                     const long *offsets,                                                         \
                                     const long *extents, long planeSize, long ow, const float *bias,             \
                                     float clampLow, float clampHigh, float *out);                                \
    void cw_winograd_filters_##suffix(const float *weight, long o, long c, long firstOutput, long endOutput,     \
                                      long panel, float *u);                                                     \
    void cw_depthwise_##suffix(const float *src, long planes, long channels, long h, long w, const float *weight, \
                               long kh, long kw, long stride, long padTop, long padLeft, long oh, long ow,        \
                               const float *bias, float clampLow, float clampHigh, float *scratch, float *dst); \
    void cw_grouped_##suffix(const float *src, long n, long c, long groups, long h, long w, const float *weight,  \
                             long o, long kh, long kw, long stride, long padTop, long padLeft, long oh, long ow,  \
                             const float *bias, float clampLow, float clampHigh, float *scratch, float *dst);  \
    void cw_sigmoid_##suffix(float *values, long count, float shift, int silu);

CW_DECLARE_LEVEL(sse)
#if defined(__x86_64__)
CW_DECLARE_LEVEL(avx2)
CW_DECLARE_LEVEL(avx512)
// The packed-filter products, for the levels with FMA.
void cw_winograd_multiply_avx2(const float *v, long tiles, long vStride, const float *packed, long blocks, long c,
                               float *m, long mStride);
void cw_winograd_multiply_avx512(const float *v, long tiles, long vStride, const float *packed, long blocks, long c,
                                 float *m, long mStride);
#endif

#endif
