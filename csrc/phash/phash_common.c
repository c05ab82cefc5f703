/* The ISA-independent part of pHash: Pillow's LANCZOS coefficients, the plan
 * and its workspace, dispatch, and the fast path's DCT, median, bits and
 * margin. Everything here is O(width + height) or O(n^3) with n <= 256. */
#include <math.h>
#include <string.h>

#include "phash.h"
#include "../common/select_kth.h"

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

/* Doubles of scratch: the coefficient doubles of one output (phash_plan_init),
 * later phash_bits' work (phash_finish_bits). */
static size_t scratch_doubles(int hs, int ksize_h, int ksize_v) {
    const size_t k = (size_t)(ksize_h > ksize_v ? ksize_h : ksize_v);
    const size_t bits = phash_bits_work_doubles(hs);
    return k > bits ? k : bits;
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
    off += round_up(scratch_doubles(hs, kh, kv) * sizeof(double));
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

/* ------------------------------------------------------------- DCT bits (fast path)
 *
 * Why the bits are scipy's when `decided` (README.md, "The fast path", says
 * the same at more length). Let c be the exact low block (real arithmetic), a
 * this DCT's block and b scipy's (pocketfft), both from the same uint8 image
 * x, with |a_i - c_i| <= Ea and |b_i - c_i| <= Eb, so |a_i - b_i| <= E = Ea + Eb
 * for every i.
 *  1. Order statistics move by at most the perturbation: if |a_i - b_i| <= E
 *     for all i, the k-th smallest a and the k-th smallest b differ by <= E
 *     (the k indices of the smallest a's all have b <= a_(k) + E, so
 *     b_(k) <= a_(k) + E, and symmetrically). numpy's median is one order
 *     statistic or the mean of two, so |med_a - med_b| <= E, plus the
 *     rounding of (lo + hi) / 2 on each side (an ulp of the median).
 *  2. Then b_i - med_b = (a_i - med_a) + (b_i - a_i) - (med_b - med_a), and
 *     |a_i - med_a| > 2E + 2 ulp puts b_i on a_i's side: same bit.
 *  3. For an odd count the median is an element, at distance 0 from itself.
 *     If every other element is on a definite side (step 2), k are below and
 *     k above in both computations, so scipy's median is the same element's
 *     b and its bit is False in both: it is left out of the margin.
 *  4. The errors: |C| <= 4 sum|x| (each pass is sum 2 cos(.) x, |2 cos| <= 2).
 *     Here each coefficient is two dot products of n <= 256 terms with
 *     cosines from a table of n + 1 libm values (a few ulps each), so
 *     Ea <~ (2 n + 10) eps * 4 sum|x|. pocketfft's DCT-II is a real FFT of
 *     length n with twiddles; Cooley-Tukey, its generic odd-radix passes (a
 *     direct DFT of the prime factor p <= n) and Bluestein (FFTs of length
 *     >= 2n - 1) all have per-coefficient errors below ~(p + log2 n) eps
 *     times the same sum, for two passes, so Eb <~ 600 eps * 4 sum|x| for
 *     n <= 256. TOL = 2^-30 * 4 sum|x| is about 8.4e6 eps * 4 sum|x|: over
 *     a thousand times 2E + 2 ulp. (tests/test_phash.py measures |a - b|
 *     against TOL on every hash size; the margin's own rounding, a relative
 *     eps, is inside the safety factor too.)
 * A block with an exact tie (flat images, ramps, 1 x N, N x 1, 1 x 1, many
 * symmetric ones) has margin ~ rounding noise <= TOL: the caller falls back to
 * scipy, whose own rounding decides those bits in imagehash. */

#define PHASH_TOL_EXPONENT (-30)

/* Where the block starts in phash_bits' work (hs in range). */
static size_t phash_bits_block_offset(int hs) {
    const size_t n = (size_t)PHASH_HIGHFREQ_FACTOR * hs;
    /* the folded image (n x n) later holds the transposed weights (n/2 x hs),
     * two folded rows (n) and a row of outputs (hs + 1): less */
    return 4 * n + (size_t)hs * (n / 2) + (size_t)hs * n + n * n;
}

size_t phash_bits_work_doubles(int hs) {
    if (hs < PHASH_MIN_HASH_SIZE || hs > PHASH_MAX_HASH_SIZE) return 0;
    /* cosine table (4n), weights (hs x n/2), column pass (hs x n), folded image
     * (n x n), block, sorted copy */
    return phash_bits_block_offset(hs) + (size_t)2 * hs * hs;
}

/* 2 cos(pi m / (2n)) for m = 0 .. 4n-1 from n + 1 libm calls, the other
 * quadrants by exact symmetry (cos(pi/2) is 0, not 6e-17), so coefficients
 * that are zero by symmetry come out as exact zeros more often (and fall back
 * cleanly). The factor 2 is scipy's: each unnormalised DCT-II pass is
 * 2 sum x cos(.); doubling is exact. */
static void cos_table(int n, double *t) {
    for (int m = 0; m <= n; m++) {
        /* sin of the complement near pi/2 keeps the small values accurate */
        t[m] = 2.0 * (2 * m <= n ? cos(PHASH_PI * m / (2.0 * n))
                                 : sin(PHASH_PI * (n - m) / (2.0 * n)));
    }
    for (int m = n + 1; m <= 2 * n; m++) t[m] = -t[2 * n - m];
    for (int m = 2 * n + 1; m < 4 * n; m++) t[m] = t[4 * n - m];
}

/* acc[j] = sum_r coef[r] rows[r stride + j] for j < len, r = 0 .. nrows-1 in
 * order (each output one sequential sum). Eight or four outputs are kept in
 * registers over the whole sum: a loop that stores acc[] every step is bound
 * by its loads and stores, four times slower. */
static void sum_rows(double *acc, const double *rows, size_t stride, const double *coef,
                     int nrows, int len) {
    int j = 0;
    for (; j + 8 <= len; j += 8) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
        for (int r = 0; r < nrows; r++) {
            const double *x = rows + (size_t)r * stride + j, k = coef[r];
            s0 += x[0] * k, s1 += x[1] * k, s2 += x[2] * k, s3 += x[3] * k;
            s4 += x[4] * k, s5 += x[5] * k, s6 += x[6] * k, s7 += x[7] * k;
        }
        acc[j] = s0, acc[j + 1] = s1, acc[j + 2] = s2, acc[j + 3] = s3;
        acc[j + 4] = s4, acc[j + 5] = s5, acc[j + 6] = s6, acc[j + 7] = s7;
    }
    for (; j + 4 <= len; j += 4) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (int r = 0; r < nrows; r++) {
            const double *x = rows + (size_t)r * stride + j, k = coef[r];
            s0 += x[0] * k, s1 += x[1] * k, s2 += x[2] * k, s3 += x[3] * k;
        }
        acc[j] = s0, acc[j + 1] = s1, acc[j + 2] = s2, acc[j + 3] = s3;
    }
    for (; j < len; j++) {
        double s = 0;
        for (int r = 0; r < nrows; r++) s += rows[(size_t)r * stride + j] * coef[r];
        acc[j] = s;
    }
}

