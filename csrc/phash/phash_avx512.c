/* pHash resize, AVX-512 (F, BW): luma 16 pixels per vector, and the horizontal
 * pass as 16-bit multiply-adds of luma with the split weights, 32 taps per
 * instruction pair. Integer only: equal to the scalar bytes. */
#include <immintrin.h>

#define KERNEL(name) phash_##name##_avx512
#define KERNELS_NAME phash_kernels_avx512
#define PHASH_HAVE_LUMA_LINE
#define PHASH_HAVE_HORIZONTAL_LINE
#define PHASH_HAVE_HORIZONTAL_LINE2

#include "phash_resize_body.h"
#include "phash_x86.h"

/* 16 RGBX pixels (one per int32 lane) to luma, as in the AVX2 file: the words
 * (R, B) and (G, G) meet (19595, 7471) and (19235, 19235) in vpmaddwd. */
static inline __m512i luma16(__m512i rgbx) {
    const __m512i rb_words = _mm512_set1_epi32(0x00ff00ff);
    const __m512i g_twice = _mm512_broadcast_i32x4(
        _mm_setr_epi8(1, -1, 1, -1, 5, -1, 5, -1, 9, -1, 9, -1, 13, -1, 13, -1));
    const __m512i w_rb = _mm512_set1_epi32((7471 << 16) | 19595);
    const __m512i w_gg = _mm512_set1_epi32((19235 << 16) | 19235);
    const __m512i rb = _mm512_and_si512(rgbx, rb_words);
    const __m512i gg = _mm512_shuffle_epi8(rgbx, g_twice);
    __m512i y = _mm512_add_epi32(_mm512_madd_epi16(rb, w_rb), _mm512_madd_epi16(gg, w_gg));
    y = _mm512_add_epi32(y, _mm512_set1_epi32(0x8000));
    return _mm512_srli_epi32(y, 16);
}

static void luma_line(const uint8_t *p, int64_t cols, int channels, int16_t *out) {
    int64_t j = 0;
    if (channels == 1) {
        for (; j + 32 <= cols; j += 32) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(p + j));
            _mm512_storeu_si512((void *)(out + j), _mm512_cvtepu8_epi16(v));
        }
    } else if (channels == 4) {
        for (; j + 16 <= cols; j += 16) {
            const __m512i v = _mm512_loadu_si512((const void *)(p + 4 * j));
            _mm256_storeu_si256((__m256i *)(out + j), _mm512_cvtepi32_epi16(luma16(v)));
        }
    } else {
        /* 4 packed RGB pixels (12 bytes) per 128-bit lane -> RGB0 dwords; the
         * last load of each step reads 4 bytes past its 48, hence the bound */
        const __m512i spread = _mm512_broadcast_i32x4(
            _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1));
        for (; 3 * j + 52 <= 3 * cols; j += 16) {
            const uint8_t *q = p + 3 * j;
            __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)q));
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(q + 12)), 1);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(q + 24)), 2);
            v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(q + 36)), 3);
            v = _mm512_shuffle_epi8(v, spread);
            _mm256_storeu_si256((__m256i *)(out + j), _mm512_cvtepi32_epi16(luma16(v)));
        }
    }
    luma_tail(p, j, cols, channels, out);
}

/* 16 lanes to 8: the two 256-bit halves added. */
static inline __m256i fold256(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

/* One window's lane sums (see phash_x86_horizontal.h), 32 taps per instruction pair,
 * folded to 8 lanes. */
static inline __attribute__((always_inline)) void window_sums(
    const int16_t *in, const int16_t *in2, const int16_t *hi, const int16_t *lo, int count,
    const int two, __m256i *ra, __m256i *rb) {
    __m512i a_hi = _mm512_setzero_si512(), a_lo = _mm512_setzero_si512();
    __m512i b_hi = _mm512_setzero_si512(), b_lo = _mm512_setzero_si512();
    for (int i = 0; i < count; i += 32) {
        const __m512i kh = _mm512_load_si512((const void *)(hi + i));
        const __m512i kl = _mm512_load_si512((const void *)(lo + i));
        const __m512i v = _mm512_loadu_si512((const void *)(in + i));
        a_hi = _mm512_add_epi32(a_hi, _mm512_madd_epi16(v, kh));
        a_lo = _mm512_add_epi32(a_lo, _mm512_madd_epi16(v, kl));
        if (two) {
            const __m512i w = _mm512_loadu_si512((const void *)(in2 + i));
            b_hi = _mm512_add_epi32(b_hi, _mm512_madd_epi16(w, kh));
            b_lo = _mm512_add_epi32(b_lo, _mm512_madd_epi16(w, kl));
        }
    }
    *ra = fold256(_mm512_add_epi32(_mm512_slli_epi32(a_hi, PHASH_SPLIT_SHIFT), a_lo));
    if (two) *rb = fold256(_mm512_add_epi32(_mm512_slli_epi32(b_hi, PHASH_SPLIT_SHIFT), b_lo));
}

#include "phash_x86_horizontal.h"
