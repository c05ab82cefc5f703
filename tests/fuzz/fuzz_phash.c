/* Differential fuzzer for the pHash kernel (csrc/phash), run under ASan+UBSan.
 *
 * Each case is an image (sizes around the SIMD widths, the output size n, the
 * kstride steps and the aligned-window threshold PHASH_ALIGN_MIN_KSIZE, and
 * large downscale ratios; 1, 3 or 4 channels; noise, flat, ramp, spiky,
 * extreme, repeated-line or diagonal pixels), a hash size and a pass order.
 * The reference is the scalar kernel fed the whole image by phash_resize; the
 * resized image it gives must equal a plain two-pass resize written here from
 * the coefficient tables, and every ISA the CPU runs (scalar included) must
 * give its exact bytes when fed the lines through phash_rows in random blocks,
 * in random order, with padded, bottom-up, misaligned or overlapping lines
 * (0 bytes apart when they repeat, a pixel apart when each is the previous one
 * shifted), the tables computed or passed in.
 *
 * The fast path's DCT bits (phash_bits, also reached through
 * phash_finish_bits on every ISA) on the resized image and on n x n images
 * made directly (noise, flat, two levels, mirrored, ramps): the median, bits
 * and margin must be the definition's on the returned block (a sort, a full
 * scan), the block within 2^-12 of the tolerance of a slow long double DCT
 * (the tolerance covers the rounding thousands of times over), and where the
 * margin decides, the slow DCT's own bits must be the same. (scipy's DCT, the
 * fallback, is called from Python; tests/test_phash.py compares the two.)
 *
 * What ASan can see: every pixel block, table and output is allocated at its
 * exact size, and inside the workspace everything except the plan's arrays and
 * their documented padding (PHASH_LUMA_PAD zeros after each luma line, the
 * split weights up to kstride) is poisoned once the plan is laid out. The
 * workspace is filled with different garbage on every run, so a kernel that
 * read memory it never wrote would disagree with the reference.
 *
 * Hostile arguments (null pointers, zero or negative sizes, sizes past
 * PHASH_MAX_DIM, hash sizes outside PHASH_MIN..MAX_HASH_SIZE, channel counts
 * other than 1, 3 or 4, lines out of range or past the address space, tables that break
 * the documented rules) must give TH_EBADARG, an unknown ISA TH_EISA,
 * and no read of the pixels. Tables that keep the rules but are not Pillow's
 * must still give the same bytes on every ISA.
 *
 * Two ways to build (see .ci/fuzz):
 *   libFuzzer:  clang -fsanitize=fuzzer,address,undefined ... (LLVMFuzzerTestOneInput)
 *   standalone: gcc -fsanitize=address,undefined -DTH_FUZZ_MAIN ... ; ./fuzz_phash N SEED
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "phash/phash.h"

#if defined(__SANITIZE_ADDRESS__)
#define FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FUZZ_ASAN 1
#endif
#endif
#ifdef FUZZ_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Work per case stays in the milliseconds under ASan: pixels, and n times the
 * longer side (the first pass's buffer: H x n bytes or n x W int32). */
#define MAX_PIXELS 200000
#define MAX_CELLS 2000000

/* ------------------------------------------------------------- input */

/* The fuzzer's bytes drive the choices; once they run out, a generator seeded
 * from all of them does, so every input is one deterministic case. */
typedef struct {
    const uint8_t *data;
    size_t size, pos;
    uint64_t state;
} source;

static void source_init(source *s, const uint8_t *data, size_t size) {
    s->data = data;
    s->size = size;
    s->pos = 0;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
    s->state = h;
}

