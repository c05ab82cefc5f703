/* Scratch layout shared by every ISA's downscale kernel, and the luma weights.
 * One layout (sized for the widest vector) keeps pdq_scratch_floats ISA-free. */
#ifndef TIDEHASH_PDQ_LAYOUT_H
#define TIDEHASH_PDQ_LAYOUT_H

#include <stdint.h>

#include "pdq.h"

/* Float constants of the reference: the double literals rounded to float. */
#define PDQ_LUMA_R 0.299f
#define PDQ_LUMA_G 0.587f
#define PDQ_LUMA_B 0.114f

/* Offsets in floats from a 64-byte-aligned base. */
typedef struct {
    int64_t rows, cols;
    int64_t padded_cols;  /* cols rounded up to PDQ_MAX_LANES */
    int64_t win_rows;     /* Jarosz window along a row: (cols + 127) / 128 */
    int64_t win_cols;     /* Jarosz window along a column: (rows + 127) / 128 */
    int64_t ring_rows;    /* win_cols + PDQ_MAX_LANES */
    int64_t block;        /* PDQ_MAX_LANES x padded_cols: luma rows of a block */
    int64_t cols_in;      /* padded_cols x PDQ_MAX_LANES: a block, transposed */
    int64_t cols_out;     /* padded_cols x PDQ_MAX_LANES: its row-filtered version */
    int64_t ring1;        /* ring_rows x padded_cols: row-filtered lines, pass 1 */
    int64_t sum1;         /* padded_cols: running column sums, pass 1 */
    int64_t block2;       /* PDQ_MAX_LANES x padded_cols: column-filtered lines, pass 1 */
    int64_t junk;         /* padded_cols: where lanes past the last line are written */
    int64_t ring2;        /* ring_rows x 64: row-filtered, decimated lines, pass 2 */
    int64_t sum2;         /* 64: running column sums, pass 2 */
    int64_t need;         /* padded_cols bytes: 1 where a column is sampled */
    int64_t total;        /* floats to allocate, alignment slack included */
} pdq_layout;

static inline int pdq_layout_compute(int64_t rows, int64_t cols, pdq_layout *l) {
    if (rows <= 0 || cols <= 0 || rows > ((int64_t)1 << 31) || cols > ((int64_t)1 << 31)) {
        return 0;
    }
    const int64_t L = PDQ_MAX_LANES;
    l->rows = rows;
    l->cols = cols;
    l->padded_cols = (cols + L - 1) / L * L;
    l->win_rows = (cols + 127) / 128;
    l->win_cols = (rows + 127) / 128;
    l->ring_rows = l->win_cols + L;
    const int64_t pc = l->padded_cols;
    int64_t off = 0;
    l->block = off; off += L * pc;
    l->cols_in = off; off += pc * L;
    l->cols_out = off; off += pc * L;
    l->ring1 = off; off += l->ring_rows * pc;
    l->sum1 = off; off += pc;
    l->block2 = off; off += L * pc;
    l->junk = off; off += pc;
    l->ring2 = off; off += l->ring_rows * 64;
    l->sum2 = off; off += 64;
    l->need = off; off += pc / 4 + L;
    l->total = off + L; /* slack to align the base to 64 bytes */
    return 1;
}

static inline float *pdq_align64(float *p) {
    uintptr_t u = (uintptr_t)p;
    return (float *)((u + 63) & ~(uintptr_t)63);
}

/* Decimation grid: output i samples input (int)((i + 0.5) * n / 64), in double. */
static inline int64_t pdq_sample_index(int i, int64_t n) {
    return (int64_t)(((i + 0.5) * (double)n) / 64.0);
}

#endif
