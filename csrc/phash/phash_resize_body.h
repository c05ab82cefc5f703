/* Pillow's convert("L") and 8-bit LANCZOS resize (Convert.c rgb2l, Resample.c
 * *_8bpc), written once and compiled once per instruction set. The including
 * file defines KERNEL(name) and KERNELS_NAME, and may replace the two hot loops:
 *
 *   PHASH_HAVE_LUMA_LINE        luma_line(p, cols, channels, out): one line to luma
 *   PHASH_HAVE_HORIZONTAL_LINE  horizontal_line(plan, luma, out): one line of luma
 *                               to the n outputs of the horizontal pass
 *   PHASH_HAVE_HORIZONTAL_LINE2 horizontal_line2(plan, luma, luma2, out, out2, pf,
 *                               pf2, pf_bytes): two lines at once (sharing the
 *                               weight loads), prefetching the source lines pf
 *                               and pf2 (either may be NULL) meanwhile
 *
 * Everything here is integer arithmetic, so the order of the sums is free and
 * every ISA gives exactly the scalar bytes. What must match Pillow:
 *   luma  L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16      (Convert.c L24)
 *   pass  s = 2^21 + sum_i in[i] * k[i] in int32 (Pillow's two spare bits keep
 *         |s| < 2^31 for lanczos), out = clamp(s >> 22, 0, 255)      (clip8)
 * and the passes in the order the caller's Pillow runs them, the first one
 * rounded to 8 bits before the second. The scalar loops below are the
 * reference the SIMD ones are tested against. */

#include <string.h>

#include "phash.h"

#define PHASH_ROUND_HALF (1 << 21)
#define PHASH_SHIFT 22

#ifdef PHASH_HAVE_LUMA_LINE
static void luma_line(const uint8_t *p, int64_t cols, int channels, int16_t *out);
#endif
#ifdef PHASH_HAVE_HORIZONTAL_LINE
static void horizontal_line(const phash_plan *p, const int16_t *luma, uint8_t *out);
#endif
#ifdef PHASH_HAVE_HORIZONTAL_LINE2
static void horizontal_line2(const phash_plan *p, const int16_t *luma, const int16_t *luma2,
                             uint8_t *out, uint8_t *out2, const uint8_t *pf, const uint8_t *pf2,
                             size_t pf_bytes);
#endif

static inline uint8_t clip8(int32_t s) {
    const int32_t v = s >> PHASH_SHIFT; /* arithmetic shift, as Pillow's table index */
    return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}

static inline int16_t luma_of(const uint8_t *q) {
    return (int16_t)((q[0] * 19595 + q[1] * 38470 + q[2] * 7471 + 0x8000) >> 16);
}

/* Pixels j .. cols-1 of a line, one at a time (the reference, and SIMD tails). */
static inline void luma_tail(const uint8_t *p, int64_t j, int64_t cols, int channels,
                             int16_t *out) {
    if (channels == 1) {
        for (; j < cols; j++) out[j] = p[j];
    } else {
        for (; j < cols; j++) out[j] = luma_of(p + j * channels);
    }
}

#ifndef PHASH_HAVE_LUMA_LINE
static void luma_line(const uint8_t *p, int64_t cols, int channels, int16_t *out) {
    luma_tail(p, 0, cols, channels, out);
}
#endif

#ifndef PHASH_HAVE_HORIZONTAL_LINE
/* Pillow's loop: int32 weights, one output at a time. */
static void horizontal_line(const phash_plan *p, const int16_t *luma, uint8_t *out) {
    const int n = p->n, ksize = p->h.ksize;
    for (int x = 0; x < n; x++) {
        const int32_t xmin = p->h.bounds[2 * x], count = p->h.bounds[2 * x + 1];
        const int32_t *k = p->h.kk + (size_t)x * ksize;
        const int16_t *in = luma + xmin;
        int32_t s = PHASH_ROUND_HALF;
        for (int i = 0; i < count; i++) s += in[i] * k[i];
        out[x] = clip8(s);
    }
}
#endif

/* Vertical pass first: source line y adds its share to every output line
 * whose window holds it. The windows move forward with the output line. */
