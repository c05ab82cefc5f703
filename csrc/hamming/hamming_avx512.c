/* Hamming scans, AVX-512 with VPOPCNTDQ: one vector = one word of 8 codes.
 * For 256-bit codes the first two words are summed first; a group of 8 rows
 * whose 128-bit partial distances all exceed the threshold is skipped, which
 * for range search and k-NN discards almost every group at half the work. */
#include <immintrin.h>

#include "hamming.h"

/* queries scanned together on the OR-bound path (see partial_mask4_nq); at most 8
 * (or_mask_nq packs 8 rows x queries into 64 bits) */
#define HAMMING_OR_QUERIES 6

static inline __m512i wdist(const uint64_t *pg, int w, uint64_t qw) {
    return _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512((const void *)(pg + w * 8)),
                                                _mm512_set1_epi64((long long)qw)));
}

static inline __attribute__((always_inline)) __m512i xword(const uint64_t *pg, int w,
                                                           uint64_t qw) {
    return _mm512_xor_si512(_mm512_loadu_si512((const void *)(pg + w * 8)),
                            _mm512_set1_epi64((long long)qw));
}

/* Sum of popcounts of words [w0, w1) for 8 codes. VPOPCNTQ is the bottleneck
 * (one zmm every two cycles on Zen 4), so three words at a time go through a
 * carry-save adder first: x+y+z = popcnt(x^y^z) + 2 popcnt(maj(x,y,z)), two
 * popcounts instead of three. */
static inline __attribute__((always_inline)) __m512i sum_words(const uint64_t *pg,
                                                               const uint64_t *q, int w0,
                                                               int w1) {
    __m512i d = _mm512_setzero_si512();
    int w = w0;
#ifndef HAMMING_NO_CSA
    for (; w + 3 <= w1; w += 3) {
        const __m512i x = xword(pg, w, q[w]), y = xword(pg, w + 1, q[w + 1]),
                      z = xword(pg, w + 2, q[w + 2]);
        const __m512i ones = _mm512_ternarylogic_epi64(x, y, z, 0x96);
        const __m512i twos = _mm512_ternarylogic_epi64(x, y, z, 0xe8);
        d = _mm512_add_epi64(d, _mm512_popcnt_epi64(ones));
        d = _mm512_add_epi64(d, _mm512_slli_epi64(_mm512_popcnt_epi64(twos), 1));
    }
#endif
    for (; w < w1; w++) d = _mm512_add_epi64(d, _mm512_popcnt_epi64(xword(pg, w, q[w])));
    return d;
}

static inline __attribute__((always_inline)) unsigned group_dist(const uint64_t *pg,
                                                                 const uint64_t *q, int words,
                                                                 int fw, int32_t thr,
                                                                 int32_t out[8]) {
    const __m512i t = _mm512_set1_epi64(thr);
    __m512i d = sum_words(pg, q, 0, fw);
    if (fw < words) {
        if (_mm512_cmple_epi64_mask(d, t) == 0) return 0;
        d = _mm512_add_epi64(d, sum_words(pg, q, fw, words));
    }
    const unsigned m = _mm512_cmple_epi64_mask(d, t);
    if (m) _mm256_storeu_si256((__m256i *)out, _mm512_cvtepi64_epi32(d));
    return m;
}

/* A lower bound of the distance of a 4-word code in one popcount:
 * popcnt(x0|x1|x2|x3) <= popcnt(x0)+popcnt(x1)+popcnt(x2)+popcnt(x3), where xi is
 * word i XOR the query. For unrelated codes it is about 60 (sd 1.9), so up to
 * r ~ 53 it rules out a block of 32 rows almost always, at half the popcounts of
 * summing three words (VPOPCNTQ is the scan's bottleneck). */
static inline __attribute__((always_inline)) __m512i or_bound4(const uint64_t *pg,
                                                               const uint64_t *q) {
    __m512i x = xword(pg, 0, q[0]);
    x = _mm512_ternarylogic_epi64(x, _mm512_loadu_si512((const void *)(pg + 8)),
                                  _mm512_set1_epi64((long long)q[1]), 0xf6); /* a | (b ^ c) */
    x = _mm512_ternarylogic_epi64(x, _mm512_loadu_si512((const void *)(pg + 16)),
                                  _mm512_set1_epi64((long long)q[2]), 0xf6);
    x = _mm512_ternarylogic_epi64(x, _mm512_loadu_si512((const void *)(pg + 24)),
                                  _mm512_set1_epi64((long long)q[3]), 0xf6);
    return _mm512_popcnt_epi64(x);
}

/* The OR bound of one group of 8 rows to each of the HAMMING_OR_QUERIES queries,
 * branch-free: byte k of the result holds the rows that query k may reach. A group
 * the block test let through is usually reached by one query and rarely holds a
 * hit, so only that query's distances are summed next (group_dist). */
static inline __attribute__((always_inline)) uint64_t or_mask_nq(
    const uint64_t *pg, const uint64_t qp[HAMMING_OR_QUERIES][4], int32_t thr) {
    /* the masks are joined with KUNPCK, which reads only the low bits of its operands,
     * rather than by widening each __mmask8 in C: here GCC 12 at -O1 under ASan+UBSan
     * (.ci/fuzz) spilled one with KMOVB and reloaded it with an 8-byte MOV, leaving stack
     * garbage in the upper bytes */
    const __m512i t = _mm512_set1_epi64(thr);
    __mmask8 c[8] = {0};
    for (int k = 0; k < HAMMING_OR_QUERIES; k++) {
        c[k] = _mm512_cmple_epi64_mask(or_bound4(pg, qp[k]), t);
    }
    return _cvtmask64_u64(_mm512_kunpackd(
        _mm512_kunpackw(_mm512_kunpackb(c[7], c[6]), _mm512_kunpackb(c[5], c[4])),
        _mm512_kunpackw(_mm512_kunpackb(c[3], c[2]), _mm512_kunpackb(c[1], c[0]))));
}

