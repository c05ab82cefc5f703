/* Hamming scans, NEON (arm64 only): VCNT byte popcounts summed across words
 * (at most 31 words per byte accumulator, 31 * 8 = 248 < 256), then widened
 * pairwise to one uint64 per code; a vector holds 2 codes of a group of 8. */
#include <arm_neon.h>

#include "hamming.h"

static inline __attribute__((always_inline)) uint64x2_t pair_sum(const uint64_t *pg, int pair,
                                                                 const uint64_t *q, int w0,
                                                                 int w1) {
    uint64x2_t total = vdupq_n_u64(0);
    for (int c0 = w0; c0 < w1; c0 += 31) {
        const int c1 = c0 + 31 < w1 ? c0 + 31 : w1;
        uint8x16_t bytes = vdupq_n_u8(0);
        for (int w = c0; w < c1; w++) {
            const uint64x2_t x = veorq_u64(vld1q_u64(pg + w * 8 + 2 * pair), vdupq_n_u64(q[w]));
            bytes = vaddq_u8(bytes, vcntq_u8(vreinterpretq_u8_u64(x)));
        }
        total = vaddq_u64(total, vpaddlq_u32(vpaddlq_u16(vpaddlq_u8(bytes))));
    }
    return total;
}

static inline unsigned le_bits(uint64x2_t d, uint64x2_t t) {
    const uint64x2_t le = vcleq_u64(d, t);
    return (unsigned)(vgetq_lane_u64(le, 0) & 1) | (unsigned)((vgetq_lane_u64(le, 1) & 1) << 1);
}

static inline __attribute__((always_inline)) unsigned group_dist(const uint64_t *pg,
                                                                 const uint64_t *q, int words,
                                                                 int fw, int32_t thr,
                                                                 int32_t out[8]) {
    const uint64x2_t t = vdupq_n_u64((uint64_t)thr);
    uint64x2_t d[4];
    unsigned m = 0;
    for (int p = 0; p < 4; p++) {
        d[p] = pair_sum(pg, p, q, 0, fw);
        m |= le_bits(d[p], t) << (2 * p);
    }
    if (fw < words) {
        if (m == 0) return 0;
        m = 0;
        for (int p = 0; p < 4; p++) {
            d[p] = vaddq_u64(d[p], pair_sum(pg, p, q, fw, words));
            m |= le_bits(d[p], t) << (2 * p);
        }
    }
    if (m) {
        for (int p = 0; p < 4; p++) {
            out[2 * p] = (int32_t)vgetq_lane_u64(d[p], 0);
            out[2 * p + 1] = (int32_t)vgetq_lane_u64(d[p], 1);
        }
    }
    return m;
}

static inline __attribute__((always_inline)) uint32_t partial_mask4(const uint64_t *pg,
                                                                    const uint64_t *q, int words,
                                                                    int fw, int32_t thr) {
    const uint64x2_t t = vdupq_n_u64((uint64_t)thr);
    uint32_t m = 0;
    for (int g = 0; g < 4; g++) {
        for (int p = 0; p < 4; p++) m |= le_bits(pair_sum(pg + g * 8 * words, p, q, 0, fw), t);
    }
    return m;
}

#define KERNELS_NAME hamming_neon
#include "hamming_body.h"
