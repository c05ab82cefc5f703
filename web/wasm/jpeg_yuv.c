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

/* One output row of a chroma plane, horizontally 2x (h2v1 fancy: weights 3/4, 1/4). */
static void up_h2v1(const uint8_t *in, int cw, uint8_t *out) {
    out[0] = in[0];
    out[1] = (uint8_t)((in[0] * 3 + in[1] + 2) >> 2);
    for (int j = 1; j < cw - 1; j++) {
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
    int this_sum = near[0] * 3 + far[0];
    int next_sum = near[1] * 3 + far[1];
    out[0] = (uint8_t)((this_sum * 4 + 8) >> 4);
    out[1] = (uint8_t)((this_sum * 3 + next_sum + 7) >> 4);
    int last_sum = this_sum;
    this_sum = next_sum;
    for (int j = 1; j < cw - 1; j++) {
        next_sum = near[j + 1] * 3 + far[j + 1];
        out[2 * j] = (uint8_t)((this_sum * 3 + last_sum + 8) >> 4);
        out[2 * j + 1] = (uint8_t)((this_sum * 3 + next_sum + 7) >> 4);
        last_sum = this_sum;
        this_sum = next_sum;
    }
    const int j = cw - 1;
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

/* Y, Cb, Cr planes (`width` x `height` luma; chroma subsampled by hsub x vsub, each 1
 * or 2, with vsub 2 only where hsub is 2: 4:4:4, 4:2:2, 4:2:0) to RGBX in `rgbx`
 * (width * height * 4 bytes, X = 255: the PDQ kernels' 4-channel layout). Returns 0, or -1 for a layout libjpeg would not upsample
 * with the fancy filter (or not at all), -100 when out of memory. */
EXPORT("th_ycbcr_to_rgbx")
int th_ycbcr_to_rgbx(const uint8_t *y, int32_t y_stride, const uint8_t *cb, int32_t cb_stride,
                    const uint8_t *cr, int32_t cr_stride, int32_t width, int32_t height,
                    int32_t hsub, int32_t vsub, uint8_t *rgbx) {
    if (width <= 0 || height <= 0 || (hsub != 1 && hsub != 2) || (vsub != 1 && vsub != 2) ||
        (vsub == 2 && hsub != 2)) {
        return -1;
    }
    const int cw = (width + hsub - 1) / hsub, ch = (height + vsub - 1) / vsub;
    if (hsub == 2 && cw <= 2) return -1;
    tables();
    uint8_t *bufs = NULL;
    if (hsub == 2) {
        bufs = malloc((size_t)4 * cw);
        if (bufs == NULL) return -100;
    }
    for (int r = 0; r < height; r++) {
        const uint8_t *yr = y + (int64_t)r * y_stride;
        const uint8_t *cbr = chroma_row(cb, cb_stride, cw, ch, hsub, vsub, r, bufs);
        const uint8_t *crr = chroma_row(cr, cr_stride, cw, ch, hsub, vsub, r,
                                        bufs ? bufs + 2 * cw : NULL);
        convert_row(yr, cbr, crr, width, rgbx + (int64_t)r * width * 4);
    }
    free(bufs);
    return 0;
}