static uint64_t rand64(source *s) { /* splitmix64 */
    uint64_t z = (s->state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform enough in [0, range), range >= 1 */
static int64_t take(source *s, int64_t range) {
    uint64_t v;
    if (s->pos < s->size) {
        v = s->data[s->pos++];
        if (range > 256 && s->pos < s->size) v = v << 8 | s->data[s->pos++];
        if (range > 65536 && s->pos < s->size) v = v << 8 | s->data[s->pos++];
    } else {
        v = rand64(s);
    }
    return (int64_t)(v % (uint64_t)range);
}

static void fail(const char *what, const char *detail) {
    fprintf(stderr, "fuzz_phash: %s: %s\n", what, detail);
    abort();
}

static void expect_status(int got, int want, const char *call) {
    if (got != want) {
        char msg[96];
        snprintf(msg, sizeof msg, "status %d, expected %d", got, want);
        fail(call, msg);
    }
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (p == NULL) fail("malloc", "out of memory");
    return p;
}

/* ------------------------------------------------------------- the case */

typedef struct {
    int64_t width, height;
    int channels, hash_size, n, vertical_first; /* vertical_first as passed: any int */
    uint8_t *image;                             /* height x width * channels, contiguous */
    int pattern;
    char what[160];                             /* for failure messages */
} fuzz_case;

static int64_t pick_dim(source *s, int n) {
    static const int64_t widths[] = {1,  2,  3,  4,  7,  8,   9,   15,  16,  17,
                                     31, 32, 33, 47, 48, 49,  63,  64,  65,  95,
                                     96, 97, 127, 128, 129, 255, 256, 257};
    /* ksize = 2 ceil(3 size / n) + 1 when shrinking: kstride steps between
     * ceil(...) = 16 and 17 and between 32 and 33, the windows become aligned
     * (ksize >= PHASH_ALIGN_MIN_KSIZE) between 127 and 128 */
    static const int64_t ceilings[] = {15, 16, 17, 32, 33, 127, 128, 129};
    int64_t v;
    switch (take(s, 8)) {
    case 0: v = 1 + take(s, 8); break;
    case 1: v = widths[take(s, (int64_t)(sizeof widths / sizeof widths[0]))]; break;
    case 2: v = take(s, 2) ? n : n - 2 + take(s, 5); break; /* the axis is skipped at n */
    case 3:
        v = ceilings[take(s, (int64_t)(sizeof ceilings / sizeof ceilings[0]))] * n / 3 - 2 +
            take(s, 5);
        break;
    case 4: v = 1 + take(s, 700); break;
    case 5: v = 1 + take(s, 60000); break; /* large downscale ratios */
    default: v = 1 + take(s, 160); break;
    }
    return v < 1 ? 1 : v;
}

static int pick_hash_size(source *s) {
    static const int sizes[] = {2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64};
    if (take(s, 2)) return sizes[take(s, (int64_t)(sizeof sizes / sizeof sizes[0]))];
    return PHASH_MIN_HASH_SIZE + (int)take(s, PHASH_MAX_HASH_SIZE - PHASH_MIN_HASH_SIZE + 1);
}

static void make_case(source *s, fuzz_case *c) {
    static const int channel_choices[3] = {1, 3, 4};
    static const int vf_choices[5] = {0, 1, 0, 2, -1}; /* any non-zero is true */
    c->hash_size = pick_hash_size(s);
    c->n = PHASH_HIGHFREQ_FACTOR * c->hash_size;
    c->channels = channel_choices[take(s, 3)];
    c->vertical_first = vf_choices[take(s, 5)];
    c->width = pick_dim(s, c->n);
    c->height = pick_dim(s, c->n);
    if (c->width * c->height > MAX_PIXELS) {
        if (take(s, 2)) {
            c->height = MAX_PIXELS / c->width > 0 ? MAX_PIXELS / c->width : 1;
        } else {
            c->width = MAX_PIXELS / c->height > 0 ? MAX_PIXELS / c->height : 1;
        }
    }
    if (c->n * c->width > MAX_CELLS) c->width = MAX_CELLS / c->n;
    if (c->n * c->height > MAX_CELLS) c->height = MAX_CELLS / c->n;

    const int pattern = (int)take(s, 9);
    c->pattern = pattern;
    const size_t line = (size_t)c->width * c->channels, total = line * (size_t)c->height;
    const uint8_t flat = (uint8_t)take(s, 256);
    uint64_t noise = (uint64_t)take(s, INT64_MAX) | 1;
    c->image = xmalloc(total);
    for (size_t i = 0; i < total; i++) {
        noise ^= noise << 13, noise ^= noise >> 7, noise ^= noise << 17;
        const size_t y = i / line, x = i % line / (size_t)c->channels;
        uint8_t v;
        switch (pattern) {
        case 0: v = (uint8_t)(noise >> 32); break;                    /* noise */
        case 1: v = flat; break;                                       /* flat */
        case 2: v = (uint8_t)(x * 3 + y * 5 + (i % c->channels) * 80); break; /* ramp */
        case 3: v = (noise & 31) == 0 ? 255 : flat / 4; break;        /* spiky */
        case 4: v = ((x ^ y) & 1) ? 255 : 0; break; /* checkerboard: the largest lobe sums */
        case 5: v = (noise & 1) ? 255 : 0; break;   /* black and white noise */
        /* lines that can be read overlapped (block_make): every line the same,
         * or each the previous one shifted by a pixel, right or left */
        case 6: v = (uint8_t)(x * 37 + (i % c->channels) * 80 + flat); break;
        case 7: v = (uint8_t)((x + y) * 29 + (i % c->channels) * 80 + flat); break;
        default: v = (uint8_t)((x - y) * 29 + (i % c->channels) * 80 + flat); break;
        }
        c->image[i] = v;
    }
    snprintf(c->what, sizeof c->what, "%lldx%lld (w x h) c%d hs%d vf%d pattern%d",
             (long long)c->width, (long long)c->height, c->channels, c->hash_size,
             c->vertical_first, pattern);
}

/* ------------------------------------------------------------- tables */

typedef struct {
    int32_t *h, *v; /* exact-size copies, or NULL: let the plan compute them */
    size_t h_len, v_len;
} tables;

static int32_t *fill_table(int64_t in_size, int n, size_t *len) {
    *len = phash_table_len(in_size, n);
    const int ksize = phash_coeffs_ksize(in_size, n);
    if (*len == 0 || ksize == 0) fail("phash_table_len", "0 for a valid size");
    int32_t *t = xmalloc(*len * sizeof(int32_t));
    double *k = xmalloc((size_t)ksize * sizeof(double));
    expect_status(phash_table_fill(in_size, n, t, k), TH_OK, "phash_table_fill");
    free(k);
    return t;
}

static int32_t *copy_table(const int32_t *t, size_t len) {
    int32_t *c = xmalloc(len * sizeof(int32_t));
    memcpy(c, t, len * sizeof(int32_t));
    return c;
}

/* The rules phash.h / README.md state for a table passed in: windows inside
 * the image and in order (starts and ends never decreasing), at most ksize
 * samples each, and sum |k| <= PHASH_MAX_WEIGHT_SUM per output. */
static int table_keeps_rules(const int32_t *t, int64_t in_size, int n) {
    const int ksize = phash_coeffs_ksize(in_size, n);
    int64_t prev_start = 0, prev_end = 0;
    for (int o = 0; o < n; o++) {
        const int64_t start = t[2 * o], count = t[2 * o + 1];
        if (start < prev_start || count < 0 || count > ksize || start + count > in_size ||
            start + count < prev_end) {
            return 0;
        }
        int64_t total = 0;
        for (int i = 0; i < ksize; i++) {
            const int64_t k = t[2 * n + (size_t)o * ksize + i];
            total += k < 0 ? -k : k;
        }
        if (total > PHASH_MAX_WEIGHT_SUM) return 0;
        prev_start = start;
        prev_end = start + count;
    }
    return 1;
}

/* A few edits to a Pillow table: weights anywhere (also past the end of a
 * window, where Pillow's are zero and unused), windows moved, shrunk or grown,
 * the last line left out. */
static void mutate_table(source *s, int32_t *t, int64_t in_size, int n) {
    const int ksize = phash_coeffs_ksize(in_size, n);
    for (int edits = 1 + (int)take(s, 3); edits > 0; edits--) {
        const int o = (int)take(s, n);
        int32_t *kk = t + 2 * n + (size_t)o * ksize;
        switch (take(s, 8)) {
        case 0: kk[take(s, ksize)] = (int32_t)(take(s, 1 << 23) - (1 << 22)); break;
        case 1: /* a weight after the window's last sample */
            if (t[2 * o + 1] < ksize) {
                kk[t[2 * o + 1] + take(s, ksize - t[2 * o + 1])] = (int32_t)(1 + take(s, 1 << 20));
            }
            break;
        case 2: t[2 * o] += (int32_t)take(s, 5) - 2; break;
        case 3: t[2 * o + 1] += (int32_t)take(s, 5) - 2; break;
        case 4: t[2 * o + 1] = 0; break;
        case 5: kk[take(s, ksize)] = take(s, 2) ? INT32_MAX : INT32_MIN; break;
        case 6: /* the windows that end at the last line end one line earlier */
            for (int i = 0; i < n; i++) {
                if (t[2 * i] + t[2 * i + 1] == in_size) t[2 * i + 1]--;
            }
            break;
        default: /* every window moved by the same amount */
            for (int i = 0, d = (int)take(s, 3) - 1; i < n; i++) t[2 * i] += d;
            break;
        }
    }
}

/* ------------------------------------------------------------- the plain resize */

static uint8_t clip8(int64_t s) {
    if (s < 0) return 0;
    s >>= 22;
    return (uint8_t)(s > 255 ? 255 : s);
}

/* One output sample of a pass: 2^21 + the window's weighted sum, in 64 bits. */
static uint8_t window_sum(const int32_t *t, int n, int ksize, int o, const int32_t *in,
                          size_t step) {
    const int32_t start = t[2 * o], count = t[2 * o + 1];
    const int32_t *k = t + 2 * n + (size_t)o * ksize;
    int64_t s = 1 << 21;
    for (int i = 0; i < count; i++) s += (int64_t)in[(size_t)(start + i) * step] * k[i];
    return clip8(s);
}

/* Pillow's convert("L") and resize, as written in Resample.c, without any of
 * the kernel's machinery: luma of every pixel, both passes over every line. */
static void plain_resize(const fuzz_case *c, const int32_t *ht, const int32_t *vt,
                         uint8_t *grey) {
    const int64_t w = c->width, h = c->height;
    const int n = c->n, need_h = w != n, need_v = h != n;
    const int vf = c->vertical_first != 0 && need_v;
    const int kh = phash_coeffs_ksize(w, n), kv = phash_coeffs_ksize(h, n);
    int32_t *luma = xmalloc((size_t)(w * h) * sizeof(int32_t));
    for (int64_t i = 0; i < w * h; i++) {
        const uint8_t *p = c->image + i * c->channels;
        luma[i] = c->channels == 1
                      ? p[0]
                      : (p[0] * 19595 + p[1] * 38470 + p[2] * 7471 + 0x8000) >> 16;
    }
    if (!vf) {
        int32_t *mid = xmalloc((size_t)h * n * sizeof(int32_t)); /* h x n */
        for (int64_t y = 0; y < h; y++) {
            for (int x = 0; x < n; x++) {
                mid[y * n + x] =
                    need_h ? window_sum(ht, n, kh, x, luma + y * w, 1) : luma[y * w + x];
            }
        }
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                grey[y * n + x] = need_v ? window_sum(vt, n, kv, y, mid + x, (size_t)n)
                                         : (uint8_t)mid[y * n + x];
            }
        }
        free(mid);
    } else {
        int32_t *mid = xmalloc((size_t)n * w * sizeof(int32_t)); /* n x w */
        for (int y = 0; y < n; y++) {
            for (int64_t x = 0; x < w; x++) {
                mid[y * w + x] = window_sum(vt, n, kv, y, luma + x, (size_t)w);
            }
        }
        for (int y = 0; y < n; y++) {
            for (int x = 0; x < n; x++) {
                grey[y * n + x] = need_h ? window_sum(ht, n, kh, x, mid + y * w, 1)
                                         : (uint8_t)mid[y * w + x];
            }
        }
        free(mid);
    }
    free(luma);
}

