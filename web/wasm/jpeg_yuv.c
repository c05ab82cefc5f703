/* JPEG's last decoding steps, as libjpeg-turbo runs them by default (what Pillow
 * gets): the chroma planes upsampled with the "fancy" triangle filter and YCbCr
 * converted to RGB with libjpeg's fixed-point tables. A browser that decodes a large
 * JPEG to its Y, Cb and Cr planes (WebCodecs ImageDecoder gives an I420 / I422 / I444
 * frame: the IDCT's own samples) then gives the page exactly Pillow's RGB, where its
 * own YUV->RGB conversion would not.
 *
 * The arithmetic follows the IJG / libjpeg-turbo definitions (jdsample.c h2v1 and
 * h2v2 fancy upsampling, each 0.5 rounded up or down at alternate positions; the
 * context row above the first and below the last chroma row is that row again;
 * jdcolor.c ycc->rgb with 16-bit fixed point and a clamp to 0..255). libjpeg uses
 * the fancy filter only for components more than 2 samples wide; narrower images
 * are refused here (the page decodes them another way). */
#include <stdint.h>
#include <stdlib.h>

#include "pdq/pdq.h"
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define EXPORT(name) __attribute__((export_name(name)))

#define SCALEBITS 16
#define ONE_HALF ((int32_t)1 << (SCALEBITS - 1))
#define FIX(x) ((int32_t)((x) * (1L << SCALEBITS) + 0.5))

static int32_t cr_r[256], cb_b[256], cr_g[256], cb_g[256];
static int tables_ready;

static void tables(void) {
    if (tables_ready) return;
    for (int i = 0; i < 256; i++) {
        int32_t x = i - 128;
        cr_r[i] = (FIX(1.40200) * x + ONE_HALF) >> SCALEBITS;
        cb_b[i] = (FIX(1.77200) * x + ONE_HALF) >> SCALEBITS;
        cr_g[i] = -FIX(0.71414) * x;
        cb_g[i] = -FIX(0.34414) * x + ONE_HALF;
    }
    tables_ready = 1;
}

