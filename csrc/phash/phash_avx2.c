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

/* sum in[i] * k[i] = 2^12 sum in[i] * hi[i] + sum in[i] * lo[i], for one line
 * or two (`two`: each weight vector loaded once for both), eight outputs at a
 * time. Lane sums may wrap; each total is the true int32 sum modulo 2^32, so it
 * is exact. With two lines, the source lines pf and pf2 (if not NULL) are
 * prefetched meanwhile, spread over the outputs, so memory overlaps arithmetic. */
static inline __attribute__((always_inline)) void horizontal_lines(
    const phash_plan *p, const int16_t *luma, const int16_t *luma2, uint8_t *out, uint8_t *out2,
    const uint8_t *pf, const uint8_t *pf2, size_t pf_bytes, const int two) {
    const int n = p->n, stride = p->kstride;
    const size_t pf_lines = (pf_bytes + 63) / 64, per = (pf_lines + n - 1) / n;
    __m256i ra[8], rb[8];
    for (int x0 = 0; x0 < n; x0 += 8) {
        const int group = n - x0 < 8 ? n - x0 : 8;
        for (int g = 0; g < 8; g++) {
            ra[g] = rb[g] = _mm256_setzero_si256();
            if (g >= group) continue;
            const int x = x0 + g;
            const size_t first = (size_t)x * per < pf_lines ? (size_t)x * per : pf_lines;
            const size_t last = first + per < pf_lines ? first + per : pf_lines;
            if (pf != NULL) prefetch_lines(pf, first, last);
            if (pf2 != NULL) prefetch_lines(pf2, first, last);
            const int32_t xmin = p->h.bounds[2 * x], shift = xmin & (p->kalign - 1);
            const int32_t count = p->h.bounds[2 * x + 1] + shift;
            const int16_t *in = luma + (xmin - shift), *in2 = two ? luma2 + (xmin - shift) : NULL;
            const int16_t *hi = p->kk_split + (size_t)2 * x * stride, *lo = hi + stride;
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
            ra[g] = _mm256_add_epi32(_mm256_slli_epi32(a_hi, PHASH_SPLIT_SHIFT), a_lo);
            if (two) rb[g] = _mm256_add_epi32(_mm256_slli_epi32(b_hi, PHASH_SPLIT_SHIFT), b_lo);
        }
        store_clip8(out + x0, sum8x8(ra), group);
        if (two) store_clip8(out2 + x0, sum8x8(rb), group);
    }
}

static void horizontal_line(const phash_plan *p, const int16_t *luma, uint8_t *out) {
    horizontal_lines(p, luma, NULL, out, NULL, NULL, NULL, 0, 0);
}

static void horizontal_line2(const phash_plan *p, const int16_t *luma, const int16_t *luma2,
                             uint8_t *out, uint8_t *out2, const uint8_t *pf, const uint8_t *pf2,
                             size_t pf_bytes) {
    horizontal_lines(p, luma, luma2, out, out2, pf, pf2, pf_bytes, 1);
}
