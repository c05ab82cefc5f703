/* PDQ downscale, AVX2: 8 image lines per vector in the row passes, 8 columns
 * per vector in the column passes. Compiled with -mavx2 and -ffp-contract=off. */
#include <immintrin.h>

#include "pdq_layout.h"

#define LANES 8
typedef __m256 vfloat;
static inline vfloat v_load(const float *p) { return _mm256_load_ps(p); }
static inline void v_store(float *p, vfloat v) { _mm256_store_ps(p, v); }
static inline vfloat v_add(vfloat a, vfloat b) { return _mm256_add_ps(a, b); }
static inline vfloat v_sub(vfloat a, vfloat b) { return _mm256_sub_ps(a, b); }
static inline vfloat v_div(vfloat a, vfloat b) { return _mm256_div_ps(a, b); }
static inline vfloat v_set1(float x) { return _mm256_set1_ps(x); }

#include "pdq_luma_x86.h"

static inline __m256 luma8(__m256i r, __m256i g, __m256i b) {
    __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(PDQ_LUMA_R), _mm256_cvtepi32_ps(r)),
                             _mm256_mul_ps(_mm256_set1_ps(PDQ_LUMA_G), _mm256_cvtepi32_ps(g)));
    return _mm256_add_ps(y, _mm256_mul_ps(_mm256_set1_ps(PDQ_LUMA_B), _mm256_cvtepi32_ps(b)));
}

static void luma_row(const uint8_t *p, int64_t cols, int channels, float *out) {
    int64_t j = 0;
    if (channels == 1) {
        for (; j + 8 <= cols; j += 8) {
            __m128i v = _mm_loadl_epi64((const __m128i *)(p + j));
            _mm256_store_ps(out + j, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(v)));
        }
    } else if (channels == 4) {
        const __m256i lo = _mm256_set1_epi32(0xff);
        for (; j + 8 <= cols; j += 8) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(p + 4 * j));
            __m256i r = _mm256_and_si256(v, lo);
            __m256i g = _mm256_and_si256(_mm256_srli_epi32(v, 8), lo);
            __m256i b = _mm256_and_si256(_mm256_srli_epi32(v, 16), lo);
            _mm256_store_ps(out + j, luma8(r, g, b));
        }
    } else {
        rgb_masks m = rgb_masks_make();
        for (; j + 16 <= cols; j += 16) {
            __m128i r, g, b;
            rgb48_split(p + 3 * j, &m, &r, &g, &b);
            _mm256_store_ps(out + j, luma8(_mm256_cvtepu8_epi32(r), _mm256_cvtepu8_epi32(g),
                                           _mm256_cvtepu8_epi32(b)));
            _mm256_store_ps(out + j + 8,
                            luma8(_mm256_cvtepu8_epi32(_mm_srli_si128(r, 8)),
                                  _mm256_cvtepu8_epi32(_mm_srli_si128(g, 8)),
                                  _mm256_cvtepu8_epi32(_mm_srli_si128(b, 8))));
        }
    }
    luma_tail(p, j, cols, channels, out);
}

static inline void transpose8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
    }
    for (int k = 0; k < 8; k += 4) {
        s[k] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
        s[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
        s[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
        s[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x20);
        r[k + 4] = _mm256_permute2f128_ps(s[k], s[k + 4], 0x31);
    }
}

static void transpose_in(const float *src, int64_t stride, int64_t n, float *dst) {
    for (int64_t c = 0; c < n; c += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm256_load_ps(src + k * stride + c);
        transpose8(r);
        for (int k = 0; k < 8; k++) _mm256_store_ps(dst + (c + k) * 8, r[k]);
    }
}

static void transpose_out(const float *src, int64_t n, float *dst_rows[8]) {
    for (int64_t c = 0; c < n; c += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm256_load_ps(src + (c + k) * 8);
        transpose8(r);
        for (int k = 0; k < 8; k++) _mm256_store_ps(dst_rows[k] + c, r[k]);
    }
}

#define KERNEL_NAME pdq_downscale_avx2
#include "pdq_downscale_body.h"
