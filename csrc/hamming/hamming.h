/* Exact Hamming-distance search over binary codes of `words` x 64 bits.
 *
 * Codes are stored row-major, `words` uint64 per code (a PDQ hash is 4 words:
 * its 32 bytes read as little-endian uint64; distance does not depend on the
 * bit order). Kernels never allocate: hits leave through a caller's sink and
 * k-NN heaps live in caller-owned (nq x k) arrays. One file per ISA. */
#ifndef TIDEHASH_HAMMING_H
#define TIDEHASH_HAMMING_H

#include <stdint.h>

#include "../common/status.h"
#include "../cpu/cpu.h"

#define HAMMING_MAX_WORDS 64 /* 4096-bit codes */

typedef struct {
    int64_t query;
    int64_t row;
    int32_t distance;
} hamming_hit;

/* Receives hits in batches; returns 0 to go on, non-zero to stop (e.g. out of memory). */
typedef int (*hamming_sink)(void *ctx, const hamming_hit *hits, int64_t n);

/* Appends a hit to a caller's batch of 256, handing full batches to the sink.
 * Returns non-zero if the sink asked to stop. (The scan loops use the macro form
 * below instead: taking the address of their counter slows the hot loop.) */
#define HAMMING_HIT_BATCH 256
#define HAMMING_EMIT(buf, nbuf, q_, row_, dist_, sink, ctx)                 \
    do {                                                                    \
        (buf)[nbuf].query = (q_);                                           \
        (buf)[nbuf].row = (row_);                                           \
        (buf)[nbuf].distance = (dist_);                                     \
        if (++(nbuf) == HAMMING_HIT_BATCH) {                                \
            (nbuf) = 0;                                                     \
            if ((sink)(ctx, buf, HAMMING_HIT_BATCH)) return TH_ESINK;  \
        }                                                                   \
    } while (0)
static inline int hamming_emit(hamming_hit *buf, int *nbuf, int64_t query, int64_t row,
                               int32_t distance, hamming_sink sink, void *ctx) {
    buf[*nbuf].query = query;
    buf[*nbuf].row = row;
    buf[*nbuf].distance = distance;
    if (++*nbuf == HAMMING_HIT_BATCH) {
        *nbuf = 0;
        return sink(ctx, buf, HAMMING_HIT_BATCH);
    }
    return 0;
}

/* Rows [0, n) of `db`; reported rows are offset by `row_base` (for partitioned scans). */
typedef struct {
    const uint64_t *db;
    int64_t n;
    int64_t row_base;
    int words;
} hamming_db;

/* Every kernel returns a th_status (common/status.h): TH_EBADARG for bad sizes or
 * null buffers, TH_ESINK when the sink asked to stop. */
typedef struct {
    int (*distances)(const uint64_t *q, int64_t nq, const hamming_db *db, int32_t *out);
    int (*range)(const uint64_t *q, int64_t nq, const hamming_db *db, int radius,
                 hamming_sink sink, void *ctx);
    int (*knn)(const uint64_t *q, int64_t nq, const hamming_db *db, int k, int32_t *dist,
               int64_t *rows);
} hamming_kernels;

/* NULL if the ISA is not compiled in or not supported by this CPU. */
const hamming_kernels *hamming_kernels_for(th_isa isa);

/* Per-ISA tables (internal). */
extern const hamming_kernels hamming_scalar;
extern const hamming_kernels hamming_avx2;
extern const hamming_kernels hamming_avx512;
extern const hamming_kernels hamming_neon;

/* k-NN heap helpers shared by all ISAs (hamming_common.c). The heap of one
 * query is a max-heap on (distance, row): its root is the worst kept result.
 * Empty slots hold distance INT32_MAX and row -1. */
void hamming_heap_init(int32_t *dist, int64_t *rows, int k);
void hamming_heap_push(int32_t *dist, int64_t *rows, int k, int32_t d, int64_t row);
/* Sorts a heap into ascending (distance, row); empty slots become (-1, -1). */
void hamming_heap_finish(int32_t *dist, int64_t *rows, int k);

#endif
