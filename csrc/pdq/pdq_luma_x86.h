/* Byte shuffles shared by the x86 luma loops: split 16 packed RGB pixels
 * (48 bytes) into 16 R, 16 G and 16 B bytes with SSSE3 pshufb. Included by
 * the AVX2 and AVX-512 files, so it compiles with their flags. */
#ifndef TIDEHASH_PDQ_LUMA_X86_H
#define TIDEHASH_PDQ_LUMA_X86_H

#include <immintrin.h>

#include "pdq_layout.h"

typedef struct {
    __m128i m[3][3]; /* [channel][which 16-byte chunk] */
} rgb_masks;

static inline rgb_masks rgb_masks_make(void) {
    rgb_masks m;
    for (int ch = 0; ch < 3; ch++) {
        for (int part = 0; part < 3; part++) {
            int8_t idx[16];
            for (int d = 0; d < 16; d++) {
                int src = 3 * d + ch - 16 * part; /* byte of pixel d, channel ch, in this chunk */
                idx[d] = (src >= 0 && src < 16) ? (int8_t)src : (int8_t)-128;
            }
            m.m[ch][part] = _mm_loadu_si128((const __m128i *)idx);
        }
    }
    return m;
}

static inline void rgb48_split(const uint8_t *p, const rgb_masks *m, __m128i *r, __m128i *g,
                               __m128i *b) {
    const __m128i c0 = _mm_loadu_si128((const __m128i *)p);
    const __m128i c1 = _mm_loadu_si128((const __m128i *)(p + 16));
    const __m128i c2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i *out[3] = {r, g, b};
    for (int ch = 0; ch < 3; ch++) {
        *out[ch] = _mm_or_si128(_mm_or_si128(_mm_shuffle_epi8(c0, m->m[ch][0]),
                                             _mm_shuffle_epi8(c1, m->m[ch][1])),
                                _mm_shuffle_epi8(c2, m->m[ch][2]));
    }
}

static inline void luma_tail(const uint8_t *p, int64_t j, int64_t cols, int channels, float *out) {
    for (; j < cols; j++) {
        const uint8_t *q = p + j * channels;
        out[j] = channels == 1 ? (float)q[0]
                               : PDQ_LUMA_R * (float)q[0] + PDQ_LUMA_G * (float)q[1] +
                                     PDQ_LUMA_B * (float)q[2];
    }
}

#endif
