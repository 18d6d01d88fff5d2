// The Winograd transforms, written once over a vector type of LANES floats. Each kernels_<level>.c defines VEC,
// LANES, SUFFIX and TRANSPOSE_BLOCK (and the target attribute) and includes this file.
//
// Lanes run over LANES consecutive channels. The input rows under a tile row are first copied into a band with
// the channels of a group interleaved (LANES floats per pixel, transposed in registers), so that every input of a
// tile, and every transformed value, is one contiguous vector: no gathers, and the results land as contiguous
// runs of the `[36, tiles, channels]` layouts the matrix products read and write. The output transform turns its
// 16 results × LANES channels back into 4×4 pixels per channel with the same in-register transposes.

#include <string.h>

#include "levels.h"

#define CW_CAT2(a, b) a##b
#define CW_CAT(a, b) CW_CAT2(a, b)
#define CW_NAME(name) CW_CAT(name, SUFFIX)

static inline VEC CW_NAME(splat_)(float x) {
    VEC v;
    for (int lane = 0; lane < LANES; lane++) v[lane] = x;
    return v;
}

static inline VEC CW_NAME(load_)(const float *p) {
    VEC v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void CW_NAME(store_)(float *p, VEC v) { memcpy(p, &v, sizeof v); }

/// `r[i][l]` becomes `r[l][i]` for a LANES × LANES block.
static inline void CW_NAME(transpose_)(VEC *r) { TRANSPOSE_BLOCK(r); }

/// `Bᵀ d` along one axis of a 6×6 input tile: six values from six.
static inline void CW_NAME(input_1d_)(VEC d0, VEC d1, VEC d2, VEC d3, VEC d4, VEC d5, VEC out[6]) {
    const VEC four = CW_NAME(splat_)(4), five = CW_NAME(splat_)(5), two = CW_NAME(splat_)(2);
    out[0] = four * d0 - five * d2 + d4;
    out[1] = -four * (d1 + d2) + d3 + d4;
    out[2] = four * (d1 - d2) - d3 + d4;
    out[3] = two * (d3 - d1) - d2 + d4;
    out[4] = two * (d1 - d3) - d2 + d4;
    out[5] = four * d1 - five * d3 + d5;
}

/// `Aᵀ m` along one axis of a 6×6 product tile: four values from six.
static inline void CW_NAME(output_1d_)(VEC m0, VEC m1, VEC m2, VEC m3, VEC m4, VEC m5, VEC out[4]) {
    const VEC two = CW_NAME(splat_)(2), four = CW_NAME(splat_)(4), eight = CW_NAME(splat_)(8);
    const VEC s12 = m1 + m2, d12 = m1 - m2, s34 = m3 + m4, d34 = m3 - m4;
    out[0] = m0 + s12 + s34;
    out[1] = d12 + two * d34;
    out[2] = s12 + four * s34;
    out[3] = d12 + eight * d34 + m5;
}

/// Fills band line `line` (`pw` pixels × LANES channels) from input row `y` of channels `c0 ..< c0 + nc`:
/// zero outside the image and in the lanes of channels past `nc`.
static inline void CW_NAME(fill_line_)(float *line, const float *src, long c0, long nc, long h, long w, long y,
                                       long left, long pw, long x0, long x1) {
    if (y < 0 || y >= h || x1 <= x0) {
        memset(line, 0, sizeof(float) * LANES * pw);
        return;
    }
    if (x0 + left > 0) memset(line, 0, sizeof(float) * LANES * (x0 + left));
    if (x1 + left < pw) memset(line + LANES * (x1 + left), 0, sizeof(float) * LANES * (pw - x1 - left));
    const float *rows[LANES];
    for (long l = 0; l < LANES; l++) rows[l] = l < nc ? src + ((c0 + l) * h + y) * w : NULL;
    long x = x0;
    for (; x + LANES <= x1; x += LANES) {
        VEC block[LANES];
        for (long l = 0; l < LANES; l++) block[l] = rows[l] ? CW_NAME(load_)(rows[l] + x) : CW_NAME(splat_)(0);
        CW_NAME(transpose_)(block);
        for (long k = 0; k < LANES; k++) CW_NAME(store_)(line + LANES * (x + left + k), block[k]);
    }
    if (x < x1) {
        // The last pixels (all of them in rows narrower than the lanes): through a zero-padded copy.
        const long count = x1 - x;
        float padded[LANES][LANES];
        memset(padded, 0, sizeof padded);
        for (long l = 0; l < LANES; l++)
            if (rows[l]) memcpy(padded[l], rows[l] + x, sizeof(float) * count);
        VEC block[LANES];
        for (long l = 0; l < LANES; l++) block[l] = CW_NAME(load_)(padded[l]);
        CW_NAME(transpose_)(block);
        for (long k = 0; k < count; k++) CW_NAME(store_)(line + LANES * (x + left + k), block[k]);
    }
}

void CW_NAME(cw_winograd_input_)(const float *src, long c, long h, long w, long top, long left, long tilesY,
                                 long tilesX, long firstRow, long rows, float *band, long pw, float *v,
                                 long vStride) {
    const long tiles = rows * tilesX;
    // Input columns that land inside the band, and where.
    const long x0 = left < 0 ? -left : 0;
    const long x1 = w < pw - left ? w : pw - left;
    for (long c0 = 0; c0 < c; c0 += LANES) {
        const long nc = c - c0 < LANES ? c - c0 : LANES;
        for (long r = 0; r < rows; r++) {
            const long image = (firstRow + r) / tilesY, ty = (firstRow + r) % tilesY;
            const float *imageSrc = src + image * c * h * w;
            for (long i = 0; i < 6; i++)
                CW_NAME(fill_line_)(band + LANES * (r * 6 + i) * pw, imageSrc, c0, nc, h, w, ty * 4 + i - top, left,
                                    pw, x0, x1);
        }
        for (long r = 0; r < rows; r++) {
            for (long tx = 0; tx < tilesX; tx++) {
                const float *d = band + LANES * (r * 6 * pw + tx * 4);
                float *destination = v + (r * tilesX + tx) * vStride + c0;
                const long xiStride = tiles * vStride;
                // Columns first: t[j][i] = (Bᵀ d)[i][j], then each row of that through B.
                VEC t[6][6];
                for (int j = 0; j < 6; j++)
                    CW_NAME(input_1d_)(CW_NAME(load_)(d + LANES * j), CW_NAME(load_)(d + LANES * (pw + j)),
                                       CW_NAME(load_)(d + LANES * (2 * pw + j)), CW_NAME(load_)(d + LANES * (3 * pw + j)),
                                       CW_NAME(load_)(d + LANES * (4 * pw + j)), CW_NAME(load_)(d + LANES * (5 * pw + j)),
                                       t[j]);
                for (int i = 0; i < 6; i++) {
                    VEC results[6];
                    CW_NAME(input_1d_)(t[0][i], t[1][i], t[2][i], t[3][i], t[4][i], t[5][i], results);
                    float *row = destination + i * 6 * xiStride;
                    for (int j = 0; j < 6; j++) CW_NAME(store_)(row + j * xiStride, results[j]);
                }
            }
        }
    }
}

void CW_NAME(cw_winograd_output_)(const float *m, long o, long tiles, long mStride,
                                  const long *offsets, const long *extents, long planeSize, long ow, const float *bias,
                                  float clampLow, float clampHigh, float *out) {
    const long xiStride = tiles * mStride;
    const VEC low = CW_NAME(splat_)(clampLow), high = CW_NAME(splat_)(clampHigh);
    for (long t = 0; t < tiles; t++) {
        float *tileOut = out + offsets[t];
        const long extent = extents[t];
        const long rowsInside = extent >> 3, columnsInside = extent & 7;
        for (long o0 = 0; o0 < o; o0 += LANES) {
            const long no = o - o0 < LANES ? o - o0 : LANES;
            VEC shift = CW_NAME(splat_)(0);
            if (bias)
                for (long l = 0; l < no; l++) shift[l] = bias[o0 + l];
            const float *base = m + t * mStride + o0;
            // Rows first: s[j][k] = (Aᵀ m)[k][j], then each of the four rows through A, plus the bias.
            VEC s[6][4];
            for (int j = 0; j < 6; j++)
                CW_NAME(output_1d_)(CW_NAME(load_)(base + j * xiStride), CW_NAME(load_)(base + (6 + j) * xiStride),
                                    CW_NAME(load_)(base + (12 + j) * xiStride), CW_NAME(load_)(base + (18 + j) * xiStride),
                                    CW_NAME(load_)(base + (24 + j) * xiStride), CW_NAME(load_)(base + (30 + j) * xiStride),
                                    s[j]);
            // y[q], q = 4 · row + column of the tile, one lane per channel.
            VEC y[16 > LANES ? 16 : LANES];
            for (int i = 0; i < 4; i++) {
                CW_NAME(output_1d_)(s[0][i], s[1][i], s[2][i], s[3][i], s[4][i], s[5][i], y + i * 4);
                for (int k = 0; k < 4; k++) y[i * 4 + k] = y[i * 4 + k] + shift;
            }
            for (int q = 0; q < 16; q++) y[q] = __builtin_elementwise_min(__builtin_elementwise_max(y[q], low), high);
            // After the transposes, y[qb + l] holds positions qb ..< qb + LANES of channel o0 + l.
            for (int qb = 0; qb < 16; qb += LANES) CW_NAME(transpose_)(y + qb);
            for (long l = 0; l < no; l++) {
                float *target = tileOut + (o0 + l) * planeSize;
                if (extent == 4 * 8 + 4) {
                    for (int qb = 0; qb < 16; qb += LANES) {
                        const VEC values = y[qb + l];
                        for (int k = 0; k < LANES; k += 4) memcpy(target + (qb + k) / 4 * ow, (const float *)&values + k, 16);
                    }
                } else {
                    for (long i = 0; i < rowsInside; i++)
                        for (long k = 0; k < columnsInside; k++) {
                            const long q = i * 4 + k;
                            target[i * ow + k] = y[q / LANES * LANES + l][q % LANES];
                        }
                }
            }
        }
    }
}

/// `G g Gᵀ` for LANES filters at once (lane `l` of `w[k]` is tap `k` of filter `l`), in double precision so that G's
/// fractions (1/4, 1/6, 1/12, 1/24) cost no accuracy, rounded once: sums in the order k = 0, 1, 2 from zero, so
/// every level gives the same bits.
static inline void CW_NAME(filter_transform_)(const double w[9][LANES], VEC u[36]) {
    typedef double DVEC __attribute__((vector_size(LANES * sizeof(double))));
    static const double g[6][3] = {
        {1.0 / 4, 0, 0},
        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6},
        {1.0 / 24, -1.0 / 12, 1.0 / 6},
        {0, 0, 1},
    };
    DVEC v[9];
    for (int k = 0; k < 9; k++) memcpy(&v[k], w[k], sizeof(DVEC));
    // t = G · w (6×3), then u = t · Gᵀ (6×6).
    DVEC t[6][3];
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++) {
            DVEC sum = (DVEC){0};
            for (int k = 0; k < 3; k++) sum = sum + g[i][k] * v[k * 3 + j];
            t[i][j] = sum;
        }
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) {
            DVEC sum = (DVEC){0};
            for (int k = 0; k < 3; k++) sum = sum + t[i][k] * g[j][k];
            u[i * 6 + j] = __builtin_convertvector(sum, VEC);
        }
}

