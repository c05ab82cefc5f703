/* pHash: Pillow's resize bit for bit, and the DCT bits where provably scipy's.
 *
 * imagehash.phash(image, hash_size) is
 *     image.convert("L").resize((4 hs, 4 hs), LANCZOS)      (Pillow, integer)
 *     scipy.fftpack.dct(dct(pixels, axis=0), axis=1)[:hs, :hs]
 *     bits = coefficient > numpy.median(coefficients), row-major, MSB first.
 * The first line is integer arithmetic in Pillow (Convert.c L24, Resample.c
 * with 22-bit fixed-point coefficients) and is reproduced exactly here; the
 * coefficients themselves are computed in double with Pillow's operations in
 * Pillow's order and the same libm sin(). The DCT and median follow in two
 * ways: phash_bits computes them here in double and says whether its bits are
 * provably those of scipy's DCT (every coefficient far enough from the median,
 * past a bound on both DCTs' rounding); where not (exact ties: flat images,
 * ramps, 1-pixel-wide ones), the caller (tidehash/phash.py) calls scipy's DCT
 * and numpy's median as imagehash does, since there pocketfft's own rounding
 * and exact zeros decide the bits.
 *
 * The resize is a plan (coefficient tables, filled by phash_plan_init) and two
 * passes: phash_rows runs the luma conversion fused with the first pass on any
 * run of source lines, so an image held in several memory blocks can be fed
 * block by block; phash_finish runs the second pass into the caller's n x n
 * image. Pillow < 13 always resizes horizontally first; Pillow 13 runs the
 * vertical pass first when the height shrinks by more than twice as many
 * pixels as the width (and 12.2-12.3 did so from Python for images over 100x
 * taller than wide). The two orders round differently, so the caller says
 * which one its Pillow uses (`vertical_first`).
 * Only the passes have per-ISA variants; they are integer code, so every ISA
 * gives the same bytes. No function here allocates, does I/O or touches Python:
 * the caller owns the workspace (phash_workspace_bytes). */
#ifndef TIDEHASH_PHASH_H
#define TIDEHASH_PHASH_H

#include <stddef.h>
#include <stdint.h>

#include "../common/pixels.h"
#include "../common/status.h"
#include "../cpu/cpu.h"

#define PHASH_MIN_HASH_SIZE 2
#define PHASH_MAX_HASH_SIZE 64
#define PHASH_HIGHFREQ_FACTOR 4 /* imagehash's default: resize to 4 hs */
/* Pillow keeps sizes in C int; below 2^30 its window ends (center + support)
 * cannot overflow an int either, for any hash size. */
#define PHASH_MAX_DIM (1LL << 30)
/* The SIMD horizontal pass reads whole vectors of weights and of luma past the
 * end of a window: weights are padded with zeros to a multiple of 32, the luma
 * line by 64 zeros. */
#define PHASH_KSTRIDE_ALIGN 32
#define PHASH_ALIGN_MIN_KSIZE 256
#define PHASH_LUMA_PAD 64
#define PHASH_SPLIT_SHIFT 12
/* Largest sum of |weight| per output a table may have (fixed point, 2^22 = 1). */
#define PHASH_MAX_WEIGHT_SUM (1LL << 23)

/* Every function returning int returns a th_status (common/status.h):
 * TH_EBADARG for a null pointer, a bad size, channel count, hash size, table or
 * plan; TH_EISA for an instruction set this build or CPU lacks. */

/* Pixels are a th_pixels (common/pixels.h). phash_rows takes any row_stride:
 * negative (a bottom-up view), 0 (one line repeated, as np.broadcast_to
 * gives) or less than a line (overlapping lines): the passes only read them.
 * With two lines or more, lines that could not all lie in the address space
 * are TH_EBADARG. As in Pillow's convert("L"), a 4th channel is ignored. */

/* Pillow's resampling coefficients for one axis, in its own layout: output i
 * reads `bounds[2 i + 1]` source samples from `bounds[2 i]`, with weights
 * kk[i * ksize + 0 ..], normalised to fixed point (PRECISION_BITS = 22); the
 * weights after those (zeros in Pillow's tables) are never used. */
typedef struct {
    int64_t in_size;
    int out_size;
    int ksize;
    int32_t *bounds; /* 2 * out_size */
    int32_t *kk;     /* out_size * ksize */
} phash_coeffs;

typedef struct {
    int hash_size;
    int n; /* side of the resized image, 4 * hash_size */
    int64_t width, height;
    int need_h, need_v; /* Pillow skips an axis whose size does not change */
    int vertical_first;
    phash_coeffs h, v;
    /* The horizontal weights split for 16-bit multiply-adds (SIMD kernels):
     * k = hi * 2^12 + lo with lo in [0, 4096). Output i reads luma from
     * xmin - xmin % kalign with the weights at kk_split[2 i kstride ..] (hi)
     * and [(2 i + 1) kstride ..] (lo), which start with xmin % kalign zeros and
     * are zero-padded to kstride, a multiple of PHASH_KSTRIDE_ALIGN. kalign is
     * PHASH_KSTRIDE_ALIGN for long windows (aligned luma loads pay off) and 1
     * for short ones (the leading zeros would cost more than they save). */
    int16_t *kk_split;
    int kstride;
    int kalign;
    int64_t row_first, row_last; /* source lines the resize reads */
    uint8_t *temp;   /* horizontal first: (row_last - row_first) x n after the first pass */
    int32_t *vacc;   /* vertical first: n x width sums of the first pass */
    int16_t *luma, *luma2; /* two lines of luma (width + PHASH_LUMA_PAD, the pad zero) */
    double *scratch; /* the coefficient doubles of one output, then phash_bits' work */
} phash_plan;

