// Each public kernel forwards to the level the caller chose; a level the build lacks (non-x86) runs at 4 lanes.
#include "levels.h"

#if defined(__x86_64__)
#define CW_DISPATCH(level, name, ...)                                                                              \
    switch (level) {                                                                                               \
    case CWKernelLevelAVX512: name##_avx512(__VA_ARGS__); break;                                                   \
    case CWKernelLevelAVX2: name##_avx2(__VA_ARGS__); break;                                                       \
    default: name##_sse(__VA_ARGS__); break;                                                                       \
    }
#else
#define CW_DISPATCH(level, name, ...) name##_sse(__VA_ARGS__)
#endif

long cw_kernel_lanes(CWKernelLevel level) {
#if defined(__x86_64__)
    switch (level) {
    case CWKernelLevelAVX512: return 16;
    case CWKernelLevelAVX2: return 8;
    default: return 4;
    }
#else
    (void)level;
    return 4;
#endif
}

void cw_winograd_input(CWKernelLevel level, const float *src, long channels, long height, long width, long top,
                       long left, long tilesY, long tilesX, long firstRow, long rows, float *band, long bandWidth,
                       float *v, long vStride) {
    CW_DISPATCH(level, cw_winograd_input, src, channels, height, width, top, left, tilesY, tilesX, firstRow, rows,
                band, bandWidth, v, vStride)
}

void cw_winograd_output(CWKernelLevel level, const float *m, long channels, long tiles, long mStride,
                        const long *offsets, const long *extents, long planeSize, long outputWidth, const float *bias,
                        float clampLow, float clampHigh, float *out) {
    CW_DISPATCH(level, cw_winograd_output, m, channels, tiles, mStride, offsets, extents, planeSize, outputWidth,
                bias, clampLow, clampHigh, out)
}

long cw_winograd_panel(CWKernelLevel level) {
#if defined(__x86_64__)
    switch (level) {
    case CWKernelLevelAVX512: return 32;
    case CWKernelLevelAVX2: return 16;
    default: return 0;
    }
#else
    (void)level;
    return 0;
#endif
}

void cw_winograd_filters(CWKernelLevel level, const float *weight, long outputChannels, long inputChannels,
                         long firstOutput, long endOutput, long panel, float *u) {
    CW_DISPATCH(level, cw_winograd_filters, weight, outputChannels, inputChannels, firstOutput, endOutput, panel, u)
}

void cw_winograd_multiply(CWKernelLevel level, const float *v, long tiles, long vStride, const float *packed,
                          long blocks, long inputChannels, float *m, long mStride) {
#if defined(__x86_64__)
    switch (level) {
    case CWKernelLevelAVX512: cw_winograd_multiply_avx512(v, tiles, vStride, packed, blocks, inputChannels, m, mStride); break;
    case CWKernelLevelAVX2: cw_winograd_multiply_avx2(v, tiles, vStride, packed, blocks, inputChannels, m, mStride); break;
    default: break;
    }
#else
    (void)level, (void)v, (void)tiles, (void)vStride, (void)packed, (void)blocks, (void)inputChannels, (void)m,
        (void)mStride;
#endif
}

long cw_depthwise_scratch(long outputHeight, long outputWidth, long kernelHeight, long kernelWidth, long stride) {
    const long half = CW_DEPTHWISE_HALF(outputWidth, kernelWidth, stride);
    return ((outputHeight - 1) * stride + kernelHeight) * (stride == 1 ? half : 2 * half);
}

void cw_depthwise(CWKernelLevel level, const float *src, long planes, long channels, long height, long width,
                  const float *weight, long kernelHeight, long kernelWidth, long stride, long padTop, long padLeft,
                  long outputHeight, long outputWidth, const float *bias, float clampLow, float clampHigh,
                  float *scratch, float *dst) {
    CW_DISPATCH(level, cw_depthwise, src, planes, channels, height, width, weight, kernelHeight, kernelWidth, stride,
                padTop, padLeft, outputHeight, outputWidth, bias, clampLow, clampHigh, scratch, dst)
}

long cw_grouped_scratch(long inputsPerGroup, long outputHeight, long outputWidth, long kernelHeight, long kernelWidth,
                        long stride) {
    return inputsPerGroup * cw_depthwise_scratch(outputHeight, outputWidth, kernelHeight, kernelWidth, stride);
}

void cw_grouped(CWKernelLevel level, const float *src, long images, long channels, long groups, long height,
                long width, const float *weight, long outputs, long kernelHeight, long kernelWidth, long stride,
                long padTop, long padLeft, long outputHeight, long outputWidth, const float *bias, float clampLow,
                float clampHigh, float *scratch, float *dst) {
    CW_DISPATCH(level, cw_grouped, src, images, channels, groups, height, width, weight, outputs, kernelHeight,
                kernelWidth, stride, padTop, padLeft, outputHeight, outputWidth, bias, clampLow, clampHigh, scratch,
                dst)
}

void cw_sigmoid(CWKernelLevel level, float *values, long count, float shift, int silu) {
    CW_DISPATCH(level, cw_sigmoid, values, count, shift, silu)
}