static inline uint8_t clamp255(int v) { return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* One row of Y, Cb, Cr samples to RGBX (X = 255), from `from` to `width`: the tables'
 * values, clamped as libjpeg's range limit does. */
static void convert_tail(const uint8_t *yr, const uint8_t *cbr, const uint8_t *crr, int from,
                         int width, uint8_t *out) {
    for (int j = from; j < width; j++) {
        const int yy = yr[j], b = cbr[j], c = crr[j];
        out[4 * j] = clamp255(yy + cr_r[c]);
        out[4 * j + 1] = clamp255(yy + (int)((cb_g[b] + cr_g[c]) >> SCALEBITS));
        out[4 * j + 2] = clamp255(yy + cb_b[b]);
        out[4 * j + 3] = 255;
    }
}

#ifdef __wasm_simd128__
/* The same arithmetic 16 pixels at a time: each table entry is a product of the
 * centred sample and a fixed-point constant (plus ONE_HALF, shifted), which 32-bit
 * lanes compute exactly; the two saturating narrowings are the clamp to 0..255. */
static inline v128_t term(v128_t x, int32_t k, int32_t add) {
    return wasm_i32x4_add(wasm_i32x4_mul(x, wasm_i32x4_splat(k)), wasm_i32x4_splat(add));
}

static void convert_row(const uint8_t *yr, const uint8_t *cbr, const uint8_t *crr, int width,
                        uint8_t *out) {
    const v128_t centre = wasm_i16x8_splat(128);
    int j = 0;
    for (; j + 16 <= width; j += 16) {
        const v128_t y8 = wasm_v128_load(yr + j), b8 = wasm_v128_load(cbr + j),
                     c8 = wasm_v128_load(crr + j);
        v128_t r16[2], g16[2], bl16[2];
        for (int half = 0; half < 2; half++) {
            v128_t y = half ? wasm_u16x8_extend_high_u8x16(y8) : wasm_u16x8_extend_low_u8x16(y8);
            v128_t b = wasm_i16x8_sub(
                half ? wasm_u16x8_extend_high_u8x16(b8) : wasm_u16x8_extend_low_u8x16(b8), centre);
            v128_t c = wasm_i16x8_sub(
                half ? wasm_u16x8_extend_high_u8x16(c8) : wasm_u16x8_extend_low_u8x16(c8), centre);
            v128_t rq[2], gq[2], bq[2];
            for (int q = 0; q < 2; q++) {
                v128_t yq = q ? wasm_i32x4_extend_high_i16x8(y) : wasm_i32x4_extend_low_i16x8(y);
                v128_t bx = q ? wasm_i32x4_extend_high_i16x8(b) : wasm_i32x4_extend_low_i16x8(b);
                v128_t cx = q ? wasm_i32x4_extend_high_i16x8(c) : wasm_i32x4_extend_low_i16x8(c);
                rq[q] = wasm_i32x4_add(yq, wasm_i32x4_shr(term(cx, FIX(1.40200), ONE_HALF), SCALEBITS));
                bq[q] = wasm_i32x4_add(yq, wasm_i32x4_shr(term(bx, FIX(1.77200), ONE_HALF), SCALEBITS));
                v128_t g = wasm_i32x4_add(term(bx, -FIX(0.34414), ONE_HALF),
                                          term(cx, -FIX(0.71414), 0));
                gq[q] = wasm_i32x4_add(yq, wasm_i32x4_shr(g, SCALEBITS));
            }
            r16[half] = wasm_i16x8_narrow_i32x4(rq[0], rq[1]);
            g16[half] = wasm_i16x8_narrow_i32x4(gq[0], gq[1]);
            bl16[half] = wasm_i16x8_narrow_i32x4(bq[0], bq[1]);
        }
        const v128_t r = wasm_u8x16_narrow_i16x8(r16[0], r16[1]);
        const v128_t g = wasm_u8x16_narrow_i16x8(g16[0], g16[1]);
        const v128_t bl = wasm_u8x16_narrow_i16x8(bl16[0], bl16[1]);
        const v128_t x = wasm_i8x16_splat((int8_t)-1);
        const v128_t rg_lo = wasm_i8x16_shuffle(r, g, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const v128_t rg_hi = wasm_i8x16_shuffle(r, g, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        const v128_t bx_lo = wasm_i8x16_shuffle(bl, x, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        const v128_t bx_hi = wasm_i8x16_shuffle(bl, x, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        uint8_t *o = out + 4 * j;
        wasm_v128_store(o, wasm_i16x8_shuffle(rg_lo, bx_lo, 0, 8, 1, 9, 2, 10, 3, 11));
        wasm_v128_store(o + 16, wasm_i16x8_shuffle(rg_lo, bx_lo, 4, 12, 5, 13, 6, 14, 7, 15));
        wasm_v128_store(o + 32, wasm_i16x8_shuffle(rg_hi, bx_hi, 0, 8, 1, 9, 2, 10, 3, 11));
        wasm_v128_store(o + 48, wasm_i16x8_shuffle(rg_hi, bx_hi, 4, 12, 5, 13, 6, 14, 7, 15));
    }
    convert_tail(yr, cbr, crr, j, width, out);
}
#else
static void convert_row(const uint8_t *yr, const uint8_t *cbr, const uint8_t *crr, int width,
                        uint8_t *out) {
    convert_tail(yr, cbr, crr, 0, width, out);
}
#endif

/* The fancy filters below in closed form: with s[-1] = s[0] and s[cw] = s[cw - 1] (the
 * reference's edge cases are exactly these), output 2j = (3 s[j] + s[j-1] + b0) >> k and
 * output 2j+1 = (3 s[j] + s[j+1] + b1) >> k; h2v1: s = the chroma row, k 2, biases 1, 2;
 * h2v2: s = 3 near + far, k 4, biases 8, 7. The SIMD128 loops compute that for 8 chroma
 * samples at a time in 16-bit lanes (at most 4 * 1020 + 8: no overflow) from j = 1 while
 * j + 8 < cw, so every neighbour they read is inside the row; the scalar loop does the
 * rest, from wherever they stopped. */
#ifdef __wasm_simd128__
static inline v128_t load8_u16(const uint8_t *p) {
    return wasm_u16x8_extend_low_u8x16(wasm_v128_load64_zero(p));
}

/* even and odd outputs (16-bit lanes, each <= 255) interleaved into 16 bytes at `out` */
static inline void store_pairs(uint8_t *out, v128_t even, v128_t odd) {
    const v128_t eo = wasm_u8x16_narrow_i16x8(even, odd);
    wasm_v128_store(out, wasm_i8x16_shuffle(eo, eo, 0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15));
}

static int up_h2v1_simd(const uint8_t *in, int cw, uint8_t *out) {
    int j = 1;
    for (; j + 8 < cw; j += 8) {
        const v128_t a = load8_u16(in + j), prev = load8_u16(in + j - 1), next = load8_u16(in + j + 1);
        const v128_t a3 = wasm_i16x8_add(wasm_i16x8_add(a, a), a);
        store_pairs(out + 2 * j,
                    wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(a3, prev), wasm_i16x8_splat(1)), 2),
                    wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(a3, next), wasm_i16x8_splat(2)), 2));
    }
    return j;
}

static inline v128_t col_sum(const uint8_t *near, const uint8_t *far) {
    const v128_t n = load8_u16(near);
    return wasm_i16x8_add(wasm_i16x8_add(wasm_i16x8_add(n, n), n), load8_u16(far));
}

static int up_h2v2_simd(const uint8_t *near, const uint8_t *far, int cw, uint8_t *out) {
    int j = 1;
    for (; j + 8 < cw; j += 8) {
        const v128_t s = col_sum(near + j, far + j), prev = col_sum(near + j - 1, far + j - 1),
                     next = col_sum(near + j + 1, far + j + 1);
        const v128_t s3 = wasm_i16x8_add(wasm_i16x8_add(s, s), s);
        store_pairs(out + 2 * j,
                    wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(s3, prev), wasm_i16x8_splat(8)), 4),
                    wasm_u16x8_shr(wasm_i16x8_add(wasm_i16x8_add(s3, next), wasm_i16x8_splat(7)), 4));
    }
    return j;
}
#else
static int up_h2v1_simd(const uint8_t *in, int cw, uint8_t *out) {
    (void)in, (void)cw, (void)out;
    return 1;
}

