// Sigmoid and SiLU, written once over LANES floats; included by each kernels_<level>.c after winograd_body.h
// (whose helpers it uses). eˣ is computed exactly as Activation.exp in Swift — the same clamps, range reduction,
// polynomial and order of operations, with FMA contraction off in every level — so every width gives Swift's
// results bit for bit, LANES elements at a time where Swift's loop runs at the baseline's 4.

typedef int CW_NAME(ivec_) __attribute__((vector_size(sizeof(VEC))));

/// `a` where `mask` is set, else `b`: a select that keeps NaN (min/max would replace it by the bound).
static inline VEC CW_NAME(select_)(CW_NAME(ivec_) mask, VEC a, VEC b) {
    return (VEC)(((CW_NAME(ivec_))a & mask) | ((CW_NAME(ivec_))b & ~mask));
}

static inline VEC CW_NAME(exp_)(VEC value) {
    typedef CW_NAME(ivec_) IVEC;
    const VEC lowest = CW_NAME(splat_)(-110.0f), highest = CW_NAME(splat_)(90.0f);
    VEC x = CW_NAME(select_)(value < lowest, lowest, value);
    x = CW_NAME(select_)(x > highest, highest, x);
    const VEC shifter = CW_NAME(splat_)(12582912.0f);
    const VEC shifted = x * CW_NAME(splat_)(1.4426950408889634f) + shifter;
    const VEC k = shifted - shifter;
    VEC r = x - k * CW_NAME(splat_)(0.693359375f);
    r = r - k * CW_NAME(splat_)(-2.12194440e-4f);
    VEC q = CW_NAME(splat_)(1.3814612983280342e-3f);
    q = q * r + CW_NAME(splat_)(8.368709842563455e-3f);
    q = q * r + CW_NAME(splat_)(4.1668387367004345e-2f);
    q = q * r + CW_NAME(splat_)(0.16666520689634917f);
    q = q * r + CW_NAME(splat_)(0.499999934516799f);
    const VEC mantissa = q * r * r + r + CW_NAME(splat_)(1.0f);
    // Unsigned arithmetic for the wrapping adds and the shift into the exponent field; signed for ⌊k / 2⌋.
    typedef unsigned UVEC __attribute__((vector_size(sizeof(VEC))));
    const UVEC kBits = (UVEC)shifted - 0x4B400000u;
    const UVEC low = (UVEC)((IVEC)kBits >> 1), high = kBits - low;
    const VEC lowScale = (VEC)((low + 127u) << 23), highScale = (VEC)((high + 127u) << 23);
    return mantissa * lowScale * highScale;
}

/// `x / (1 + e⁻ˣ)` (SiLU) or `1 / (1 + e⁻ˣ)` (sigmoid) of `x = v + shift`, as Activation.apply computes them.
static inline VEC CW_NAME(gate_)(VEC v, VEC shift, int silu) {
    const VEC x = v + shift, one = CW_NAME(splat_)(1.0f);
    return (silu ? x : one) / (one + CW_NAME(exp_)(-x));
}

void CW_NAME(cw_sigmoid_)(float *values, long count, float shift, int silu) {
    const VEC s = CW_NAME(splat_)(shift);
    long i = 0;
    for (; i + LANES <= count; i += LANES) CW_NAME(store_)(values + i, CW_NAME(gate_)(CW_NAME(load_)(values + i), s, silu));
    if (i < count) {
        VEC rest = CW_NAME(splat_)(0.0f);
        memcpy(&rest, values + i, sizeof(float) * (count - i));
        rest = CW_NAME(gate_)(rest, s, silu);
        memcpy(values + i, &rest, sizeof(float) * (count - i));
    }
}
