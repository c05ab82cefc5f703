/* PDQ downscale, AVX-512: 16 image lines per vector in the row passes,
 * 16 columns per vector in the column passes. Compiled with -mavx512f -mavx512bw
 * -mavx512vl -mavx512dq and -ffp-contract=off, so no multiply-add is fused. */
#include <immintrin.h>

#include "pdq_layout.h"

#define LANES 16
typedef __m512 vfloat;
static inline vfloat v_load(const float *p) { return _mm512_load_ps(p); }
static inline void v_store(float *p, vfloat v) { _mm512_store_ps(p, v); }
static inline vfloat v_add(vfloat a, vfloat b) { return _mm512_add_ps(a, b); }
static inline vfloat v_sub(vfloat a, vfloat b) { return _mm512_sub_ps(a, b); }
static inline vfloat v_div(vfloat a, vfloat b) { return _mm512_div_ps(a, b); }
static inline vfloat v_set1(float x) { return _mm512_set1_ps(x); }

#include "pdq_luma_x86.h"

static inline __m512 luma16(__m512i r, __m512i g, __m512i b) {
    /* ((0.299f*R) + (0.587f*G)) + (0.114f*B), each step rounded to float. */
    __m512 y = _mm512_add_ps(_mm512_mul_ps(_mm512_set1_ps(PDQ_LUMA_R), _mm512_cvtepi32_ps(r)),
                             _mm512_mul_ps(_mm512_set1_ps(PDQ_LUMA_G), _mm512_cvtepi32_ps(g)));
    return _mm512_add_ps(y, _mm512_mul_ps(_mm512_set1_ps(PDQ_LUMA_B), _mm512_cvtepi32_ps(b)));
}

static void luma_row(const uint8_t *p, int64_t cols, int channels, float *out) {
    int64_t j = 0;
    if (channels == 1) {
        for (; j + 16 <= cols; j += 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(p + j));
            _mm512_store_ps(out + j, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(v)));
        }
    } else if (channels == 4) {
        const __m512i lo = _mm512_set1_epi32(0xff);
        for (; j + 16 <= cols; j += 16) {
            __m512i v = _mm512_loadu_si512((const void *)(p + 4 * j));
            __m512i r = _mm512_and_si512(v, lo);
            __m512i g = _mm512_and_si512(_mm512_srli_epi32(v, 8), lo);
            __m512i b = _mm512_and_si512(_mm512_srli_epi32(v, 16), lo);
            _mm512_store_ps(out + j, luma16(r, g, b));
        }
    } else {
        rgb_masks m = rgb_masks_make();
        for (; j + 16 <= cols; j += 16) {
            __m128i r, g, b;
            rgb48_split(p + 3 * j, &m, &r, &g, &b);
            _mm512_store_ps(out + j, luma16(_mm512_cvtepu8_epi32(r), _mm512_cvtepu8_epi32(g),
                                            _mm512_cvtepu8_epi32(b)));
        }
    }
    luma_tail(p, j, cols, channels, out);
}

static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int k = 0; k < 16; k += 2) {
        t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
    }
    for (int k = 0; k < 16; k += 4) {
        r[k] = _mm512_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[k + 1] = _mm512_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[k + 2] = _mm512_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[k + 3] = _mm512_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int k = 0; k < 4; k++) {
        t[k] = _mm512_shuffle_f32x4(r[k], r[k + 4], 0x88);
        t[k + 4] = _mm512_shuffle_f32x4(r[k], r[k + 4], 0xdd);
        t[k + 8] = _mm512_shuffle_f32x4(r[k + 8], r[k + 12], 0x88);
        t[k + 12] = _mm512_shuffle_f32x4(r[k + 8], r[k + 12], 0xdd);
    }
    for (int k = 0; k < 8; k++) {
        r[k] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0x88);
        r[k + 8] = _mm512_shuffle_f32x4(t[k], t[k + 8], 0xdd);
    }
}

static void transpose_in(const float *src, int64_t stride, int64_t n, float *dst) {
    for (int64_t c = 0; c < n; c += 16) {
        __m512 r[16];
        for (int k = 0; k < 16; k++) r[k] = _mm512_load_ps(src + k * stride + c);
        transpose16(r);
        for (int k = 0; k < 16; k++) _mm512_store_ps(dst + (c + k) * 16, r[k]);
    }
}

static void transpose_out(const float *src, int64_t n, float *dst_rows[16]) {
    for (int64_t c = 0; c < n; c += 16) {
        __m512 r[16];
        for (int k = 0; k < 16; k++) r[k] = _mm512_load_ps(src + (c + k) * 16);
        transpose16(r);
        for (int k = 0; k < 16; k++) _mm512_store_ps(dst_rows[k] + c, r[k]);
    }
}

#define KERNEL_NAME pdq_downscale_avx512
#include "pdq_downscale_body.h"