/// `U[ξ][o][c] = (G g Gᵀ)[ξ]` for the output channels `firstOutput ..< endOutput` of `[O, C, 3, 3]` filters.
/// `panel` 0: `u` is `[36, O, C]`; otherwise `u` is `[36, ⌈O / panel⌉, C, panel]`, the layout `cw_winograd_multiply`
/// reads (`firstOutput` a multiple of `panel`; the call that ends at O also writes the zero lanes past it).
void CW_NAME(cw_winograd_filters_)(const float *weight, long o, long c, long firstOutput, long endOutput, long panel,
                                   float *u) {
    double w[9][LANES];
    VEC transformed[36];
    if (panel) {
        // Lanes over LANES consecutive output channels of a panel: each (position, input channel) is then one
        // whole-vector store into contiguous floats. With lanes over input channels every cache line of the
        // (4× larger) result was filled by 16 separate passes over all 36 positions, which made the transform
        // of resnet18's filters cost 110 ms of a 3 s Score-CAM. Lanes past `o` get zero weights, so the last
        // panel's padding is written here too.
        const long blocks = (o + panel - 1) / panel;
        const long end = endOutput == o ? blocks * panel : endOutput;
        for (long oc0 = firstOutput; oc0 < end; oc0 += LANES) {
            const long no = o - oc0 >= LANES ? LANES : (o > oc0 ? o - oc0 : 0);
            for (long ic = 0; ic < c; ic++) {
                for (long l = 0; l < LANES; l++)
                    for (int k = 0; k < 9; k++) w[k][l] = l < no ? (double)weight[((oc0 + l) * c + ic) * 9 + k] : 0.0;
                CW_NAME(filter_transform_)(w, transformed);
                for (int xi = 0; xi < 36; xi++)
                    CW_NAME(store_)(u + ((xi * blocks + oc0 / panel) * c + ic) * panel + oc0 % panel, transformed[xi]);
            }
        }
        return;
    }
    // sgemm's layout `[36, o, c]`: lanes over input channels, contiguous there.
    for (long oc = firstOutput; oc < endOutput; oc++) {
        for (long c0 = 0; c0 < c; c0 += LANES) {
            const long nc = c - c0 < LANES ? c - c0 : LANES;
            for (int k = 0; k < 9; k++)
                for (long l = 0; l < LANES; l++) w[k][l] = l < nc ? (double)weight[(oc * c + c0 + l) * 9 + k] : 0.0;
            CW_NAME(filter_transform_)(w, transformed);
            for (int xi = 0; xi < 36; xi++) {
                float *destination = u + (xi * o + oc) * c + c0;
                if (nc == LANES) CW_NAME(store_)(destination, transformed[xi]);
                else memcpy(destination, &transformed[xi], sizeof(float) * nc);
            }
        }
    }
}

