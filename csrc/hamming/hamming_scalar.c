/* Hamming scans, serial reference: one code at a time, builtin popcount. */
#include "hamming.h"

static inline __attribute__((always_inline)) unsigned group_dist(const uint64_t *pg, const uint64_t *q, int words, int fw,
                                  int32_t thr, int32_t out[8]) {
    (void)fw; /* the serial reference always computes the full distance */
    unsigned mask = 0;
    for (int j = 0; j < 8; j++) {
        int32_t d = 0;
        for (int w = 0; w < words; w++) d += __builtin_popcountll(pg[w * 8 + j] ^ q[w]);
        out[j] = d;
        if (d <= thr) mask |= 1u << j;
    }
    return mask;
}

static inline __attribute__((always_inline)) uint32_t partial_mask4(const uint64_t *pg, const uint64_t *q, int words, int fw,
                                       int32_t thr) {
    (void)pg, (void)q, (void)words, (void)fw, (void)thr;
    return 0xffffffffu; /* the serial reference has no filter: every row is a candidate */
}

#define KERNELS_NAME hamming_scalar
#include "hamming_body.h"
