/* The ISA-independent part of pHash's resize: Pillow's LANCZOS coefficients,
 * the plan and its workspace, dispatch. Everything here is O(width + height)
 * or O(n^2) with n <= 256. */
#include <math.h>
#include <string.h>

#include "phash.h"

/* M_PI as Pillow sees it (math.h's M_PI is not C99). */
#define PHASH_PI 3.14159265358979323846
/* Pillow's fixed point for 8-bit resampling: 8 bits of value, 2 for overflow. */
#define PRECISION_BITS (32 - 8 - 2)
#define LANCZOS_SUPPORT 3.0
#define ALIGN 64

/* Pillow's sinc_filter and lanczos_filter (Resample.c), operation for operation:
 * the products and quotients below must round exactly as Pillow's do. */
static double sinc_filter(double x) {
    if (x == 0.0) return 1.0;
    x = x * PHASH_PI;
    return sin(x) / x;
}

static double lanczos_filter(double x) {
    if (-3.0 <= x && x < 3.0) return sinc_filter(x) * sinc_filter(x / 3);
    return 0.0;
}

/* Pillow passes the box (0, 0, width, height) as C floats, so the source
 * extent is rounded to float before the division (exact below 2^24). */
static double axis_scale(int64_t in_size, int out_size) {
    const float in0 = 0.0f, in1 = (float)in_size;
    return (double)(in1 - in0) / out_size;
}

int phash_coeffs_ksize(int64_t in_size, int out_size) {
    if (in_size < 1 || in_size > PHASH_MAX_DIM || out_size < 1) return 0;
    double filterscale = axis_scale(in_size, out_size);
    if (filterscale < 1.0) filterscale = 1.0;
    const double support = LANCZOS_SUPPORT * filterscale;
    const double ksize = ceil(support) * 2 + 1;
    if (ksize > (double)(PHASH_MAX_DIM / 4)) return 0;
    return (int)ksize;
}

size_t phash_table_len(int64_t in_size, int out_size) {
    const int ksize = phash_coeffs_ksize(in_size, out_size);
    return ksize ? (size_t)out_size * ((size_t)ksize + 2) : 0;
}

