// Depthwise and grouped convolution (one, or a few, input channels per group), written once over LANES floats; included
// by each kernels_<level>.c after winograd_body.h (whose helpers it uses), with MADD defined: a fused
// multiply-add where the level has FMA.
//
// Each input plane is first copied into a zero-bordered scratch plane — for stride 2 with every row split into
// its even and odd columns — so that every tap of LANES consecutive outputs is one contiguous vector load. All
// taps of an output vector accumulate in a register, which is clamped (ReLU, ReLU6) and stored once: the output
// is written once instead of once per tap.

/// Stores `sum` clamped to `[low, high]` as outputs `x0 ..< min(x0 + LANES, ow)` of `row`.
static inline void CW_NAME(store_clamped_)(float *row, long x0, long ow, VEC sum, VEC low, VEC high) {
    sum = __builtin_elementwise_min(__builtin_elementwise_max(sum, low), high);
    if (x0 + LANES <= ow) CW_NAME(store_)(row + x0, sum);
    else memcpy(row + x0, &sum, sizeof(float) * (ow - x0));
}

/// Copies one `[h, w]` input plane into `scratch` as its zero-bordered plane of `paddedHeight` rows of
/// `scratchRow` floats: padded column p of input row py - padTop at p (stride 1), or at p / 2 of the even
/// (p even) or odd half (stride 2), each half `half` floats.
static inline void CW_NAME(pad_plane_)(const float *input, long h, long w, long stride, long padTop, long padLeft,
                                       long paddedHeight, long half, long scratchRow, float *scratch) {
    for (long py = 0; py < paddedHeight; py++) {
        float *row = scratch + py * scratchRow;
        memset(row, 0, sizeof(float) * scratchRow);
        const long iy = py - padTop;
        if (iy < 0 || iy >= h) continue;
        const float *line = input + iy * w;
        // Input columns x whose padded column x + padLeft lands in the scratch row.
        const long first = padLeft < 0 ? -padLeft : 0;
        const long end = w < stride * half - padLeft ? w : stride * half - padLeft;
        if (stride == 1) {
            if (end > first) memcpy(row + first + padLeft, line + first, sizeof(float) * (end - first));
        } else {
            long x = first;
            // From an even padded column on, 2 · LANES inputs at a time split into their even and odd lanes.
            if (x < end && ((x + padLeft) & 1)) {
                row[half + (x + padLeft) / 2] = line[x];
                x++;
            }
            for (; x + 2 * LANES <= end; x += 2 * LANES) {
                const VEC a = CW_NAME(load_)(line + x), b = CW_NAME(load_)(line + x + LANES);
                CW_NAME(store_)(row + (x + padLeft) / 2, __builtin_shufflevector(a, b, EVEN_LANES));
                CW_NAME(store_)(row + half + (x + padLeft) / 2, __builtin_shufflevector(a, b, ODD_LANES));
            }
            for (; x < end; x++) {
                const long p = x + padLeft;
                row[(p & 1) * half + p / 2] = line[x];
            }
        }
    }
}

void CW_NAME(cw_depthwise_)(const float *src, long planes, long channels, long h, long w, const float *weight,
                            long kh, long kw, long stride, long padTop, long padLeft, long oh, long ow,
                            const float *bias, float clampLow, float clampHigh, float *scratch, float *dst) {
    const long half = CW_DEPTHWISE_HALF(ow, kw, stride);
    const long scratchRow = stride == 1 ? half : 2 * half;
    const long paddedHeight = (oh - 1) * stride + kh;
    const VEC low = CW_NAME(splat_)(clampLow), high = CW_NAME(splat_)(clampHigh);
    for (long plane = 0; plane < planes; plane++) {
        const long channel = plane % channels;
        const float *input = src + plane * h * w;
        const float *taps = weight + channel * kh * kw;
        float *output = dst + plane * oh * ow;
        CW_NAME(pad_plane_)(input, h, w, stride, padTop, padLeft, paddedHeight, half, scratchRow, scratch);
        const VEC shift = CW_NAME(splat_)(bias ? bias[channel] : 0.0f);
        if (kh == 3 && kw == 3) {
            // MobileNet's case, unrolled: nine weight vectors in registers, nine loads per output vector.
            VEC tap[9];
            for (int k = 0; k < 9; k++) tap[k] = CW_NAME(splat_)(taps[k]);
            for (long y = 0; y < oh; y++) {
                float *outputRow = output + y * ow;
                const float *r0 = scratch + y * stride * scratchRow, *r1 = r0 + scratchRow, *r2 = r1 + scratchRow;
                // Taps kx = 0, 1, 2 read padded columns x·stride + kx: at x + kx (stride 1), or the even half
                // at x, the odd half at x and the even half at x + 1 (stride 2).
                const long o1 = stride == 1 ? 1 : half, o2 = stride == 1 ? 2 : 1;
                for (long x0 = 0; x0 < ow; x0 += LANES) {
                    VEC sum = shift;
                    sum = MADD(tap[0], CW_NAME(load_)(r0 + x0), sum);
                    sum = MADD(tap[1], CW_NAME(load_)(r0 + x0 + o1), sum);
                    sum = MADD(tap[2], CW_NAME(load_)(r0 + x0 + o2), sum);
                    sum = MADD(tap[3], CW_NAME(load_)(r1 + x0), sum);
                    sum = MADD(tap[4], CW_NAME(load_)(r1 + x0 + o1), sum);
                    sum = MADD(tap[5], CW_NAME(load_)(r1 + x0 + o2), sum);
                    sum = MADD(tap[6], CW_NAME(load_)(r2 + x0), sum);
                    sum = MADD(tap[7], CW_NAME(load_)(r2 + x0 + o1), sum);
                    sum = MADD(tap[8], CW_NAME(load_)(r2 + x0 + o2), sum);
                    CW_NAME(store_clamped_)(outputRow, x0, ow, sum, low, high);
                }
            }
            continue;
        }
        for (long y = 0; y < oh; y++) {
            float *outputRow = output + y * ow;
            for (long x0 = 0; x0 < ow; x0 += LANES) {
                VEC sum = shift;
                for (long ky = 0; ky < kh; ky++) {
                    const float *row = scratch + (y * stride + ky) * scratchRow;
                    for (long kx = 0; kx < kw; kx++) {
                        // Output x reads padded column x · stride + kx.
                        const float *from = stride == 1 ? row + x0 + kx : row + (kx & 1) * half + x0 + kx / 2;
                        sum = MADD(CW_NAME(splat_)(taps[ky * kw + kx]), CW_NAME(load_)(from), sum);
                    }
                }
                CW_NAME(store_clamped_)(outputRow, x0, ow, sum, low, high);
            }
        }
    }
}

