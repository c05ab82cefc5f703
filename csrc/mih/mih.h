/* Multi-index hashing (Norouzi, Punjani, Fleet: "Fast exact search in Hamming
 * space with multi-index hashing"), exact range search.
 *
 * The code is cut into m disjoint substrings. By pigeonhole, two codes within
 * distance r have at least one substring within floor(r / m) of each other, so
 * probing every key within floor(r / m) of each query substring, in a table per
 * substring, finds every hit; each candidate is then verified on the full code.
 * A hit found in table i is reported only if no earlier table j < i also matches
 * within floor(r / m), so it is reported once without a visited set.
 *
 * A table is CSR: offsets[2^len + 1] and rows[n] (rows of each key ascending).
 * Tables and all buffers belong to the caller. */
#ifndef TIDEHASH_MIH_H
#define TIDEHASH_MIH_H

#include <stdint.h>

#include "../hamming/hamming.h"

#define MIH_MAX_TABLES 64
#define MIH_MAX_BITS 32

typedef struct {
    int m;
    int words;
    int start[MIH_MAX_TABLES]; /* first bit of substring i (bit b = word b/64, bit b%64) */
    int len[MIH_MAX_TABLES];   /* its length in bits, 1..32 */
} mih_layout;

typedef struct {
    const uint32_t *const *offsets; /* m arrays of 2^len[i] + 1 */
    const uint32_t *const *rows;    /* m arrays of n */
    const uint64_t *codes;          /* n x words, row-major */
    int64_t n;
} mih_tables;

/* Each returns a th_status (common/status.h, through hamming.h). */

/* Fills one table (offsets and rows must hold 2^len + 1 and n entries). */
int mih_build_table(const uint64_t *codes, int64_t n, int words, int start, int len,
                    uint32_t *offsets, uint32_t *rows);

typedef int (*mih_range_fn)(const mih_layout *lay, const mih_tables *t, const uint64_t *q,
                            int64_t nq, int radius, hamming_sink sink, void *ctx);
int mih_range_scalar(const mih_layout *lay, const mih_tables *t, const uint64_t *q, int64_t nq,
                     int radius, hamming_sink sink, void *ctx);
int mih_range_popcnt(const mih_layout *lay, const mih_tables *t, const uint64_t *q, int64_t nq,
                     int radius, hamming_sink sink, void *ctx);

/* Probes one query would make per table at this sub-radius (for cost models). */
double mih_probes_per_table(int len, int sub_radius);

#endif
