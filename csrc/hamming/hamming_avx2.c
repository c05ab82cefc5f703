/* Hamming scans, AVX2: a group of 8 codes is two vectors of 4 words. Popcount
 * by nibble lookup (vpshufb); per-byte counts of all words are added before one
 * vpsadbw per half-group (a byte holds at most 8 * words / 2 <= 255 for
 * words <= 63, so the sum is split in chunks of 31 words to stay exact). */
#include <immintrin.h>

#include "hamming.h"

static inline __m256i bytecount(__m256i v) {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    const __m256i lo = _mm256_and_si256(v, low);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
    return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

/* distances (as 4 x u64) of words [w0, w1) for 4 codes at pg (+0 or +4) */
static inline __m256i partial(const uint64_t *pg, int half, const uint64_t *q, int w0, int w1) {
    __m256i total = _mm256_setzero_si256();
    for (int c0 = w0; c0 < w1; c0 += 31) {
        const int c1 = c0 + 31 < w1 ? c0 + 31 : w1;
        __m256i bytes = _mm256_setzero_si256();
        for (int w = c0; w < c1; w++) {
            __m256i v = _mm256_loadu_si256((const __m256i *)(pg + w * 8 + half * 4));
            bytes = _mm256_add_epi8(bytes, bytecount(_mm256_xor_si256(
                                               v, _mm256_set1_epi64x((long long)q[w]))));
        }
        total = _mm256_add_epi64(total, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
    }
    return total;
}

static inline unsigned le_mask(__m256i d, __m256i t) {
    return (unsigned)(~_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(d, t))) & 0xf);
}

static inline __attribute__((always_inline)) unsigned group_dist(const uint64_t *pg,
                                                                 const uint64_t *q, int words,
                                                                 int fw, int32_t thr,
                                                                 int32_t out[8]) {
    const __m256i t = _mm256_set1_epi64x(thr);
    __m256i a = partial(pg, 0, q, 0, fw), b = partial(pg, 1, q, 0, fw);
    if (fw < words) {
        if ((le_mask(a, t) | (le_mask(b, t) << 4)) == 0) return 0;
        a = _mm256_add_epi64(a, partial(pg, 0, q, fw, words));
        b = _mm256_add_epi64(b, partial(pg, 1, q, fw, words));
    }
    const unsigned m = le_mask(a, t) | (le_mask(b, t) << 4);
    if (m) {
        int64_t tmp[8];
        _mm256_storeu_si256((__m256i *)tmp, a);
        _mm256_storeu_si256((__m256i *)(tmp + 4), b);
        for (int j = 0; j < 8; j++) out[j] = (int32_t)tmp[j];
    }
    return m;
}

static inline __attribute__((always_inline)) uint32_t partial_mask4(const uint64_t *pg,
                                                                    const uint64_t *q, int words,
                                                                    int fw, int32_t thr) {
    const __m256i t = _mm256_set1_epi64x(thr);
    uint32_t mask = 0;
    for (int g = 0; g < 4; g++) {
        const uint64_t *p = pg + g * 8 * words;
        mask |= le_mask(partial(p, 0, q, 0, fw), t) | le_mask(partial(p, 1, q, 0, fw), t);
    }
    return mask;
}

#define HAMMING_DIRECT_MAX_QUERIES 1 /* see range_direct */
#define KERNELS_NAME hamming_avx2
#include "hamming_body.h"