static void vertical_accumulate(const phash_plan *p, const int16_t *restrict luma, int64_t y) {
    const int n = p->n, ksize = p->v.ksize;
    const int64_t w = p->width;
    for (int o = 0; o < n; o++) {
        const int64_t ymin = p->v.bounds[2 * o], count = p->v.bounds[2 * o + 1];
        if (y < ymin) break;
        if (y >= ymin + count) continue;
        const int32_t k = p->v.kk[(size_t)o * ksize + (size_t)(y - ymin)];
        int32_t *restrict acc = p->vacc + (size_t)o * (size_t)w;
        for (int64_t x = 0; x < w; x++) acc[x] += luma[x] * k;
    }
}

static void KERNEL(rows)(const phash_plan *p, const th_pixels *px, int64_t first_row) {
    const int n = p->n;
    const int64_t lo = first_row > p->row_first ? first_row : p->row_first;
    const int64_t hi = first_row + px->rows < p->row_last ? first_row + px->rows : p->row_last;
    int16_t *luma = p->luma;
    for (int64_t y = lo; y < hi; y++) {
        const uint8_t *line = px->data + (y - first_row) * px->row_stride;
#ifdef PHASH_HAVE_HORIZONTAL_LINE2
        if (!p->vertical_first && p->need_h && y + 1 < hi) {
            /* two lines at once; the next two are prefetched during the sums,
             * so their memory reads overlap this arithmetic */
            const uint8_t *line2 = line + px->row_stride;
            const uint8_t *pf = y + 2 < hi ? line2 + px->row_stride : NULL;
            const uint8_t *pf2 = y + 3 < hi ? line2 + 2 * px->row_stride : NULL;
            luma_line(line, px->cols, px->channels, luma);
            luma_line(line2, px->cols, px->channels, p->luma2);
            uint8_t *out = p->temp + (size_t)(y - p->row_first) * n;
            horizontal_line2(p, luma, p->luma2, out, out + n, pf, pf2,
                             (size_t)px->cols * (size_t)px->channels);
            y++;
            continue;
        }
#endif
        luma_line(line, px->cols, px->channels, luma);
        if (p->vertical_first) {
            vertical_accumulate(p, luma, y);
            continue;
        }
        uint8_t *out = p->temp + (size_t)(y - p->row_first) * n;
        if (p->need_h) {
            horizontal_line(p, luma, out);
        } else {
            for (int x = 0; x < n; x++) out[x] = (uint8_t)luma[x];
        }
    }
}

static void KERNEL(second_pass)(const phash_plan *p, uint8_t *grey) {
    const int n = p->n;
    if (p->vertical_first) {
        /* round the sums to 8 bits, then the horizontal pass, if any */
        int16_t *line = p->luma;
        for (int y = 0; y < n; y++) {
            const int32_t *acc = p->vacc + (size_t)y * (size_t)p->width;
            uint8_t *out = grey + (size_t)y * n;
            if (p->need_h) {
                for (int64_t x = 0; x < p->width; x++) line[x] = clip8(acc[x]);
                horizontal_line(p, line, out);
            } else {
                for (int x = 0; x < n; x++) out[x] = clip8(acc[x]);
            }
        }
        return;
    }
    if (!p->need_v) {
        /* row_first .. row_last is the whole image, which has n lines */
        memcpy(grey, p->temp, (size_t)n * n);
        return;
    }
    int32_t acc[PHASH_HIGHFREQ_FACTOR * PHASH_MAX_HASH_SIZE];
    const int ksize = p->v.ksize;
    for (int y = 0; y < n; y++) {
        const int32_t ymin = p->v.bounds[2 * y], count = p->v.bounds[2 * y + 1];
        const int32_t *k = p->v.kk + (size_t)y * ksize;
        for (int x = 0; x < n; x++) acc[x] = PHASH_ROUND_HALF;
        for (int i = 0; i < count; i++) {
            const uint8_t *line = p->temp + (size_t)(ymin + i - p->row_first) * n;
            const int32_t w = k[i];
            for (int x = 0; x < n; x++) acc[x] += line[x] * w;
        }
        for (int x = 0; x < n; x++) grey[(size_t)y * n + x] = clip8(acc[x]);
    }
}

const phash_kernels KERNELS_NAME = {KERNEL(rows), KERNEL(second_pass)};