#if defined(PANEL_ROWS)
/// `rows` (a constant at every call, ≤ PANEL_ROWS) tiles × 2 vectors of output channels of one product, all
/// input channels accumulated with FMA in registers (always inlined, so each call's loops unroll fully).
static inline __attribute__((always_inline)) void CW_NAME(multiply_block_)(const float *a, long vStride,
                                                                           const float *b, long c, float *m,
                                                                           long mStride, const int rows) {
    VEC low[PANEL_ROWS], high[PANEL_ROWS];
    _Pragma("clang loop unroll(full)") for (int r = 0; r < rows; r++) low[r] = high[r] = CW_NAME(splat_)(0);
    for (long k = 0; k < c; k++) {
        const VEC b0 = CW_NAME(load_)(b + k * 2 * LANES), b1 = CW_NAME(load_)(b + k * 2 * LANES + LANES);
        _Pragma("clang loop unroll(full)") for (int r = 0; r < rows; r++) {
            const VEC ar = CW_NAME(splat_)(a[r * vStride + k]);
            low[r] = __builtin_elementwise_fma(ar, b0, low[r]);
            high[r] = __builtin_elementwise_fma(ar, b1, high[r]);
        }
    }
    _Pragma("clang loop unroll(full)") for (int r = 0; r < rows; r++) {
        CW_NAME(store_)(m + r * mStride, low[r]);
        CW_NAME(store_)(m + r * mStride + LANES, high[r]);
    }
}

