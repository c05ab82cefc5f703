/* The horizontal pass of the pHash resize, shared by the AVX2 and AVX-512 files.
 * The file including it first defines
 *     static inline void window_sums(const int16_t *in, const int16_t *in2,
 *                                    const int16_t *hi, const int16_t *lo, int count,
 *                                    int two, __m256i *ra, __m256i *rb)
 * which sets *ra (and with `two`, *rb) to 8 int32 lanes whose total is
 * sum in[i] * k[i] = 2^12 sum in[i] * hi[i] + sum in[i] * lo[i] over the window's
 * `count` taps (in2 for *rb), with its own vector width. Lane sums may wrap; each
 * total is the true int32 sum modulo 2^32, so it is exact. */
#ifndef TIDEHASH_PHASH_X86_HORIZONTAL_H
#define TIDEHASH_PHASH_X86_HORIZONTAL_H

#include "phash_x86.h"

/* The horizontal pass, eight outputs at a time, for one line or two (`two`:
 * each weight vector loaded once for both); window_sums gives each output's lane
 * sums, sum8x8 reduces eight outputs at once. With two lines, the source lines pf
 * and pf2 (if not NULL) are prefetched meanwhile, spread over the outputs, so memory
 * overlaps arithmetic. */
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
            window_sums(in, in2, hi, lo, count, two, &ra[g], &rb[g]);
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

#endif