static int up_h2v2_simd(const uint8_t *near, const uint8_t *far, int cw, uint8_t *out) {
    (void)near, (void)far, (void)cw, (void)out;
    return 1;
}
#endif

/* One output row of a chroma plane, horizontally 2x (h2v1 fancy: weights 3/4, 1/4). */
static void up_h2v1(const uint8_t *in, int cw, uint8_t *out) {
    out[0] = in[0];
    out[1] = (uint8_t)((in[0] * 3 + in[1] + 2) >> 2);
    for (int j = up_h2v1_simd(in, cw, out); j < cw - 1; j++) {
        const int v = in[j] * 3;
        out[2 * j] = (uint8_t)((v + in[j - 1] + 1) >> 2);
        out[2 * j + 1] = (uint8_t)((v + in[j + 1] + 2) >> 2);
    }
    const int j = cw - 1;
    out[2 * j] = (uint8_t)((in[j] * 3 + in[j - 1] + 1) >> 2);
    out[2 * j + 1] = in[j];
}

/* One output row, 2x both ways (h2v2 fancy: 9/16, 3/16, 3/16, 1/16): `near` the chroma
 * row the output row lies in, `far` the one above (even output rows) or below (odd). */
static void up_h2v2(const uint8_t *near, const uint8_t *far, int cw, uint8_t *out) {
    const int first = near[0] * 3 + far[0];
    out[0] = (uint8_t)((first * 4 + 8) >> 4);
    out[1] = (uint8_t)((first * 3 + near[1] * 3 + far[1] + 7) >> 4);
    int j = up_h2v2_simd(near, far, cw, out);
    int last_sum = near[j - 1] * 3 + far[j - 1], this_sum = near[j] * 3 + far[j];
    for (; j < cw - 1; j++) {
        const int next_sum = near[j + 1] * 3 + far[j + 1];
        out[2 * j] = (uint8_t)((this_sum * 3 + last_sum + 8) >> 4);
        out[2 * j + 1] = (uint8_t)((this_sum * 3 + next_sum + 7) >> 4);
        last_sum = this_sum;
        this_sum = next_sum;
    }
    out[2 * j] = (uint8_t)((this_sum * 3 + last_sum + 8) >> 4);
    out[2 * j + 1] = (uint8_t)((this_sum * 4 + 7) >> 4);
}

/* One chroma plane's samples for output row r, full width, into `out` (>= 2 * cw). */
static const uint8_t *chroma_row(const uint8_t *plane, int stride, int cw, int ch, int hsub,
                                 int vsub, int r, uint8_t *out) {
    if (vsub == 1) {
        const uint8_t *row = plane + (int64_t)r * stride;
        if (hsub == 1) return row;
        up_h2v1(row, cw, out);
        return out;
    }
    const int c = r >> 1;
    int other = (r & 1) ? c + 1 : c - 1;
    if (other < 0) other = 0;
    if (other > ch - 1) other = ch - 1;
    up_h2v2(plane + (int64_t)c * stride, plane + (int64_t)other * stride, cw, out);
    return out;
}

/* A JPEG's planes and the scratch to make its RGBX lines one at a time. */
typedef struct {
    const uint8_t *y, *cb, *cr;
    int32_t y_stride, cb_stride, cr_stride;
    int width, height, hsub, vsub, cw, ch;
    uint8_t *chroma; /* 2 upsampled chroma rows (4 * cw bytes), when hsub is 2 */
} ycbcr_planes;

/* Checks the layout (0, or -1 for one libjpeg would not upsample with the fancy filter,
 * or not at all) and allocates the chroma rows (-100 when out of memory). */