static inline __attribute__((always_inline)) unsigned or_bound_mask(const uint64_t *pg,
                                                                    const uint64_t *q,
                                                                    int32_t thr) {
    return _mm512_cmple_epi64_mask(or_bound4(pg, q), _mm512_set1_epi64(thr));
}

/* the smallest filter distance among 32 rows decides for all of them; fw == 0
 * (4-word codes only) filters on the OR bound */
static inline __attribute__((always_inline)) uint32_t partial_mask4(const uint64_t *pg,
                                                                    const uint64_t *q, int words,
                                                                    int fw, int32_t thr) {
    __m512i best;
    if (fw == 0) {
        best = or_bound4(pg, q);
        for (int g = 1; g < 4; g++) best = _mm512_min_epu64(best, or_bound4(pg + g * 32, q));
    } else {
        best = sum_words(pg, q, 0, fw);
        for (int g = 1; g < 4; g++) {
            best = _mm512_min_epu64(best, sum_words(pg + g * 8 * words, q, 0, fw));
        }
    }
    return _mm512_cmple_epi64_mask(best, _mm512_set1_epi64(thr));
}

/* The OR bound for HAMMING_OR_QUERIES queries at once over 32 rows: each word
 * of the tile is loaded once for all of them, so loads (one zmm per cycle on Zen
 * 4) stop bounding the scan. Zero only if no query has a row of the 32 within thr. */
static inline __attribute__((always_inline)) uint32_t partial_mask4_nq(
    const uint64_t *pg, const uint64_t qp[HAMMING_OR_QUERIES][4], int32_t thr) {
    __m512i qb[HAMMING_OR_QUERIES][4];
    for (int k = 0; k < HAMMING_OR_QUERIES; k++) {
        for (int w = 0; w < 4; w++) qb[k][w] = _mm512_set1_epi64((long long)qp[k][w]);
    }
    const __m512i t = _mm512_set1_epi64(thr);
    uint32_t mask = 0;
    for (int g = 0; g < 4; g++) {
        const uint64_t *p = pg + g * 32;
        const __m512i w0 = _mm512_loadu_si512((const void *)p);
        const __m512i w1 = _mm512_loadu_si512((const void *)(p + 8));
        const __m512i w2 = _mm512_loadu_si512((const void *)(p + 16));
        const __m512i w3 = _mm512_loadu_si512((const void *)(p + 24));
        __m512i best = _mm512_setzero_si512();
        for (int k = 0; k < HAMMING_OR_QUERIES; k++) {
            __m512i x = _mm512_xor_si512(w0, qb[k][0]);
            x = _mm512_ternarylogic_epi64(x, w1, qb[k][1], 0xf6);
            x = _mm512_ternarylogic_epi64(x, w2, qb[k][2], 0xf6);
            x = _mm512_ternarylogic_epi64(x, w3, qb[k][3], 0xf6);
            const __m512i p = _mm512_popcnt_epi64(x);
            best = k == 0 ? p : _mm512_min_epu64(best, p); /* no min against a sentinel */
        }
        mask |= (uint32_t)_mm512_cmple_epi64_mask(best, t) << (8 * g);
    }
    return mask; /* byte g: the rows of group g that some query may reach */
}

#ifndef HAMMING_NO_OR_BOUND
/* radii at which the OR bound beats summing words: from where two words no longer
 * filter (r > 38) to where the bound lets too many blocks through (r > 53) */
#define HAMMING_OR_BOUND_MIN 39
#define HAMMING_OR_BOUND_MAX 53
#endif

/* 8 rows of 4 words (four 2-row vectors) -> word-planar: a 8x4 transpose of
 * uint64 in 8 two-source permutes, instead of 32 scalar moves */
static inline __attribute__((always_inline)) int to_planar_full8(const uint64_t *rows, int words,
                                                                 uint64_t *group) {
    if (words != 4) return 0;
    const __m512i a = _mm512_loadu_si512((const void *)rows);
    const __m512i b = _mm512_loadu_si512((const void *)(rows + 8));
    const __m512i c = _mm512_loadu_si512((const void *)(rows + 16));
    const __m512i d = _mm512_loadu_si512((const void *)(rows + 24));
    const __m512i lo = _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13);
    const __m512i hi = _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15);
    const __m512i ab01 = _mm512_permutex2var_epi64(a, lo, b), ab23 = _mm512_permutex2var_epi64(a, hi, b);
    const __m512i cd01 = _mm512_permutex2var_epi64(c, lo, d), cd23 = _mm512_permutex2var_epi64(c, hi, d);
    const __m512i first = _mm512_setr_epi64(0, 1, 2, 3, 8, 9, 10, 11);
    const __m512i second = _mm512_setr_epi64(4, 5, 6, 7, 12, 13, 14, 15);
    _mm512_storeu_si512((void *)group, _mm512_permutex2var_epi64(ab01, first, cd01));
    _mm512_storeu_si512((void *)(group + 8), _mm512_permutex2var_epi64(ab01, second, cd01));
    _mm512_storeu_si512((void *)(group + 16), _mm512_permutex2var_epi64(ab23, first, cd23));
    _mm512_storeu_si512((void *)(group + 24), _mm512_permutex2var_epi64(ab23, second, cd23));
    return 1;
}
#ifndef HAMMING_NO_PLANAR_SIMD
#define HAVE_TO_PLANAR_FULL8 1
#endif

#define HAMMING_DIRECT_MAX_QUERIES 1 /* see range_direct */
#define KERNELS_NAME hamming_avx512
#include "hamming_body.h"
