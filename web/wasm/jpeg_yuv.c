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
 * or 2, with vsub 2 only where hsub is 2: 4:4:4, 4:2:2, 4:2:0) to packed RGB in `rgb`
 * (width * height * 3 bytes). Returns 0, or -1 for a layout libjpeg would not upsample
 * with the fancy filter (or not at all), -100 when out of memory. */
EXPORT("th_ycbcr_to_rgb")
int th_ycbcr_to_rgb(const uint8_t *y, int32_t y_stride, const uint8_t *cb, int32_t cb_stride,
                    const uint8_t *cr, int32_t cr_stride, int32_t width, int32_t height,
                    int32_t hsub, int32_t vsub, uint8_t *rgb) {
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
        uint8_t *out = rgb + (int64_t)r * width * 3;
        for (int j = 0; j < width; j++) {
            const int yy = yr[j], b = cbr[j], c = crr[j];
            out[3 * j] = clamp255(yy + cr_r[c]);
            out[3 * j + 1] = clamp255(yy + (int)((cb_g[b] + cr_g[c]) >> SCALEBITS));
            out[3 * j + 2] = clamp255(yy + cb_b[b]);
        }
    }
    free(bufs);
    return 0;
}