/// `m[t][o] = Σ_c v[t][c] · u[o][c]` for `t < tiles` and `o` < `blocks · 2 · LANES`: one of the 36 products of
/// a block, against filters packed by `cw_winograd_filters` with `panel = 2 · LANES`.
///
/// Why not sgemm: OpenBLAS packs both operands on every call, and here one of them (the transformed filters,
/// up to 1 MiB per position) is the same for every block of every batch; it is packed once, at load time.
/// The register block is PANEL_ROWS tiles × 2 vectors of output channels, each filter vector loaded once per
/// PANEL_ROWS tiles; the last tiles of a block go through smaller blocks (8, 4, 2, 1 rows), so no row is
/// computed in vain (64 tiles, resnet18's layer4 at batch 16, would otherwise cost 70 rows).
void CW_NAME(cw_winograd_multiply_)(const float *v, long tiles, long vStride, const float *packed, long blocks,
                                    long c, float *m, long mStride) {
    const long panel = 2 * LANES;
    for (long block = 0; block < blocks; block++) {
        const float *b = packed + block * c * panel;
        long t0 = 0;
        while (t0 < tiles) {
            const long left = tiles - t0;
            const float *a = v + t0 * vStride;
            float *destination = m + t0 * mStride + block * panel;
            int rows;
            if (left >= PANEL_ROWS) {
                CW_NAME(multiply_block_)(a, vStride, b, c, destination, mStride, PANEL_ROWS);
                rows = PANEL_ROWS;
            } else if (left >= 8 && PANEL_ROWS > 8) {
                CW_NAME(multiply_block_)(a, vStride, b, c, destination, mStride, 8);
                rows = 8;
            } else if (left >= 4) {
                CW_NAME(multiply_block_)(a, vStride, b, c, destination, mStride, 4);
                rows = 4;
            } else if (left >= 2) {
                CW_NAME(multiply_block_)(a, vStride, b, c, destination, mStride, 2);
                rows = 2;
            } else {
                CW_NAME(multiply_block_)(a, vStride, b, c, destination, mStride, 1);
                rows = 1;
            }
            t0 += rows;
        }
    }
}
#endif