static int planes_open(ycbcr_planes *p, const uint8_t *y, int32_t y_stride, const uint8_t *cb,
                       int32_t cb_stride, const uint8_t *cr, int32_t cr_stride, int32_t width,
                       int32_t height, int32_t hsub, int32_t vsub) {
    if (width <= 0 || height <= 0 || (hsub != 1 && hsub != 2) || (vsub != 1 && vsub != 2) ||
        (vsub == 2 && hsub != 2)) {
        return -1;
    }
    *p = (ycbcr_planes){y, cb, cr, y_stride, cb_stride, cr_stride, width, height, hsub, vsub,
                        (width + hsub - 1) / hsub, (height + vsub - 1) / vsub, NULL};
    if (hsub == 2 && p->cw <= 2) return -1;
    tables();
    if (hsub == 2) {
        p->chroma = malloc((size_t)4 * p->cw);
        if (p->chroma == NULL) return -100;
    }
    return 0;
}

static void planes_line(const ycbcr_planes *p, int r, uint8_t *out) {
    const uint8_t *cbr = chroma_row(p->cb, p->cb_stride, p->cw, p->ch, p->hsub, p->vsub, r, p->chroma);
    const uint8_t *crr = chroma_row(p->cr, p->cr_stride, p->cw, p->ch, p->hsub, p->vsub, r,
                                    p->chroma ? p->chroma + 2 * p->cw : NULL);
    convert_row(p->y + (int64_t)r * p->y_stride, cbr, crr, p->width, out);
}

/* Y, Cb, Cr planes (`width` x `height` luma; chroma subsampled by hsub x vsub, each 1
 * or 2, with vsub 2 only where hsub is 2: 4:4:4, 4:2:2, 4:2:0) to RGBX in `rgbx`
 * (width * height * 4 bytes, X = 255: the PDQ kernels' 4-channel layout). Returns 0, or -1 for a layout libjpeg would not upsample
 * with the fancy filter (or not at all), -100 when out of memory. */
EXPORT("th_ycbcr_to_rgbx")
int th_ycbcr_to_rgbx(const uint8_t *y, int32_t y_stride, const uint8_t *cb, int32_t cb_stride,
                    const uint8_t *cr, int32_t cr_stride, int32_t width, int32_t height,
                    int32_t hsub, int32_t vsub, uint8_t *rgbx) {
    ycbcr_planes p;
    const int rc = planes_open(&p, y, y_stride, cb, cb_stride, cr, cr_stride, width, height, hsub, vsub);
    if (rc != 0) return rc;
    for (int r = 0; r < height; r++) planes_line(&p, r, rgbx + (int64_t)r * width * 4);
    free(p.chroma);
    return 0;
}

/* th_pdq of th_ycbcr_to_rgbx's image, without the image: the PDQ kernel asks for its lines
 * in order (pdq_wasm_line_source) and each is converted into one line of scratch as it
 * is asked for, so the 4 bytes a pixel of RGBX are never all in memory at once (48 MB
 * written and read back at 12 MP). The same conversion, the same kernel: the same hash. */
const uint8_t *(*pdq_wasm_line_source)(int64_t r);
static ycbcr_planes line_planes;
static uint8_t *line_rgbx;

static const uint8_t *next_line(int64_t r) {
    planes_line(&line_planes, (int)r, line_rgbx);
    return line_rgbx;
}

int th_pdq(const uint8_t *data, int32_t rows, int32_t cols, int32_t channels, int32_t dihedral,
           uint8_t *hashes, int32_t *quality);

/* Returned by th_pdq_ycbcr where it does not apply: a layout th_ycbcr_to_rgbx refuses,
 * or a 64x64 image, whose single hash reads the pixels without the filter (the caller
 * then hashes th_ycbcr_to_rgbx's image with th_pdq). */
#define TH_WEB_NOT_HERE (-101)

/* One hash (dihedral 0) or the 8 (dihedral != 0) and the quality, as th_pdq; returns
 * th_pdq's status, -100 when out of memory, or TH_WEB_NOT_HERE. */
EXPORT("th_pdq_ycbcr")
int th_pdq_ycbcr(const uint8_t *y, int32_t y_stride, const uint8_t *cb, int32_t cb_stride,
                 const uint8_t *cr, int32_t cr_stride, int32_t width, int32_t height,
                 int32_t hsub, int32_t vsub, int32_t dihedral, uint8_t *hashes, int32_t *quality) {
    if (width == 64 && height == 64 && !dihedral) return TH_WEB_NOT_HERE;
    int rc = planes_open(&line_planes, y, y_stride, cb, cb_stride, cr, cr_stride, width, height,
                         hsub, vsub);
    if (rc != 0) return rc == -1 ? TH_WEB_NOT_HERE : rc;
    line_rgbx = malloc((size_t)width * 4);
    if (line_rgbx == NULL) {
        free(line_planes.chroma);
        return -100;
    }
    pdq_wasm_line_source = next_line;
    rc = th_pdq(line_rgbx, height, width, 4, dihedral, hashes, quality);
    pdq_wasm_line_source = NULL;
    free(line_rgbx);
    free(line_planes.chroma);
    return rc;
}