/* Bytes of workspace for an image of this size (0 if a size is out of range). */
size_t phash_workspace_bytes(int64_t width, int64_t height, int hash_size, int vertical_first);

/* One axis' coefficients as one int32 table: 2 out_size bounds, then
 * out_size * ksize weights. Callers may compute tables once per size and pass
 * them to phash_plan_init (they depend only on in_size and out_size). */
int phash_coeffs_ksize(int64_t in_size, int out_size); /* 0 if out of range */
size_t phash_table_len(int64_t in_size, int out_size); /* int32 entries, 0 if out of range */
/* Pillow's precompute_coeffs + normalize_coeffs_8bpc; `dscratch` holds ksize doubles. */
int phash_table_fill(int64_t in_size, int out_size, int32_t *table, double *dscratch);

/* Lays the plan out in `workspace` (phash_workspace_bytes of it, any
 * alignment) and fills the coefficients: copied from `h_table` / `v_table`
 * (phash_table_fill's layout; checked to stay inside the image) or, where
 * NULL, computed. An axis whose size does not change is not resampled,
 * whatever its table says (when the height is n, all n lines are the result). */
int phash_plan_init(phash_plan *plan, int64_t width, int64_t height, int hash_size,
                    int vertical_first, const int32_t *h_table, const int32_t *v_table,
                    void *workspace);

/* Source lines first_row .. first_row + px->rows - 1 of the image (px->cols
 * must equal the plan's width): converts to luma and runs the first pass on
 * the lines the resize reads; other lines are skipped. Lines may come in any
 * order and any grouping; each needed line must come once. */
int phash_rows(const phash_plan *plan, const th_pixels *px, int64_t first_row, th_isa isa);

/* The second pass: `grey` (n * n bytes, row-major) receives the resized
 * image, Pillow's `image.convert("L").resize((n, n), LANCZOS)`. */
int phash_finish(const phash_plan *plan, th_isa isa, uint8_t *grey);

/* The fast path after the resize: the hs x hs low block of scipy.fftpack's
 * unnormalised 2-D DCT-II of `grey` (n x n, n = 4 hs) computed here in double,
 * numpy.median of it, and the bits `c > median` packed as imagehash prints
 * them (hs*hs bits row-major as a big-endian number of phash_hash_bytes(hs)
 * bytes, leading pad bits zero) into `out`. `low` (hs*hs doubles) receives the
 * block if not NULL. `work` holds phash_bits_work_doubles(hs) doubles.
 *
 * The bits are provably scipy's (the DCT imagehash calls) when
 * info->decided: then every coefficient but, for an odd count, the median
 * element itself lies more than info->tol from the median (info->margin is
 * the smallest such distance), and info->tol = 2^-30 * 4 * sum(grey) bounds
 * twice the sum of this DCT's and pocketfft's rounding errors many thousand
 * times over (README.md, "The fast path"). Otherwise (exact ties: flat images,
 * ramps, 1-pixel-wide ones...) the caller must compute the bits with scipy. */
typedef struct {
    double median; /* numpy.median of the block */
    double margin; /* min |c - median| over the block, an odd count's median element excluded */
    double tol;    /* the bound the margin must exceed */
    int decided;   /* margin > tol: the bits are scipy's */
} phash_bits_info;

size_t phash_bits_work_doubles(int hash_size); /* 0 if hash_size is out of range */
static inline int phash_hash_bytes(int hash_size) { return (hash_size * hash_size + 7) / 8; }
int phash_bits(const uint8_t *grey, int hash_size, double *work, uint8_t *out, double *low,
               phash_bits_info *info);

/* phash_finish into `grey`, then phash_bits on it with the plan's workspace. */
int phash_finish_bits(const phash_plan *plan, th_isa isa, uint8_t *grey, uint8_t *out,
                      double *low, phash_bits_info *info);

/* phash_plan_init + phash_rows over the whole image + phash_finish. */
int phash_resize(const th_pixels *px, int hash_size, int vertical_first, th_isa isa,
                 void *workspace, uint8_t *grey);

/* Internal: the per-ISA passes. */
typedef struct {
    void (*rows)(const phash_plan *plan, const th_pixels *px, int64_t first_row);
    void (*second_pass)(const phash_plan *plan, uint8_t *grey);
} phash_kernels;
extern const phash_kernels phash_kernels_scalar;
extern const phash_kernels phash_kernels_avx2;
extern const phash_kernels phash_kernels_avx512;

#endif