/* Pillow's precompute_coeffs followed by normalize_coeffs_8bpc. */
int phash_table_fill(int64_t in_size, int out_size, int32_t *table, double *k) {
    const int ksize = phash_coeffs_ksize(in_size, out_size);
    if (ksize == 0 || table == NULL || k == NULL) return TH_EBADARG;
    int32_t *bounds = table, *kk = table + 2 * (size_t)out_size;
    const float in0 = 0.0f;
    const double scale = axis_scale(in_size, out_size);
    double filterscale = scale;
    if (filterscale < 1.0) filterscale = 1.0;
    const double support = LANCZOS_SUPPORT * filterscale;
    const double inv_filterscale = 1.0 / filterscale;
    const int in_int = (int)in_size;
    for (int xx = 0; xx < out_size; xx++) {
        const double center = in0 + (xx + 0.5) * scale;
        double ww = 0.0;
        int xmin = (int)(center - support + 0.5);
        if (xmin < 0) xmin = 0;
        int xmax = (int)(center + support + 0.5);
        if (xmax > in_int) xmax = in_int;
        xmax -= xmin;
        int x;
        for (x = 0; x < xmax; x++) {
            const double w = lanczos_filter((x + xmin - center + 0.5) * inv_filterscale);
            k[x] = w;
            ww += w;
        }
        if (ww != 0.0) {
            for (x = 0; x < xmax; x++) k[x] /= ww;
        }
        for (; x < ksize; x++) k[x] = 0;
        int32_t *out = kk + (int64_t)xx * ksize;
        for (x = 0; x < ksize; x++) {
            if (k[x] < 0) {
                out[x] = (int)(-0.5 + k[x] * (1 << PRECISION_BITS));
            } else {
                out[x] = (int)(0.5 + k[x] * (1 << PRECISION_BITS));
            }
        }
        bounds[2 * xx + 0] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    return TH_OK;
}

/* ------------------------------------------------------------- workspace */

/* k = hi * 2^12 + lo exactly (arithmetic shift, lo = k mod 2^12): with
 * |k| <= 2^23 (table_ok) hi fits int16 and so does lo < 2^12, and a 16-bit
 * multiply-add's pair of 255 * lo fits int32. A long window starts at an
 * aligned luma index (xmin rounded down to kalign), its weights shifted right
 * by as many zeros, so the SIMD loads never straddle a cache line. Only the
 * window's own weights are copied: the SIMD passes read whole vectors past
 * its end, and a table passed in may hold anything there (Pillow's loop, and
 * the scalar pass, never read it). */
static void split_weights(phash_plan *p) {
    const int n = p->n, ks = p->h.ksize, stride = p->kstride;
    memset(p->kk_split, 0, (size_t)2 * n * stride * sizeof(int16_t));
    for (int o = 0; o < n; o++) {
        const int shift = p->h.bounds[2 * o] % p->kalign, count = p->h.bounds[2 * o + 1];
        int16_t *hi = p->kk_split + (size_t)2 * o * stride + shift, *lo = hi + stride;
        for (int i = 0; i < count; i++) {
            const int32_t k = p->h.kk[(size_t)o * ks + i];
            hi[i] = (int16_t)(k >> PHASH_SPLIT_SHIFT);
            lo[i] = (int16_t)(k & ((1 << PHASH_SPLIT_SHIFT) - 1));
        }
    }
}

typedef struct {
    size_t bounds_h, kk_h, split, bounds_v, kk_v, temp, vacc, luma, scratch, total;
} layout;

static size_t round_up(size_t x) { return (x + ALIGN - 1) / ALIGN * ALIGN; }

/* int16 entries of each of the two luma lines, a multiple of 32 (64 bytes) */
static size_t luma_stride(int64_t width) {
    return ((size_t)width + PHASH_LUMA_PAD + 31) / 32 * 32;
}

/* room for ksize weights after up to PHASH_KSTRIDE_ALIGN - 1 leading zeros */
static int kstride_of(int ksize) {
    return (ksize + 2 * PHASH_KSTRIDE_ALIGN - 2) / PHASH_KSTRIDE_ALIGN * PHASH_KSTRIDE_ALIGN;
}

/* Doubles of scratch: the coefficient doubles of one output. */
static size_t scratch_doubles(int ksize_h, int ksize_v) {
    return (size_t)(ksize_h > ksize_v ? ksize_h : ksize_v);
}

/* The vertical pass can only come first if there is one. */
static int effective_vertical_first(int64_t height, int hs, int vertical_first) {
    return vertical_first != 0 && height != (int64_t)PHASH_HIGHFREQ_FACTOR * hs;
}

static int compute_layout(int64_t width, int64_t height, int hs, int vertical_first,
                          layout *lay) {
    if (width < 1 || height < 1 || width > PHASH_MAX_DIM || height > PHASH_MAX_DIM ||
        hs < PHASH_MIN_HASH_SIZE || hs > PHASH_MAX_HASH_SIZE) {
        return 0;
    }
    const int n = PHASH_HIGHFREQ_FACTOR * hs;
    const int kh = phash_coeffs_ksize(width, n), kv = phash_coeffs_ksize(height, n);
    if (kh == 0 || kv == 0) return 0;
    /* every term is below 2^31 * 2^8 * 8 bytes, so size_t (64-bit) cannot overflow */
    if (sizeof(size_t) < 8) return 0;
    size_t off = 0;
    lay->bounds_h = off;
    lay->kk_h = off + (size_t)2 * n * sizeof(int32_t);
    off += round_up(phash_table_len(width, n) * sizeof(int32_t));
    lay->split = off;
    off += round_up((size_t)2 * n * kstride_of(kh) * sizeof(int16_t));
    lay->bounds_v = off;
    lay->kk_v = off + (size_t)2 * n * sizeof(int32_t);
    off += round_up(phash_table_len(height, n) * sizeof(int32_t));
    lay->temp = off;
    off += vertical_first ? 0 : round_up((size_t)height * n);
    lay->vacc = off;
    off += vertical_first ? round_up((size_t)n * width * sizeof(int32_t)) : 0;
    lay->luma = off;
    off += 2 * round_up(luma_stride(width) * sizeof(int16_t));
    lay->scratch = off;
    off += round_up(scratch_doubles(kh, kv) * sizeof(double));
    lay->total = off + ALIGN; /* slack to align the caller's block */
    return 1;
}

size_t phash_workspace_bytes(int64_t width, int64_t height, int hash_size, int vertical_first) {
    layout lay;
    vertical_first = effective_vertical_first(height, hash_size, vertical_first);
    return compute_layout(width, height, hash_size, vertical_first, &lay) ? lay.total : 0;
}

/* What the passes rely on, checked on every table (Pillow's always pass):
 * windows inside the image and in order (lines are indexed relative to the
 * first window), and sum |k| <= 2^23 per output, so that 2^21 + 255 sum |k|
 * stays below 2^31 and no int32 sum can overflow (Pillow's are ~1.2 * 2^22). */
static int table_ok(const phash_coeffs *c) {
    int64_t prev_min = 0, prev_end = 0;
    for (int o = 0; o < c->out_size; o++) {
        const int64_t xmin = c->bounds[2 * o], count = c->bounds[2 * o + 1];
        if (xmin < prev_min || count < 0 || count > c->ksize || xmin + count > c->in_size ||
            xmin + count < prev_end) {
            return 0;
        }
        int64_t total = 0;
        for (int i = 0; i < c->ksize; i++) {
            const int64_t k = c->kk[(size_t)o * c->ksize + i];
            total += k < 0 ? -k : k;
        }
        if (total > PHASH_MAX_WEIGHT_SUM) return 0;
        prev_min = xmin;
        prev_end = xmin + count;
    }
    return 1;
}

static int axis_init(phash_coeffs *c, const int32_t *table, double *scratch) {
    /* bounds and kk are adjacent in the workspace, as in a table */
    int32_t *dst = c->bounds;
    if (table == NULL) {
        const int status = phash_table_fill(c->in_size, c->out_size, dst, scratch);
        if (status != TH_OK) return status;
    } else {
        memcpy(dst, table, phash_table_len(c->in_size, c->out_size) * sizeof(int32_t));
    }
    return table_ok(c) ? TH_OK : TH_EBADARG;
}

int phash_plan_init(phash_plan *p, int64_t width, int64_t height, int hs, int vertical_first,
                    const int32_t *h_table, const int32_t *v_table, void *workspace) {
    layout lay;
    vertical_first = effective_vertical_first(height, hs, vertical_first);
    if (p == NULL || workspace == NULL ||
        !compute_layout(width, height, hs, vertical_first, &lay)) {
        return TH_EBADARG;
    }
    /* SIMD loads of luma and weights are aligned: align the block */
    uint8_t *w = (uint8_t *)workspace + (ALIGN - (uintptr_t)workspace % ALIGN) % ALIGN;
    const int n = PHASH_HIGHFREQ_FACTOR * hs;
    p->hash_size = hs;
    p->n = n;
    p->width = width;
    p->height = height;
    /* Image.resize returns a copy when the size is unchanged; the C resize
     * skips each axis whose size is unchanged (box is the whole image). */
    p->need_h = width != n;
    p->need_v = height != n;
    p->vertical_first = vertical_first;
    p->h.in_size = width;
    p->h.out_size = n;
    p->h.ksize = phash_coeffs_ksize(width, n);
    p->h.bounds = (int32_t *)(w + lay.bounds_h);
    p->h.kk = (int32_t *)(w + lay.kk_h);
    p->kk_split = (int16_t *)(w + lay.split);
    p->kstride = kstride_of(p->h.ksize);
    p->kalign = p->h.ksize >= PHASH_ALIGN_MIN_KSIZE ? PHASH_KSTRIDE_ALIGN : 1;
    p->v.in_size = height;
    p->v.out_size = n;
    p->v.ksize = phash_coeffs_ksize(height, n);
    p->v.bounds = (int32_t *)(w + lay.bounds_v);
    p->v.kk = (int32_t *)(w + lay.kk_v);
    p->temp = vertical_first ? NULL : w + lay.temp;
    p->vacc = vertical_first ? (int32_t *)(w + lay.vacc) : NULL;
    p->luma = (int16_t *)(w + lay.luma);
    p->luma2 = p->luma + luma_stride(width);
    memset(p->luma + width, 0, PHASH_LUMA_PAD * sizeof(int16_t));
    memset(p->luma2 + width, 0, PHASH_LUMA_PAD * sizeof(int16_t));
    p->scratch = (double *)(w + lay.scratch);
    /* The vertical coefficients decide which source lines are read
     * (Pillow's ybox_first .. ybox_last) when the height changes. */
    int status = axis_init(&p->v, v_table, p->scratch);
    if (status != TH_OK) return status;
    if (p->need_h) {
        status = axis_init(&p->h, h_table, p->scratch);
        if (status != TH_OK) return status;
        split_weights(p);
    }
    if (p->need_v) {
        p->row_first = p->v.bounds[0];
        p->row_last = (int64_t)p->v.bounds[2 * n - 2] + p->v.bounds[2 * n - 1];
    } else {
        /* The first pass's n lines are the image: all of them, whatever a
         * table passed in says (Pillow's reads lines 0 .. n-1, and one that
         * read fewer would leave lines of the result unwritten). */
        p->row_first = 0;
        p->row_last = height;
    }
    if (!p->vertical_first) {
        /* lines never fed hash as black rather than as stale memory */
        memset(p->temp, 0, (size_t)(p->row_last - p->row_first) * n);
    } else {
        /* Pillow starts every sum at half a unit of the last place */
        const size_t cells = (size_t)n * (size_t)width;
        for (size_t i = 0; i < cells; i++) p->vacc[i] = 1 << (PRECISION_BITS - 1);
    }
    return TH_OK;
}

/* ------------------------------------------------------------- dispatch */

static const phash_kernels *kernels_for(th_isa isa) {
    if (!th_isa_supported(isa)) return NULL;
    switch (isa) {
    case TH_ISA_SCALAR: return &phash_kernels_scalar;
#if defined(__x86_64__) || defined(_M_X64)
    case TH_ISA_AVX2: return &phash_kernels_avx2;
    case TH_ISA_AVX512: return &phash_kernels_avx512;
#endif
#if defined(__aarch64__)
    case TH_ISA_NEON: return &phash_kernels_scalar; /* the scalar body vectorises for NEON */
#endif
    default: return NULL;
    }
}

int phash_rows(const phash_plan *p, const th_pixels *px, int64_t first_row, th_isa isa) {
    if (p == NULL || px == NULL || px->data == NULL || px->rows < 0 || px->cols != p->width ||
        (px->channels != 1 && px->channels != 3 && px->channels != 4) || first_row < 0 ||
        first_row > p->height - px->rows) {
        return TH_EBADARG;
    }
    /* Lines must fit in the address space, so that no offset the passes
     * compute overflows. They may overlap (a stride of 0 repeats one line, as
     * numpy's broadcast_to gives): the passes only read them. Tested without
     * negating INT64_MIN. */
    const int64_t line = px->cols * px->channels; /* <= 4 * PHASH_MAX_DIM */
    if (px->rows > 1) {
        if (px->row_stride == INT64_MIN) return TH_EBADARG;
        const int64_t stride = px->row_stride < 0 ? -px->row_stride : px->row_stride;
        if (stride > (PTRDIFF_MAX - line) / (px->rows - 1)) return TH_EBADARG;
    }
    const phash_kernels *k = kernels_for(isa);
    if (k == NULL) return TH_EISA;
    if (px->rows > 0) k->rows(p, px, first_row);
    return TH_OK;
}

/* ------------------------------------------------------------- second pass */

int phash_finish(const phash_plan *p, th_isa isa, uint8_t *grey) {
    if (p == NULL || grey == NULL) return TH_EBADARG;
    const phash_kernels *k = kernels_for(isa);
    if (k == NULL) return TH_EISA;
    k->second_pass(p, grey);
    return TH_OK;
}

int phash_resize(const th_pixels *px, int hs, int vertical_first, th_isa isa, void *workspace,
                 uint8_t *grey) {
    if (px == NULL) return TH_EBADARG;
    phash_plan plan;
    int status =
        phash_plan_init(&plan, px->cols, px->rows, hs, vertical_first, NULL, NULL, workspace);
    if (status != TH_OK) return status;
    status = phash_rows(&plan, px, 0, isa);
    if (status != TH_OK) return status;
    return phash_finish(&plan, isa, grey);
}