/* ------------------------------------------------------------- outputs */

static void same_grey(const fuzz_case *c, const uint8_t *ref, const uint8_t *got,
                      const char *what) {
    if (memcmp(ref, got, (size_t)c->n * c->n) != 0) {
        fprintf(stderr, "MISMATCH resized image (%s) on %s\n", what, c->what);
        abort();
    }
}

/* ------------------------------------------------------------- workspace */

typedef struct {
    uint8_t *block; /* the allocation */
    void *ws;       /* what the kernel is given: block + offset, ending at the block's end */
    size_t bytes;
} workspace;

static void workspace_alloc(source *s, workspace *w, size_t bytes) {
    const size_t offset = take(s, 3) ? 0 : (size_t)take(s, 64); /* "any alignment" */
    w->bytes = bytes;
    w->block = xmalloc(offset + bytes);
    memset(w->block, (int)take(s, 256), offset + bytes); /* garbage the kernel must not read */
    w->ws = w->block + offset;
}

static void workspace_free(workspace *w) {
    UNPOISON(w->ws, w->bytes);
    free(w->block);
}

/* Poison the whole workspace, then open the plan's arrays at their sizes:
 * the passes and phash_finish_bits may touch nothing else (the coefficient
 * scratch is used by phash_plan_init, then by phash_bits at its own size). */
static void poison_outside_plan(const phash_plan *p, const workspace *w) {
    const int n = p->n;
    POISON(w->ws, w->bytes);
    if (p->need_h) {
        UNPOISON(p->h.bounds, phash_table_len(p->width, n) * sizeof(int32_t));
        UNPOISON(p->kk_split, (size_t)2 * n * p->kstride * sizeof(int16_t));
    }
    UNPOISON(p->v.bounds, phash_table_len(p->height, n) * sizeof(int32_t));
    if (p->vertical_first) {
        UNPOISON(p->vacc, (size_t)n * p->width * sizeof(int32_t));
    } else {
        UNPOISON(p->temp, (size_t)(p->row_last - p->row_first) * n);
    }
    UNPOISON(p->luma, (size_t)(p->width + PHASH_LUMA_PAD) * sizeof(int16_t));
    UNPOISON(p->luma2, (size_t)(p->width + PHASH_LUMA_PAD) * sizeof(int16_t));
    /* phash_finish_bits' work, nothing past it */
    UNPOISON(p->scratch, phash_bits_work_doubles(p->hash_size) * sizeof(double));
}

/* ------------------------------------------------------------- feeding lines */

/* Lines first .. first + rows - 1 as one block of their own, allocated to the
 * byte: `pad` bytes of garbage between lines, or lines overlapping (a stride
 * of 0 or of one pixel, where the lines allow it), bottom-up if `flip`, the
 * start misaligned by `offset` bytes (poisoned, so a read before it is seen
 * too). */
typedef struct {
    uint8_t *block;
    size_t offset, bytes;
    th_pixels px;
} pixel_block;

