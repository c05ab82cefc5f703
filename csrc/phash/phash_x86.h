/* Helpers shared by the AVX2 and AVX-512 pHash files (AVX2 instructions only;
 * each file compiles them with its own flags). */
#ifndef TIDEHASH_PHASH_X86_H
#define TIDEHASH_PHASH_X86_H

#include <immintrin.h>

#include "phash.h"

/* The 8 lane sums of 8 vectors, as one vector (int32, wrapping): a hadd tree,
 * then the two 128-bit halves added. Reducing 8 outputs at once costs less
 * than one horizontal sum per output, which short windows would feel. */
static inline __m256i sum8x8(const __m256i v[8]) {
    const __m256i h01 = _mm256_hadd_epi32(v[0], v[1]);
    const __m256i h23 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i h45 = _mm256_hadd_epi32(v[4], v[5]);
    const __m256i h67 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i q03 = _mm256_hadd_epi32(h01, h23); /* [0-3 low halves | 0-3 high halves] */
    const __m256i q47 = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(q03, q47, 0x20),
                            _mm256_permute2x128_si256(q03, q47, 0x31));
}

/* clip8(2^21 + s) of `count` (<= 8) sums into bytes. */
static inline void store_clip8(uint8_t *out, __m256i s, int count) {
    s = _mm256_add_epi32(s, _mm256_set1_epi32(1 << 21));
    s = _mm256_srai_epi32(s, 22);
    s = _mm256_min_epi32(_mm256_max_epi32(s, _mm256_setzero_si256()), _mm256_set1_epi32(255));
    int32_t v[8];
    _mm256_storeu_si256((__m256i *)v, s);
    for (int i = 0; i < count; i++) out[i] = (uint8_t)v[i];
}

/* Prefetch cache lines first .. last-1 of a source line into L2. */
static inline void prefetch_lines(const uint8_t *line, size_t first, size_t last) {
    for (size_t i = first; i < last; i++) _mm_prefetch((const char *)(line + 64 * i), _MM_HINT_T1);
}

#endif
