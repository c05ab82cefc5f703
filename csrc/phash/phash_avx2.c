/* pHash resize, AVX2: luma 16 pixels at a time with 16-bit multiply-adds, and
 * the horizontal pass as 16-bit multiply-adds of luma with the split weights
 * (16 taps per instruction pair). Integer only: equal to the scalar bytes. */
#include <immintrin.h>

#define KERNEL(name) phash_##name##_avx2
#define KERNELS_NAME phash_kernels_avx2
#define PHASH_HAVE_LUMA_LINE
#define PHASH_HAVE_HORIZONTAL_LINE
#define PHASH_HAVE_HORIZONTAL_LINE2

#include "phash_resize_body.h"
#include "phash_x86.h"

/* Eight RGBX pixels (one per int32 lane) to eight luma values in int32 lanes:
 * vpmaddwd of the words (R, B) with (19595, 7471) plus vpmaddwd of (G, G) with
 * (19235, 19235): 38470 does not fit int16, 2 x 19235 does. */
static inline __m256i luma8(__m256i rgbx) {
    const __m256i rb_words = _mm256_set1_epi32(0x00ff00ff);
    const __m256i g_twice = _mm256_setr_epi8(1, -1, 1, -1, 5, -1, 5, -1, 9, -1, 9, -1, 13, -1, 13, -1,
                                             1, -1, 1, -1, 5, -1, 5, -1, 9, -1, 9, -1, 13, -1, 13, -1);
    const __m256i w_rb = _mm256_set1_epi32((7471 << 16) | 19595);
    const __m256i w_gg = _mm256_set1_epi32((19235 << 16) | 19235);
    const __m256i rb = _mm256_and_si256(rgbx, rb_words);
    const __m256i gg = _mm256_shuffle_epi8(rgbx, g_twice);
    __m256i y = _mm256_add_epi32(_mm256_madd_epi16(rb, w_rb), _mm256_madd_epi16(gg, w_gg));
    y = _mm256_add_epi32(y, _mm256_set1_epi32(0x8000));
    return _mm256_srli_epi32(y, 16);
}

/* 16 luma values (two vectors of eight int32) stored as int16, in order. */
static inline void store16(int16_t *out, __m256i a, __m256i b) {
    const __m256i packed = _mm256_packus_epi32(a, b); /* per 128-bit lane: a0-3 b0-3 | a4-7 b4-7 */
    _mm256_storeu_si256((__m256i *)out, _mm256_permute4x64_epi64(packed, 0xd8));
}

static void luma_line(const uint8_t *p, int64_t cols, int channels, int16_t *out) {
    int64_t j = 0;
    if (channels == 1) {
        for (; j + 16 <= cols; j += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(p + j));
            _mm256_storeu_si256((__m256i *)(out + j), _mm256_cvtepu8_epi16(v));
        }
    } else if (channels == 4) {
        for (; j + 16 <= cols; j += 16) {
            const __m256i a = _mm256_loadu_si256((const __m256i *)(p + 4 * j));
            const __m256i b = _mm256_loadu_si256((const __m256i *)(p + 4 * j + 32));
            store16(out + j, luma8(a), luma8(b));
        }
    } else {
        /* 4 packed RGB pixels (12 bytes) per 128-bit lane -> RGB0 dwords; the
         * last load of a step reads 4 bytes past its 48, hence the bound */
        const __m256i spread = _mm256_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1,
                                                0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
        for (; 3 * j + 52 <= 3 * cols; j += 16) {
            const uint8_t *q = p + 3 * j;
            const __m256i a = _mm256_loadu2_m128i((const __m128i *)(q + 12), (const __m128i *)q);
            const __m256i b =
                _mm256_loadu2_m128i((const __m128i *)(q + 36), (const __m128i *)(q + 24));
            store16(out + j, luma8(_mm256_shuffle_epi8(a, spread)),
                    luma8(_mm256_shuffle_epi8(b, spread)));
        }
    }
    luma_tail(p, j, cols, channels, out);
}

/* One window's lane sums (see phash_x86_horizontal.h), 16 taps per instruction pair. */
static inline __attribute__((always_inline)) void window_sums(
    const int16_t *in, const int16_t *in2, const int16_t *hi, const int16_t *lo, int count,
    const int two, __m256i *ra, __m256i *rb) {
    __m256i a_hi = _mm256_setzero_si256(), a_lo = _mm256_setzero_si256();
    __m256i b_hi = _mm256_setzero_si256(), b_lo = _mm256_setzero_si256();
    for (int i = 0; i < count; i += 16) {
        const __m256i kh = _mm256_load_si256((const __m256i *)(hi + i));
        const __m256i kl = _mm256_load_si256((const __m256i *)(lo + i));
        const __m256i v = _mm256_loadu_si256((const __m256i *)(in + i));
        a_hi = _mm256_add_epi32(a_hi, _mm256_madd_epi16(v, kh));
        a_lo = _mm256_add_epi32(a_lo, _mm256_madd_epi16(v, kl));
        if (two) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(in2 + i));
            b_hi = _mm256_add_epi32(b_hi, _mm256_madd_epi16(w, kh));
            b_lo = _mm256_add_epi32(b_lo, _mm256_madd_epi16(w, kl));
        }
    }
    *ra = _mm256_add_epi32(_mm256_slli_epi32(a_hi, PHASH_SPLIT_SHIFT), a_lo);
    if (two) *rb = _mm256_add_epi32(_mm256_slli_epi32(b_hi, PHASH_SPLIT_SHIFT), b_lo);
}

#include "phash_x86_horizontal.h"
