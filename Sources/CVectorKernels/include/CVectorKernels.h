// The hot loops of camwatch's engine that profit from wide vectors, compiled three times — for SSE (every
// x86-64 CPU), AVX2+FMA and AVX-512 — in one binary. Swift picks the level once from the CPU's features
// (CamwatchTensor's `KernelLevel`) and passes it to every call, so a test can force each path.
//
// The transforms run the same operations in the same order on each lane at every level (floating-point
// contraction is off), so they produce bit-identical results; the Winograd products differ by rounding only
// (FMA kernels on AVX2/AVX-512, OpenBLAS's sgemm on SSE).
#ifndef CVECTORKERNELS_H
#define CVECTORKERNELS_H

/// The instruction sets the kernels are compiled for: 4, 8 or 16 float lanes.
typedef enum {
    CWKernelLevelSSE = 0,
    CWKernelLevelAVX2 = 1,
    CWKernelLevelAVX512 = 2,
} CWKernelLevel;

/// Float lanes of a level (4, 8, 16): the channel layouts below are padded to a multiple of it.
long cw_kernel_lanes(CWKernelLevel level);

/// Winograd F(4×4, 3×3) input transform `V[ξ][t][c] = (Bᵀ d B)[ξ]` of channel `c` for the tiles of tile rows
/// `firstRow ..< firstRow + rows` (counted across the batch) of an NCHW input `[N, channels, height, width]`,
/// zero outside the image (`top`, `left`: padding). `V` is `[36, tiles, vStride]` with `tiles = rows · tilesX`
/// and `vStride` ≥ `channels` rounded up to the level's lanes; the lanes past `channels` are set to zero.
///
/// `band` holds `rows · 6 · bandWidth · lanes` floats of scratch, `bandWidth = tilesX · 4 + 2`.
void cw_winograd_input(CWKernelLevel level, const float *src, long channels, long height, long width, long top,
                       long left, long tilesY, long tilesX, long firstRow, long rows, float *band, long bandWidth,
                       float *v, long vStride);

/// Winograd F(4×4, 3×3) output transform `Y = Aᵀ m A + bias`, clamped to `[clampLow, clampHigh]`, for every
/// tile and output channel of a block. `m` is `[36, tiles, mStride]` (`mStride` ≥ `channels` rounded up to the
/// level's lanes; the lanes past `channels` are read but not stored); tile `t`'s 4×4 output of channel `o` starts
/// at `out + offsets[t] + o · planeSize`, and `extents[t] = rows · 8 + columns` of it lie inside the output.
/// `bias` may be NULL.
void cw_winograd_output(CWKernelLevel level, const float *m, long channels, long tiles, long mStride,
                        const long *offsets, const long *extents, long planeSize, long outputWidth, const float *bias,
                        float clampLow, float clampHigh, float *out);

/// Winograd F(4×4, 3×3) filter transform `U[ξ][o][c] = (G g Gᵀ)[ξ]` (in double precision, rounded once) of
/// output channels `firstOutput ..< endOutput` of `[outputChannels, inputChannels, 3, 3]` filters into `u`:
/// `[36, outputChannels, inputChannels]` for `panel` 0 (sgemm's operand), else packed for `cw_winograd_multiply`
/// as `[36, ⌈outputChannels / panel⌉, inputChannels, panel]`. With a panel, `firstOutput` is a multiple of `panel`,
/// and the call that ends at `outputChannels` also writes the zeros of the last panel's lanes past it.
void cw_winograd_filters(CWKernelLevel level, const float *weight, long outputChannels, long inputChannels,
                         long firstOutput, long endOutput, long panel, float *u);

/// Output channels per packed filter panel at `level`; 0 where the level multiplies with sgemm instead (SSE:
/// no FMA, so OpenBLAS's kernels are faster than anything written here).
long cw_winograd_panel(CWKernelLevel level);

/// One of the 36 products of a Winograd block, `m[t][o] = Σ_c v[t][c] · u[o][c]`, with `u` packed by
/// `cw_winograd_filters` (`blocks` panels) and `t < tiles`.
/// Only for levels whose `cw_winograd_panel` is not 0.
void cw_winograd_multiply(CWKernelLevel level, const float *v, long tiles, long vStride, const float *packed,
                          long blocks, long inputChannels, float *m, long mStride);

/// Floats of scratch `cw_depthwise` needs for one plane.
long cw_depthwise_scratch(long outputHeight, long outputWidth, long kernelHeight, long kernelWidth, long stride);

/// Depthwise convolution of `planes` NCHW planes (`[planes, height, width]`, plane `p` of channel
/// `p % channels`) with `[channels, 1, kernelHeight, kernelWidth]` filters, stride 1 or 2, undilated, zero
/// padding `padTop`/`padLeft` (and whatever the output size implies at the bottom and right), plus `bias` (may
/// be NULL), clamped to `[clampLow, clampHigh]`, into `dst` (`[planes, outputHeight, outputWidth]`).
void cw_depthwise(CWKernelLevel level, const float *src, long planes, long channels, long height, long width,
                  const float *weight, long kernelHeight, long kernelWidth, long stride, long padTop, long padLeft,
                  long outputHeight, long outputWidth, const float *bias, float clampLow, float clampHigh,
                  float *scratch, float *dst);

/// Floats of scratch `cw_grouped` needs: one group's zero-bordered input planes.
long cw_grouped_scratch(long inputsPerGroup, long outputHeight, long outputWidth, long kernelHeight, long kernelWidth,
                        long stride);

/// Grouped convolution of `[images, channels, height, width]` with `[outputs, channels / groups, kernelHeight,
/// kernelWidth]` filters in `groups` groups, stride 1 or 2, undilated, zero padding as `cw_depthwise`, plus `bias`
/// (may be NULL), clamped to `[clampLow, clampHigh]`, into `dst` (`[images, outputs, outputHeight, outputWidth]`).
/// Meant for a few channels per group (RegNet's and ResNeXt's), where im2col feeds sgemm products too thin
/// to run at its speed.
void cw_grouped(CWKernelLevel level, const float *src, long images, long channels, long groups, long height,
                long width, const float *weight, long outputs, long kernelHeight, long kernelWidth, long stride,
                long padTop, long padLeft, long outputHeight, long outputWidth, const float *bias, float clampLow,
                float clampHigh, float *scratch, float *dst);

/// Replaces each of `count` values `v` by `x / (1 + e⁻ˣ)` (SiLU, `silu` nonzero) or `1 / (1 + e⁻ˣ)` (sigmoid) of
/// `x = v + shift`, with the same vectorizable eˣ as Swift's `Activation.exp`, bit for bit.
void cw_sigmoid(CWKernelLevel level, float *values, long count, float shift, int silu);

#endif
