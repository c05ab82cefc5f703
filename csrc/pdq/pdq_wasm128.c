/* PDQ downscale, WebAssembly SIMD128: 4 image lines per vector in the row passes,
 * 4 columns per vector in the column passes. Only in the page's SIMD128 module
 * (web/build.py, the `wasm-simd128` line of kernels.txt), compiled with -msimd128
 * and -ffp-contract=off; fixed-width SIMD only (never relaxed SIMD, whose madd may
 * fuse), so every lane is one IEEE single operation, as in the scalar kernel. */
#include <wasm_simd128.h>

#include "pdq_layout.h"

#define LANES 4
typedef v128_t vfloat;
static inline vfloat v_load(const float *p) { return wasm_v128_load(p); }
static inline void v_store(float *p, vfloat v) { wasm_v128_store(p, v); }
static inline vfloat v_add(vfloat a, vfloat b) { return wasm_f32x4_add(a, b); }
static inline vfloat v_sub(vfloat a, vfloat b) { return wasm_f32x4_sub(a, b); }
static inline vfloat v_div(vfloat a, vfloat b) { return wasm_f32x4_div(a, b); }
static inline vfloat v_set1(float x) { return wasm_f32x4_splat(x); }

/* ((R r) + (G g)) + (B b), each product and sum rounded to float, as the scalar line */
static inline v128_t luma4(v128_t r, v128_t g, v128_t b) {
    v128_t y = wasm_f32x4_add(wasm_f32x4_mul(wasm_f32x4_splat(PDQ_LUMA_R), wasm_f32x4_convert_i32x4(r)),
                              wasm_f32x4_mul(wasm_f32x4_splat(PDQ_LUMA_G), wasm_f32x4_convert_i32x4(g)));
    return wasm_f32x4_add(y, wasm_f32x4_mul(wasm_f32x4_splat(PDQ_LUMA_B), wasm_f32x4_convert_i32x4(b)));
}

static void luma_row(const uint8_t *p, int64_t cols, int channels, float *out) {
    int64_t j = 0;
    if (channels == 1) {
        for (; j + 4 <= cols; j += 4) {
            v128_t v = wasm_v128_load32_zero(p + j);
            v = wasm_u32x4_extend_low_u16x8(wasm_u16x8_extend_low_u8x16(v));
            wasm_v128_store(out + j, wasm_f32x4_convert_i32x4(v));
        }
        for (; j < cols; j++) out[j] = (float)p[j];
        return;
    }
    if (channels == 4) {
        const v128_t lo = wasm_i32x4_splat(0xff);
        for (; j + 4 <= cols; j += 4) {
            v128_t v = wasm_v128_load(p + 4 * j);
            v128_t r = wasm_v128_and(v, lo);
            v128_t g = wasm_v128_and(wasm_u32x4_shr(v, 8), lo);
            v128_t b = wasm_v128_and(wasm_u32x4_shr(v, 16), lo);
            wasm_v128_store(out + j, luma4(r, g, b));
        }
    }
    for (p += (int64_t)channels * j; j < cols; j++, p += channels) {
        out[j] = PDQ_LUMA_R * (float)p[0] + PDQ_LUMA_G * (float)p[1] + PDQ_LUMA_B * (float)p[2];
    }
}

static inline void transpose4(v128_t r[4]) {
    v128_t t0 = wasm_i32x4_shuffle(r[0], r[1], 0, 4, 1, 5);
    v128_t t1 = wasm_i32x4_shuffle(r[0], r[1], 2, 6, 3, 7);
    v128_t t2 = wasm_i32x4_shuffle(r[2], r[3], 0, 4, 1, 5);
    v128_t t3 = wasm_i32x4_shuffle(r[2], r[3], 2, 6, 3, 7);
    r[0] = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
    r[1] = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
    r[2] = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
    r[3] = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
}

static void transpose_in(const float *src, int64_t stride, int64_t n, float *dst) {
    for (int64_t c = 0; c < n; c += 4) {
        v128_t r[4];
        for (int k = 0; k < 4; k++) r[k] = wasm_v128_load(src + k * stride + c);
        transpose4(r);
        for (int k = 0; k < 4; k++) wasm_v128_store(dst + (c + k) * 4, r[k]);
    }
}

static void transpose_out(const float *src, int64_t n, float *dst_rows[4]) {
    for (int64_t c = 0; c < n; c += 4) {
        v128_t r[4];
        for (int k = 0; k < 4; k++) r[k] = wasm_v128_load(src + (c + k) * 4);
        transpose4(r);
        for (int k = 0; k < 4; k++) wasm_v128_store(dst_rows[k] + c, r[k]);
    }
}

#define KERNEL_NAME pdq_downscale_wasm128
#include "pdq_downscale_body.h"