/* The low hs x hs block of scipy.fftpack.dct(dct(x, axis=0), axis=1):
 *   y[u][v] = sum_r sum_c x[r][c] 2 cos(pi u (2r+1) / 2n) 2 cos(pi v (2c+1) / 2n),
 * columns first. Symmetric pairs are folded (x[r] + x[n-1-r] for even
 * frequencies, x[r] - x[n-1-r] for odd ones, exact in double), which halves
 * the work and keeps mirror-symmetric terms exactly zero. Each coefficient is
 * two sequential dot products of n/2 terms (README.md bounds their error). */
static void dct_low(const uint8_t *grey, int n, int hs, double *scratch, double *out) {
    const int half = n / 2, even = (hs + 1) / 2, odd = hs / 2;
    double *t = scratch;                     /* 4n: the table */
    double *w = t + 4 * n;                   /* hs x n/2: w[u][r] = 2 cos(pi u (2r+1) / 2n) */
    double *cols = w + (size_t)hs * half;    /* hs x n: the column pass */
    double *sums = cols + (size_t)hs * n;    /* n/2 x n: x[r] + x[n-1-r] */
    double *diffs = sums + (size_t)half * n; /* n/2 x n: x[r] - x[n-1-r] */
    /* the row pass reuses `sums` once the column pass is done: */
    double *wt_even = sums;                  /* n/2 x even: w[2k][c] */
    double *wt_odd = wt_even + (size_t)half * even; /* n/2 x odd: w[2k+1][c] */
    double *fold_sum = wt_odd + (size_t)half * odd, *fold_diff = fold_sum + half;
    double *row_even = fold_diff + half, *row_odd = row_even + even;
    cos_table(n, t);
    for (int u = 0; u < hs; u++) {
        int m = u; /* u (2r + 1) mod 4n, stepping by 2u < 4n */
        for (int r = 0; r < half; r++) {
            w[(size_t)u * half + r] = t[m];
            m += 2 * u;
            if (m >= 4 * n) m -= 4 * n;
        }
    }
    for (int r = 0; r < half; r++) {
        const uint8_t *top = grey + (size_t)r * n, *bottom = grey + (size_t)(n - 1 - r) * n;
        double *sr = sums + (size_t)r * n, *dr = diffs + (size_t)r * n;
        for (int c = 0; c < n; c++) {
            sr[c] = (double)(top[c] + bottom[c]);
            dr[c] = (double)(top[c] - bottom[c]);
        }
    }
    for (int u = 0; u < hs; u++) {
        sum_rows(cols + (size_t)u * n, (u & 1) ? diffs : sums, (size_t)n, w + (size_t)u * half,
                 half, n);
    }
    for (int c = 0; c < half; c++) {
        for (int k = 0; k < even; k++) wt_even[(size_t)c * even + k] = w[(size_t)(2 * k) * half + c];
        for (int k = 0; k < odd; k++) wt_odd[(size_t)c * odd + k] = w[(size_t)(2 * k + 1) * half + c];
    }
    for (int u = 0; u < hs; u++) {
        const double *a = cols + (size_t)u * n;
        for (int c = 0; c < half; c++) {
            fold_sum[c] = a[c] + a[n - 1 - c];
            fold_diff[c] = a[c] - a[n - 1 - c];
        }
        sum_rows(row_even, wt_even, (size_t)even, fold_sum, half, even);
        sum_rows(row_odd, wt_odd, (size_t)odd, fold_diff, half, odd);
        for (int k = 0; k < even; k++) out[u * hs + 2 * k] = row_even[k];
        for (int k = 0; k < odd; k++) out[u * hs + 2 * k + 1] = row_odd[k];
    }
}