static void block_make(source *s, const fuzz_case *c, int64_t first, int64_t rows, pixel_block *b) {
    const int64_t line = c->width * c->channels;
    const int64_t pad = take(s, 3) ? 0 : take(s, 70);
    const int flip = (int)take(s, 2);
    int64_t stride = line + pad;
    if (rows > 1 && take(s, 2)) {
        /* overlapped, if every line reads back: 0 apart if the lines are all
         * alike, one pixel apart if each is the previous one shifted */
        const int64_t step = take(s, 2) ? 0 : c->channels;
        int ok = step < line;
        for (int64_t r = 1; ok && r < rows; r++) {
            const uint8_t *prev = c->image + (first + r - 1) * line;
            const uint8_t *cur = c->image + (first + r) * line;
            /* line r starts `step` bytes after line r-1 (before it if flipped) */
            ok = flip ? memcmp(cur + step, prev, (size_t)(line - step)) == 0
                      : memcmp(cur, prev + step, (size_t)(line - step)) == 0;
        }
        if (ok) stride = step;
    }
    b->offset = take(s, 4) ? 0 : (size_t)take(s, 64);
    b->bytes = rows > 0 ? (size_t)((rows - 1) * stride + line) : 1;
    b->block = xmalloc(b->offset + b->bytes);
    memset(b->block, (int)take(s, 256), b->offset + b->bytes);
    uint8_t *base = b->block + b->offset;
    for (int64_t r = 0; r < rows; r++) {
        const int64_t at = flip ? (rows - 1 - r) * stride : r * stride;
        memcpy(base + at, c->image + (first + r) * line, (size_t)line);
    }
    POISON(b->block, b->offset);
    b->px.data = flip && rows > 0 ? base + (rows - 1) * stride : base;
    b->px.rows = rows;
    b->px.cols = c->width;
    b->px.row_stride = flip ? -stride : stride;
    b->px.channels = c->channels;
    if (rows <= 1 && take(s, 2)) { /* a single line's stride is never used */
        static const int64_t any[] = {0, -1, 1, INT64_MIN, INT64_MAX};
        b->px.row_stride = any[take(s, 5)];
    }
}

static void block_free(pixel_block *b) {
    UNPOISON(b->block, b->offset);
    free(b->block);
}

/* Feeds lines lo .. hi-1 (the whole image, or only the lines the resize reads)
 * in blocks: one, one per line, two lines each, or random cuts; in order,
 * backwards or shuffled; with empty calls in between. */