/// Output channels `firstOutput ..< firstOutput + COUNT` of one group over the group's zero-bordered planes
/// (`planes`, `inputs` of them, each `planeSize` floats): every input vector is loaded once per tap and
/// multiplied into COUNT accumulators, so a block needs `inputs · kh · kw` loads for `COUNT · LANES` outputs.
/// Always inlined with a constant COUNT, so that the accumulators live in registers.
static inline __attribute__((always_inline)) void CW_NAME(grouped_block_)(
    const int COUNT, const float *planes, long inputs, long planeSize, long scratchRow, long half, long kh, long kw,
    long stride, const float *weight, const float *bias, long oh, long ow, VEC low, VEC high, float *output) {
    const long taps = inputs * kh * kw;
    for (long y = 0; y < oh; y++) {
        for (long x0 = 0; x0 < ow; x0 += LANES) {
            VEC sum[8];
            for (int o = 0; o < COUNT; o++) sum[o] = CW_NAME(splat_)(bias ? bias[o] : 0.0f);
            for (long ic = 0; ic < inputs; ic++) {
                for (long ky = 0; ky < kh; ky++) {
                    const float *row = planes + ic * planeSize + (y * stride + ky) * scratchRow;
                    for (long kx = 0; kx < kw; kx++) {
                        // Output x reads padded column x · stride + kx, as in the depthwise kernel.
                        const float *from = stride == 1 ? row + x0 + kx : row + (kx & 1) * half + x0 + kx / 2;
                        const VEC value = CW_NAME(load_)(from);
                        const float *w = weight + (ic * kh + ky) * kw + kx;
                        for (int o = 0; o < COUNT; o++) sum[o] = MADD(CW_NAME(splat_)(w[o * taps]), value, sum[o]);
                    }
                }
            }
            for (int o = 0; o < COUNT; o++)
                CW_NAME(store_clamped_)(output + o * oh * ow + y * ow, x0, ow, sum[o], low, high);
        }
    }
}

void CW_NAME(cw_grouped_)(const float *src, long images, long channels, long groups, long h, long w,
                          const float *weight, long outputs, long kh, long kw, long stride, long padTop,
                          long padLeft, long oh, long ow, const float *bias, float clampLow, float clampHigh,
                          float *scratch, float *dst) {
    const long half = CW_DEPTHWISE_HALF(ow, kw, stride);
    const long scratchRow = stride == 1 ? half : 2 * half;
    const long paddedHeight = (oh - 1) * stride + kh;
    const long planeSize = paddedHeight * scratchRow;
    const long inputs = channels / groups, perGroup = outputs / groups;
    const VEC low = CW_NAME(splat_)(clampLow), high = CW_NAME(splat_)(clampHigh);
    for (long image = 0; image < images; image++) {
        for (long group = 0; group < groups; group++) {
            const float *input = src + (image * channels + group * inputs) * h * w;
            for (long ic = 0; ic < inputs; ic++)
                CW_NAME(pad_plane_)(input + ic * h * w, h, w, stride, padTop, padLeft, paddedHeight, half,
                                    scratchRow, scratch + ic * planeSize);
            // Blocks of 8 output channels, then the rest as 4, 2 and 1.
            long o = 0;
            while (o < perGroup) {
                const long channel = group * perGroup + o;
                const float *filters = weight + channel * inputs * kh * kw;
                const float *shift = bias ? bias + channel : 0;
                float *output = dst + (image * outputs + channel) * oh * ow;
                const long left = perGroup - o;
#define CW_GROUPED_BLOCK(count)                                                                                  \
    CW_NAME(grouped_block_)(count, scratch, inputs, planeSize, scratchRow, half, kh, kw, stride, filters, shift,   \
                            oh, ow, low, high, output);                                                            \
    o += count;
                if (left >= 8) {
                    CW_GROUPED_BLOCK(8)
                } else if (left >= 4) {
                    CW_GROUPED_BLOCK(4)
                } else if (left >= 2) {
                    CW_GROUPED_BLOCK(2)
                } else {
                    CW_GROUPED_BLOCK(1)
                }
#undef CW_GROUPED_BLOCK
            }
        }
    }
}