/* The k-th smallest of v[0..len) (0-based), partially ordering v in place so
 * that v[0..k) <= v[k] <= v[k+1..len). */
TH_DEFINE_SELECT_KTH(select_kth_double, double)

/* numpy.median: the middle value, or for an even count the mean of the two
 * middle values as numpy.mean computes it: (a + b) / 2. */
static double numpy_median(const double *values, int len, double *work) {
    memcpy(work, values, (size_t)len * sizeof(double));
    const int k = len / 2;
    const double upper = select_kth_double(work, len, k);
    if (len & 1) return upper;
    double lower = work[0];
    for (int i = 1; i < k; i++) {
        if (work[i] > lower) lower = work[i];
    }
    return (lower + upper) / 2.0;
}

int phash_bits(const uint8_t *grey, int hs, double *work, uint8_t *out, double *low,
               phash_bits_info *info) {
    if (grey == NULL || work == NULL || out == NULL || info == NULL ||
        phash_bits_work_doubles(hs) == 0) {
        return TH_EBADARG;
    }
    const int n = PHASH_HIGHFREQ_FACTOR * hs, nbits = hs * hs;
    double *block = work + phash_bits_block_offset(hs);
    double *sorted = block + nbits;
    dct_low(grey, n, hs, work, block);
    const double median = numpy_median(block, nbits, sorted);

    uint64_t sum = 0; /* <= 256^2 * 255: exact, and exact in double */
    for (size_t i = 0; i < (size_t)n * n; i++) sum += grey[i];
    const double tol = ldexp(4.0 * (double)sum, PHASH_TOL_EXPONENT);

    const int nbytes = phash_hash_bytes(hs), pad = nbytes * 8 - nbits;
    int skip_median = nbits & 1; /* an odd count's median element: once */
    double margin = HUGE_VAL;
    memset(out, 0, (size_t)nbytes);
    for (int i = 0; i < nbits; i++) {
        const double d = block[i] - median;
        if (d > 0) {
            const int b = pad + i;
            out[b >> 3] |= (uint8_t)(0x80u >> (b & 7));
        }
        if (skip_median && d == 0) {
            skip_median = 0;
            continue;
        }
        const double dist = fabs(d);
        if (dist < margin) margin = dist;
    }
    info->median = median;
    info->margin = margin;
    info->tol = tol;
    info->decided = margin > tol;
    if (low != NULL) memcpy(low, block, (size_t)nbits * sizeof(double));
    return TH_OK;
}

int phash_finish_bits(const phash_plan *p, th_isa isa, uint8_t *grey, uint8_t *out, double *low,
                      phash_bits_info *info) {
    if (p == NULL || grey == NULL || out == NULL || info == NULL) return TH_EBADARG;
    const int status = phash_finish(p, isa, grey);
    if (status != TH_OK) return status;
    return phash_bits(grey, p->hash_size, p->scratch, out, low, info);
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