static void feed_lines(source *s, const fuzz_case *c, const phash_plan *p, th_isa isa) {
    int64_t lo = 0, hi = c->height;
    if (take(s, 4) == 0) {
        lo = p->row_first;
        hi = p->row_last;
    }
    const int64_t lines = hi - lo;
    /* block starts, then hi: one per line, or up to 17 */
    int64_t *cuts = xmalloc((size_t)(lines > 17 ? lines + 2 : 19) * sizeof(int64_t));
    int64_t ncuts = 0;
    const int64_t split = take(s, 6);
    if (split == 0 || lines <= 1) {
        cuts[ncuts++] = lo;
    } else if (split == 1 && lines <= 4096) {
        for (int64_t y = lo; y < hi; y++) cuts[ncuts++] = y;
    } else if (split == 2 && lines <= 8192) {
        for (int64_t y = lo; y < hi; y += 2) cuts[ncuts++] = y;
    } else {
        /* up to 16 random cut points, sorted, repeats dropped */
        int64_t want = 1 + take(s, 16);
        cuts[ncuts++] = lo;
        for (int64_t i = 0; i < want; i++) cuts[ncuts++] = lo + 1 + take(s, lines - 1);
        for (int64_t i = 1; i < ncuts; i++) {
            for (int64_t j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                const int64_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        }
        int64_t m = 1;
        for (int64_t i = 1; i < ncuts; i++) {
            if (cuts[i] != cuts[m - 1]) cuts[m++] = cuts[i];
        }
        ncuts = m;
    }
    const int64_t nblocks = ncuts;
    cuts[ncuts] = hi;
    int64_t *order = xmalloc((size_t)nblocks * sizeof(int64_t));
    const int64_t how = take(s, 3);
    for (int64_t i = 0; i < nblocks; i++) order[i] = how == 1 ? nblocks - 1 - i : i;
    if (how == 2) {
        for (int64_t i = nblocks - 1; i > 0; i--) {
            const int64_t j = take(s, i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    for (int64_t i = 0; i < nblocks; i++) {
        pixel_block b;
        if (take(s, 8) == 0) { /* no lines: nothing to read */
            block_make(s, c, 0, 0, &b);
            expect_status(phash_rows(p, &b.px, take(s, c->height + 1), isa), TH_OK,
                          "phash_rows, no lines");
            block_free(&b);
        }
        const int64_t first = cuts[order[i]], rows = cuts[order[i] + 1] - first;
        block_make(s, c, first, rows, &b);
        expect_status(phash_rows(p, &b.px, first, isa), TH_OK, "phash_rows");
        block_free(&b);
    }
    free(order);
    free(cuts);
}

/* ------------------------------------------------------------- bad arguments */

/* Calls that must fail before touching anything: the pixels are one byte, so a
 * read of them would be caught, and the plan is left as it was. */
static void bad_rows_calls(source *s, const phash_plan *p, th_isa isa) {
    uint8_t *one = xmalloc(1);
    one[0] = 0;
    const int64_t w = p->width, h = p->height;
    for (int tries = 1 + (int)take(s, 3); tries > 0; tries--) {
        th_pixels px = {one, 2, w, w * 4, 3};
        int64_t first = 0;
        const phash_plan *plan = p;
        const th_pixels *pxp = &px;
        switch (take(s, 17)) {
        case 0: plan = NULL; break;
        case 1: pxp = NULL; break;
        case 2: px.data = NULL; break;
        case 3: px.rows = take(s, 2) ? -1 : INT64_MIN; break;
        case 4: px.cols = w + (take(s, 2) ? 1 : -1); break;
        case 5: px.cols = take(s, 2) ? 0 : INT64_MIN; break;
        case 6: {
            static const int bad[] = {0, 2, 5, -1, -3, 255, INT_MAX, INT_MIN};
            px.channels = bad[take(s, 8)];
            break;
        }
        case 7: first = take(s, 2) ? -1 : INT64_MIN; break;
        case 8: first = h - px.rows + 1; break; /* one line past the end */
        case 9: px.rows = h + 1; break;
        case 10: px.rows = INT64_MAX; break;
        case 11: first = INT64_MAX; break;
        /* lines past the address space (overlapping ones are legal) */
        case 12: px.row_stride = INT64_MIN; break;
        case 13: px.row_stride = take(s, 2) ? INT64_MAX : -INT64_MAX; break;
        case 14: /* the first stride past the limit, two lines */
            px.row_stride = (PTRDIFF_MAX - w * 3) + 1;
            if (take(s, 2)) px.row_stride = -px.row_stride;
            break;
        case 15: /* the same, three lines */
            px.rows = 3;
            px.row_stride = (PTRDIFF_MAX - w * 3) / 2 + 1;
            if (take(s, 2)) px.row_stride = -px.row_stride;
            break;
        default: /* fine for two lines, past the address space for three */
            px.rows = 3;
            px.row_stride = take(s, 2) ? INT64_MAX / 2 : -(INT64_MAX / 2);
            break;
        }
        expect_status(phash_rows(plan, pxp, first, isa), TH_EBADARG, "phash_rows, bad argument");
    }
    free(one);
}

/* Every call with arguments the header rules out, once per run. */
static void bad_argument_calls(void) {
    static const int64_t bad_dims[] = {0, -1, -(1LL << 40), INT64_MIN, PHASH_MAX_DIM + 1,
                                       INT64_MAX};
    static const int bad_hs[] = {PHASH_MIN_HASH_SIZE - 1, 0, -1, PHASH_MAX_HASH_SIZE + 1, 1000,
                                 INT_MAX, INT_MIN};
    const size_t nd = sizeof bad_dims / sizeof bad_dims[0], nh = sizeof bad_hs / sizeof bad_hs[0];
    uint8_t *tiny = xmalloc(1); /* no bad call may write to it */
    phash_plan plan;
    int32_t table[1];
    double scratch[1];
    phash_bits_info bits_info;
    {
        uint8_t grey[8 * 8] = {0}, out[1];
        double *work = xmalloc(phash_bits_work_doubles(2) * sizeof(double));
        expect_status(phash_bits(NULL, 2, work, out, NULL, &bits_info), TH_EBADARG,
                      "phash_bits, NULL image");
        expect_status(phash_bits(grey, 2, NULL, out, NULL, &bits_info), TH_EBADARG,
                      "phash_bits, NULL work");
        expect_status(phash_bits(grey, 2, work, NULL, NULL, &bits_info), TH_EBADARG,
                      "phash_bits, NULL output");
        expect_status(phash_bits(grey, 2, work, out, NULL, NULL), TH_EBADARG,
                      "phash_bits, NULL info");
        free(work);
    }
    for (size_t i = 0; i < nd; i++) {
        for (int vf = 0; vf < 2; vf++) {
            if (phash_workspace_bytes(bad_dims[i], 10, 8, vf) != 0 ||
                phash_workspace_bytes(10, bad_dims[i], 8, vf) != 0) {
                fail("phash_workspace_bytes", "non-zero for a bad size");
            }
            expect_status(phash_plan_init(&plan, bad_dims[i], 10, 8, vf, NULL, NULL, tiny),
                          TH_EBADARG, "phash_plan_init, bad width");
            expect_status(phash_plan_init(&plan, 10, bad_dims[i], 8, vf, NULL, NULL, tiny),
                          TH_EBADARG, "phash_plan_init, bad height");
        }
        if (phash_coeffs_ksize(bad_dims[i], 32) != 0 || phash_table_len(bad_dims[i], 32) != 0) {
            fail("phash_coeffs_ksize", "non-zero for a bad size");
        }
        expect_status(phash_table_fill(bad_dims[i], 32, table, scratch), TH_EBADARG,
                      "phash_table_fill, bad size");
        th_pixels px = {tiny, bad_dims[i], 1, 1, 1};
        expect_status(phash_resize(&px, 8, 0, TH_ISA_SCALAR, tiny, tiny), TH_EBADARG,
                      "phash_resize, bad height");
        px.rows = 1;
        px.cols = bad_dims[i];
        expect_status(phash_resize(&px, 8, 0, TH_ISA_SCALAR, tiny, tiny), TH_EBADARG,
                      "phash_resize, bad width");
    }
    for (size_t i = 0; i < nh; i++) {
        if (phash_workspace_bytes(10, 10, bad_hs[i], 0) != 0) {
            fail("phash_workspace_bytes", "non-zero for a bad hash size");
        }
        expect_status(phash_plan_init(&plan, 10, 10, bad_hs[i], 0, NULL, NULL, tiny),
                      TH_EBADARG, "phash_plan_init, bad hash size");
        th_pixels px = {tiny, 1, 1, 1, 1};
        if (phash_bits_work_doubles(bad_hs[i]) != 0) {
            fail("phash_bits_work_doubles", "non-zero for a bad hash size");
        }
        expect_status(phash_bits(tiny, bad_hs[i], scratch, tiny, NULL, &bits_info), TH_EBADARG,
                      "phash_bits, bad hash size");
        expect_status(phash_resize(&px, bad_hs[i], 0, TH_ISA_SCALAR, tiny, tiny), TH_EBADARG,
                      "phash_resize, bad hash size");
    }
    static const int bad_out[] = {0, -1, INT_MIN};
    for (size_t i = 0; i < 3; i++) {
        if (phash_coeffs_ksize(10, bad_out[i]) != 0 || phash_table_len(10, bad_out[i]) != 0) {
            fail("phash_coeffs_ksize", "non-zero for a bad output size");
        }
        expect_status(phash_table_fill(10, bad_out[i], table, scratch), TH_EBADARG,
                      "phash_table_fill, bad output size");
    }
    /* the largest sizes are valid and their workspace size must not overflow */
    for (int vf = 0; vf < 2; vf++) {
        const size_t big =
            phash_workspace_bytes(PHASH_MAX_DIM, PHASH_MAX_DIM, PHASH_MAX_HASH_SIZE, vf);
        /* at least the first pass's buffer: H x n bytes or n x W int32 */
        if (big < (size_t)PHASH_MAX_DIM * PHASH_HIGHFREQ_FACTOR * PHASH_MAX_HASH_SIZE) {
            fail("phash_workspace_bytes", "wrapped for the largest image");
        }
    }
    expect_status(phash_table_fill(10, 32, NULL, scratch), TH_EBADARG, "phash_table_fill, NULL");
    expect_status(phash_table_fill(10, 32, table, NULL), TH_EBADARG, "phash_table_fill, NULL");
    /* null plan or workspace with good sizes */
    expect_status(phash_plan_init(NULL, 10, 10, 8, 0, NULL, NULL, tiny), TH_EBADARG,
                  "phash_plan_init, NULL plan");
    expect_status(phash_plan_init(&plan, 10, 10, 8, 0, NULL, NULL, NULL), TH_EBADARG,
                  "phash_plan_init, NULL workspace");
    expect_status(phash_resize(NULL, 8, 0, TH_ISA_SCALAR, tiny, tiny), TH_EBADARG,
                  "phash_resize, NULL pixels");
    /* bad channel counts, data NULL, lines past the address space: through
     * phash_resize too */
    {
        const size_t bytes = phash_workspace_bytes(10, 10, 8, 0);
        uint8_t *ws = xmalloc(bytes);
        uint8_t *grey = xmalloc(32 * 32);
        static const int bad_channels[] = {0, 2, 5, -1, INT_MAX, INT_MIN};
        for (size_t i = 0; i < 6; i++) {
            th_pixels px = {tiny, 10, 10, 40, bad_channels[i]};
            expect_status(phash_resize(&px, 8, 0, TH_ISA_SCALAR, ws, grey), TH_EBADARG,
                          "phash_resize, bad channel count");
        }
        th_pixels px = {NULL, 10, 10, 30, 3};
        expect_status(phash_resize(&px, 8, 0, TH_ISA_SCALAR, ws, grey), TH_EBADARG,
                      "phash_resize, NULL data");
        px.data = tiny;
        px.row_stride = PTRDIFF_MAX / 9 + 1;
        expect_status(phash_resize(&px, 8, 0, TH_ISA_SCALAR, ws, grey), TH_EBADARG,
                      "phash_resize, lines past the address space");
        expect_status(phash_finish(NULL, TH_ISA_SCALAR, grey), TH_EBADARG,
                      "phash_finish, NULL plan");
        free(grey);
        free(ws);
    }
    free(tiny);
}

/* ------------------------------------------------------------- DCT bits */

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The low block of scipy's unnormalised DCT-II (2 cos per pass), columns
 * first, in long double with cosines from cosl: slow and independent of
 * phash_common.c's folded double code. */
static void slow_dct(const uint8_t *grey, int hs, long double *out) {
    const int n = PHASH_HIGHFREQ_FACTOR * hs;
    const long double pi = 3.141592653589793238462643383279502884L;
    long double *w = xmalloc((size_t)hs * n * sizeof(long double));
    long double *cols = xmalloc((size_t)hs * n * sizeof(long double));
    for (int u = 0; u < hs; u++) {
        for (int r = 0; r < n; r++) {
            const long m = (long)u * (2 * r + 1) % (4 * n); /* exact argument reduction */
            w[(size_t)u * n + r] = 2.0L * cosl(pi * (long double)m / (2.0L * n));
        }
    }
    for (int u = 0; u < hs; u++) {
        for (int c = 0; c < n; c++) {
            long double acc = 0;
            for (int r = 0; r < n; r++) acc += w[(size_t)u * n + r] * grey[(size_t)r * n + c];
            cols[(size_t)u * n + c] = acc;
        }
    }
    for (int u = 0; u < hs; u++) {
        for (int v = 0; v < hs; v++) {
            long double acc = 0;
            for (int c = 0; c < n; c++) acc += w[(size_t)v * n + c] * cols[(size_t)u * n + c];
            out[u * hs + v] = acc;
        }
    }
    free(w);
    free(cols);
}

static void bits_fail(const char *what, const char *context, int hs) {
    fprintf(stderr, "MISMATCH phash_bits (%s), hs %d, on %s\n", what, hs, context);
    abort();
}

/* phash_bits' answer (`out`, `low`, `info`) for `grey` against the
 * definitions and the slow DCT. */
static void check_bits_answer(const uint8_t *grey, int hs, const uint8_t *out, const double *low,
                              const phash_bits_info *info, const char *context) {
    const int n = PHASH_HIGHFREQ_FACTOR * hs, nbits = hs * hs, nbytes = phash_hash_bytes(hs);
    const int pad = nbytes * 8 - nbits;
    double *sorted = xmalloc((size_t)nbits * sizeof(double));
    memcpy(sorted, low, (size_t)nbits * sizeof(double));
    qsort(sorted, (size_t)nbits, sizeof(double), cmp_double);
    const double median = nbits & 1 ? sorted[nbits / 2]
                                    : (sorted[nbits / 2 - 1] + sorted[nbits / 2]) / 2.0;
    if (median != info->median) { /* a sort and quickselect agree but for the sign of 0 */
        bits_fail("median", context, hs);
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < (size_t)n * n; i++) sum += grey[i];
    const double tol = ldexp(4.0 * (double)sum, -30);
    if (tol != info->tol) bits_fail("tolerance", context, hs);
    double margin = HUGE_VAL;
    int skipped = !(nbits & 1);
    for (int i = 0; i < nbits; i++) {
        const int b = pad + i;
        const int bit = (out[b >> 3] >> (7 - (b & 7))) & 1;
        if (bit != (low[i] > median)) bits_fail("a bit", context, hs);
        if (!skipped && low[i] == median) {
            skipped = 1;
            continue;
        }
        if (fabs(low[i] - median) < margin) margin = fabs(low[i] - median);
    }
    for (int b = 0; b < pad; b++) {
        if ((out[b >> 3] >> (7 - (b & 7))) & 1) bits_fail("a pad bit", context, hs);
    }
    if (margin != info->margin) bits_fail("margin", context, hs);
    if (info->decided != (margin > tol)) bits_fail("decided", context, hs);

    long double *slow = xmalloc((size_t)nbits * sizeof(long double));
    slow_dct(grey, hs, slow);
    for (int i = 0; i < nbits; i++) {
        const long double err = fabsl(slow[i] - (long double)low[i]);
        if (sum == 0 ? low[i] != 0.0 : err > (long double)tol / 4096) {
            bits_fail("block vs the slow DCT", context, hs);
        }
    }
    if (info->decided) { /* the slow DCT is within the bound too: its bits are ours */
        long double *ss = xmalloc((size_t)nbits * sizeof(long double));
        memcpy(ss, slow, (size_t)nbits * sizeof(long double));
        for (int i = 1; i < nbits; i++) { /* insertion sort: nbits <= 4096, rare */
            long double v = ss[i];
            int j = i - 1;
            while (j >= 0 && ss[j] > v) {
                ss[j + 1] = ss[j];
                j--;
            }
            ss[j + 1] = v;
        }
        const long double smed = nbits & 1 ? ss[nbits / 2] : (ss[nbits / 2 - 1] + ss[nbits / 2]) / 2;
        for (int i = 0; i < nbits; i++) {
            const int b = pad + i;
            if (((out[b >> 3] >> (7 - (b & 7))) & 1) != (slow[i] > smed)) {
                bits_fail("decided, but a bit differs from the slow DCT's", context, hs);
            }
        }
        free(ss);
    }
    free(slow);
    free(sorted);
}

/* phash_bits on `grey` with exact-size buffers (the work in fresh garbage,
 * the outputs poisoned-free exact allocations), then the checks. */
static void check_bits(source *s, const uint8_t *grey, int hs, const char *context) {
    const size_t nwork = phash_bits_work_doubles(hs);
    if (nwork == 0) fail("phash_bits_work_doubles", context);
    double *work = xmalloc(nwork * sizeof(double));
    memset(work, (int)take(s, 256), nwork * sizeof(double));
    uint8_t *out = xmalloc((size_t)phash_hash_bytes(hs));
    memset(out, 0xa5, (size_t)phash_hash_bytes(hs));
    double *low = xmalloc((size_t)hs * hs * sizeof(double));
    phash_bits_info info;
    const int want_low = (int)take(s, 2);
    expect_status(phash_bits(grey, hs, work, out, want_low ? low : NULL, &info), TH_OK,
                  "phash_bits");
    if (!want_low) { /* the block asked for again: the same answer, now with it */
        phash_bits_info again;
        uint8_t *out2 = xmalloc((size_t)phash_hash_bytes(hs));
        expect_status(phash_bits(grey, hs, work, out2, low, &again), TH_OK, "phash_bits");
        if (memcmp(out, out2, (size_t)phash_hash_bytes(hs)) != 0 ||
            again.margin != info.margin || again.decided != info.decided) {
            bits_fail("not deterministic", context, hs);
        }
        free(out2);
    }
    check_bits_answer(grey, hs, out, low, &info, context);
    free(low);
    free(out);
    free(work);
}

/* n x n images made directly: ties (flat, two levels, mirrored, ramps) and noise. */
static void check_bits_direct(source *s, int hs) {
    const int n = PHASH_HIGHFREQ_FACTOR * hs;
    uint8_t *g = xmalloc((size_t)n * n);
    const int kind = (int)take(s, 6);
    const uint8_t a = (uint8_t)take(s, 256), b = (uint8_t)take(s, 256);
    uint64_t noise = (uint64_t)take(s, INT64_MAX) | 1;
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < n; c++) {
            noise ^= noise << 13, noise ^= noise >> 7, noise ^= noise << 17;
            uint8_t v;
            switch (kind) {
            case 0: v = (uint8_t)(noise >> 40); break;
            case 1: v = a; break;
            case 2: v = (noise >> 40) & 1 ? a : b; break;
            case 3: v = (uint8_t)(a + (c < n / 2 ? c : n - 1 - c) * b); break; /* mirrored */
            case 4: v = (uint8_t)(a + r * (b & 7)); break;                       /* ramp */
            default: v = ((r / (1 + (a & 3)) + c / (1 + (a & 3))) & 1) ? a : b;  /* checker */
            }
            g[(size_t)r * n + c] = v;
        }
    }
    char context[48];
    snprintf(context, sizeof context, "direct %dx%d kind %d", n, n, kind);
    check_bits(s, g, hs, context);
    free(g);
}

/* ------------------------------------------------------------- one run */

/* One plan on `isa`: laid out in fresh garbage, checked against bad calls,
 * fed in random blocks, finished into exact-size outputs. Returns the status
 * of phash_plan_init (a table that breaks the rules is refused). */
static int run_plan(source *s, const fuzz_case *c, th_isa isa, const tables *t, uint8_t *grey) {
    workspace w;
    const size_t bytes =
        phash_workspace_bytes(c->width, c->height, c->hash_size, c->vertical_first);
    if (bytes == 0) fail("phash_workspace_bytes", c->what);
    workspace_alloc(s, &w, bytes);
    phash_plan plan;
    const int status = phash_plan_init(&plan, c->width, c->height, c->hash_size, c->vertical_first,
                                       t->h, t->v, w.ws);
    if (status != TH_OK) {
        workspace_free(&w);
        return status;
    }
    poison_outside_plan(&plan, &w);
    bad_rows_calls(s, &plan, isa);
    if (take(s, 4) == 0) {
        static const int bad_isa[] = {TH_ISA_COUNT, TH_ISA_COUNT + 5, -1};
        const th_isa wrong = (th_isa)bad_isa[take(s, 3)];
        pixel_block b;
        block_make(s, c, 0, 1, &b);
        expect_status(phash_rows(&plan, &b.px, 0, wrong), TH_EISA, "phash_rows, unknown ISA");
        block_free(&b);
        expect_status(phash_finish(&plan, wrong, grey), TH_EISA, "phash_finish, unknown ISA");
        expect_status(phash_finish(&plan, isa, NULL), TH_EBADARG, "phash_finish, NULL output");
        {
            uint8_t out[PHASH_MAX_HASH_SIZE * PHASH_MAX_HASH_SIZE / 8];
            phash_bits_info info;
            expect_status(phash_finish_bits(&plan, wrong, grey, out, NULL, &info), TH_EISA,
                          "phash_finish_bits, unknown ISA");
            expect_status(phash_finish_bits(&plan, isa, NULL, out, NULL, &info), TH_EBADARG,
                          "phash_finish_bits, NULL image");
            expect_status(phash_finish_bits(&plan, isa, grey, NULL, NULL, &info), TH_EBADARG,
                          "phash_finish_bits, NULL output");
            expect_status(phash_finish_bits(&plan, isa, grey, out, NULL, NULL), TH_EBADARG,
                          "phash_finish_bits, NULL info");
            expect_status(phash_finish_bits(NULL, isa, grey, out, NULL, &info), TH_EBADARG,
                          "phash_finish_bits, NULL plan");
        }
        for (int other = 0; other < TH_ISA_COUNT; other++) { /* e.g. NEON on x86 */
            if (th_isa_supported((th_isa)other)) continue;
            expect_status(phash_finish(&plan, (th_isa)other, grey), TH_EISA,
                          "phash_finish, ISA not available");
        }
    }
    feed_lines(s, c, &plan, isa);
    if (take(s, 2)) {
        expect_status(phash_finish(&plan, isa, grey), TH_OK, "phash_finish");
    } else { /* the bits from the plan's workspace: those of phash_bits on grey */
        const int nbytes = phash_hash_bytes(c->hash_size);
        uint8_t *out = xmalloc((size_t)nbytes), *want = xmalloc((size_t)nbytes);
        double *low = xmalloc((size_t)c->hash_size * c->hash_size * sizeof(double));
        double *work = xmalloc(phash_bits_work_doubles(c->hash_size) * sizeof(double));
        phash_bits_info info, want_info;
        expect_status(phash_finish_bits(&plan, isa, grey, out, take(s, 2) ? low : NULL, &info),
                      TH_OK, "phash_finish_bits");
        expect_status(phash_bits(grey, c->hash_size, work, want, low, &want_info), TH_OK,
                      "phash_bits");
        if (memcmp(out, want, (size_t)nbytes) != 0 || info.margin != want_info.margin ||
            info.tol != want_info.tol || info.decided != want_info.decided) {
            fail("phash_finish_bits differs from phash_bits on its image", c->what);
        }
        free(work);
        free(low);
        free(want);
        free(out);
    }
    workspace_free(&w);
    return TH_OK;
}

/* ------------------------------------------------------------- one case */

static int check_one(source *s) {
    fuzz_case c;
    make_case(s, &c);
    const int n = c.n;
    const size_t cells = (size_t)n * n;
    size_t h_len, v_len;
    int32_t *h_pillow = fill_table(c.width, n, &h_len), *v_pillow = fill_table(c.height, n, &v_len);

    /* the reference: scalar, the whole image in one call */
    uint8_t *ref = xmalloc(cells);
    {
        const size_t bytes =
            phash_workspace_bytes(c.width, c.height, c.hash_size, c.vertical_first);
        uint8_t *ws = xmalloc(bytes);
        const th_pixels px = {c.image, c.height, c.width, c.width * c.channels, c.channels};
        expect_status(phash_resize(&px, c.hash_size, c.vertical_first, TH_ISA_SCALAR, ws, ref),
                      TH_OK, "phash_resize");
        free(ws);
    }
    uint8_t *plain = xmalloc(cells);
    plain_resize(&c, h_pillow, v_pillow, plain);
    same_grey(&c, plain, ref, "scalar vs the plain resize");
    check_bits(s, ref, c.hash_size, c.what);
    check_bits_direct(s, c.hash_size);

    /* every ISA, tables computed or passed in, lines fed in blocks */
    uint8_t *got = xmalloc(cells);
    for (int isa = 0; isa < TH_ISA_COUNT; isa++) {
        if (!th_isa_supported((th_isa)isa)) continue;
        tables t = {NULL, NULL, h_len, v_len};
        if (take(s, 2)) t.h = copy_table(h_pillow, h_len);
        if (take(s, 2)) t.v = copy_table(v_pillow, v_len);
        expect_status(run_plan(s, &c, (th_isa)isa, &t, got), TH_OK, "phash_plan_init");
        char what[64];
        snprintf(what, sizeof what, "isa %s, tables %s/%s", th_isa_name((th_isa)isa),
                 t.h ? "given" : "computed", t.v ? "given" : "computed");
        same_grey(&c, ref, got, what);
        free(t.h);
        free(t.v);
    }

    /* tables that are not Pillow's: refused exactly when they break the rules,
     * and otherwise the same bytes on every ISA as the plain resize with them */
    if (take(s, 4) == 0) {
        tables t = {copy_table(h_pillow, h_len), copy_table(v_pillow, v_len), h_len, v_len};
        const int axis = (int)take(s, 3); /* horizontal, vertical, both */
        if (axis != 1) mutate_table(s, t.h, c.width, n);
        if (axis != 0) mutate_table(s, t.v, c.height, n);
        const int keeps = (c.width == n || table_keeps_rules(t.h, c.width, n)) &&
                          table_keeps_rules(t.v, c.height, n);
        if (keeps) plain_resize(&c, t.h, t.v, plain);
        for (int isa = 0; isa < TH_ISA_COUNT; isa++) {
            if (!th_isa_supported((th_isa)isa)) continue;
            const int status = run_plan(s, &c, (th_isa)isa, &t, got);
            expect_status(status, keeps ? TH_OK : TH_EBADARG,
                          "phash_plan_init, edited table");
            if (status == TH_OK) {
                char what[64];
                snprintf(what, sizeof what, "edited tables, isa %s vs the plain resize",
                         th_isa_name((th_isa)isa));
                same_grey(&c, plain, got, what);
            }
        }
        free(t.h);
        free(t.v);
    }

    free(got);
    free(plain);
    free(ref);
    free(h_pillow);
    free(v_pillow);
    free(c.image);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int once = 0;
    if (!once) {
        th_cpu_init();
        bad_argument_calls();
        once = 1;
    }
    source s;
    source_init(&s, data, size);
    return check_one(&s);
}

#ifdef TH_FUZZ_MAIN
int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 1000;
    unsigned seed = argc > 2 ? (unsigned)atol(argv[2]) : 1;
    srand(seed);
    th_cpu_init();
    uint8_t buf[48];
    for (long it = 0; it < iters; it++) {
        for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)rand();
        LLVMFuzzerTestOneInput(buf, 1 + (size_t)(rand() % (int)sizeof buf));
    }
    printf("fuzz_phash: %ld cases, ISAs", iters);
    for (int isa = 0; isa < TH_ISA_COUNT; isa++) {
        if (th_isa_supported((th_isa)isa)) printf(" %s", th_isa_name((th_isa)isa));
    }
    printf(" agree with scalar and the plain resize; DCT bits, median and margin agree with the\n"
           "slow references; bad arguments refused\n");
    return 0;
}
#endif
