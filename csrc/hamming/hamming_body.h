/* The scan loops of every ISA, written once. The including file defines:
 *   group_dist(planar_group, q, words, fw, thr, out[8]) -> bitmask of the 8 rows
 *       whose distance is <= thr; out[j] holds the distance of every row in the
 *       mask. With fw < words it may return 0 as soon as the distance over the
 *       first fw words exceeds thr for all 8 rows.
 *   partial_mask4(planar_group, q, words, fw, thr) -> zero only if no row of the 4
 *       consecutive groups is within thr over the first fw words.
 *   Optionally HAMMING_OR_QUERIES with partial_mask4_nq and or_mask_nq: the OR-bound
 *       scan of 4-word codes, that many queries at a time (see hamming_avx512.c).
 *   KERNELS_NAME, the exported hamming_kernels table.
 *
 * Tiling: the database is cut into tiles of rows that fit in L1 (32 KB). A tile
 * is transposed once into "planar" groups of 8 rows (word w of 8 rows adjacent,
 * so one vector holds one word of 8 codes and no horizontal sum is needed), then
 * every query of the batch is scanned against it while it is hot. */

#include <string.h>

#include "hamming.h"

#define TILE_WORDS 2048 /* uint64 per tile: 16 KB, half of L1 so the hit buffer and stack stay in it */

/* always inlined into a words == 4 (PDQ) copy and a generic copy, so the 256-bit
 * case gets fully unrolled loops with constant offsets */
#define HAMMING_INLINE static inline __attribute__((always_inline))

#ifdef HAMMING_OR_QUERIES
/* blocks queued by the OR-bound scan before they are resolved; one block of queries
 * writes at most 16 entries (a 4-word tile has at most 64 groups) */
#define HAMMING_OR_QUEUE 128
#if TILE_WORDS / 32 > 64
#error "a queue entry packs the group index in 6 bits"
#endif
#endif

HAMMING_INLINE int64_t tile_rows_for(int words) {
    int64_t t = TILE_WORDS / words;
    return t - t % 8;
}

/* rows [0, nrows) of a row-major block -> planar groups; the last group is zero-padded.
 * An ISA may define to_planar_full8(rows, words, group) -> 1 if it transposed a whole
 * group of 8 rows itself (vector shuffles), 0 to leave it to the portable loop. */
HAMMING_INLINE void to_planar(const uint64_t *rows, int64_t nrows, int words, uint64_t *planar) {
    const int64_t groups = (nrows + 7) / 8;
    int64_t g = 0;
#ifdef HAVE_TO_PLANAR_FULL8
    for (; g < nrows / 8; g++) {
        if (!to_planar_full8(rows + g * 8 * words, words, planar + g * 8 * words)) break;
    }
#endif
    for (; g < groups; g++) {
        uint64_t *pg = planar + g * 8 * words;
        for (int j = 0; j < 8; j++) {
            const int64_t r = g * 8 + j;
            for (int w = 0; w < words; w++) pg[w * 8 + j] = r < nrows ? rows[r * words + w] : 0;
        }
    }
}

/* Fetches up to `lines` cache lines of [p, end) and returns where to go on. The range
 * scan calls it a few lines per query while a tile is scanned (all 16 KB of the next
 * tile after 64 to 96 queries), so that the next tile is already in cache when it is
 * transposed instead of coming from memory in one burst. */
HAMMING_INLINE const char *prefetch_lines(const char *p, const char *end, int lines) {
    for (int i = 0; i < lines && p < end; i++, p += 64) __builtin_prefetch(p, 0, 3);
    return p;
}

static unsigned valid_mask(int64_t remaining) {
    return remaining >= 8 ? 0xffu : (1u << remaining) - 1u;
}

/* How many leading words the cheap filter sums: the fewest w whose expected
 * distance between unrelated codes (32 bits a word, sd 4 sqrt(w)) exceeds the
 * threshold by 4.5 sd, so that a block of 32 unrelated rows is almost never let
 * through. Only speed depends on this choice, never results. */
static inline int filter_words(int32_t thr, int words) {
    for (int w = 1; w < words; w++) {
        const int64_t margin = 32 * (int64_t)w - thr;
        if (margin > 0 && margin * margin >= 324 * (int64_t)w) return w;
    }
    return words;
}

static int bad_args(const uint64_t *q, int64_t nq, const hamming_db *db) {
    return q == NULL || db == NULL || nq < 0 || db->n < 0 || (db->n > 0 && db->db == NULL) ||
           db->words < 1 || db->words > HAMMING_MAX_WORDS;
}

HAMMING_INLINE int distances_impl(const uint64_t *q, int64_t nq, const hamming_db *db,
                                  int32_t *out, const int words) {
    const int64_t tile = tile_rows_for(words), n = db->n;
    uint64_t planar[TILE_WORDS];
    for (int64_t t0 = 0; t0 < n; t0 += tile) {
        const int64_t nt = n - t0 < tile ? n - t0 : tile;
        to_planar(db->db + t0 * words, nt, words, planar);
        for (int64_t qi = 0; qi < nq; qi++) {
            const uint64_t *qq = q + qi * words;
            int32_t *o = out + qi * n + t0;
            for (int64_t g = 0; g * 8 < nt; g++) {
                int32_t d[8] = {0};
                group_dist(planar + g * 8 * words, qq, words, words, INT32_MAX, d);
                const int64_t m = nt - g * 8 < 8 ? nt - g * 8 : 8;
                for (int64_t j = 0; j < m; j++) o[g * 8 + j] = d[j];
            }
        }
    }
    return TH_OK;
}

HAMMING_INLINE int range_impl(const uint64_t *q, int64_t nq, const hamming_db *db, int radius,
                              hamming_sink sink, void *ctx, const int words, const int fw) {
    const int64_t tile = tile_rows_for(words), n = db->n;
    uint64_t planar[TILE_WORDS];
    hamming_hit buf[HAMMING_HIT_BATCH];
    int nbuf = 0;
    for (int64_t t0 = 0; t0 < n; t0 += tile) {
        const int64_t nt = n - t0 < tile ? n - t0 : tile;
        const int64_t groups = (nt + 7) / 8;
        to_planar(db->db + t0 * words, nt, words, planar);
        const int64_t nnext = n - t0 - nt < tile ? n - t0 - nt : tile;
        const char *pf = (const char *)(db->db + (t0 + nt) * words);
        const char *const pf_end = pf + nnext * words * (int64_t)sizeof(uint64_t);
        int64_t q0 = 0;
#ifdef HAMMING_OR_QUERIES
        if (fw == 0 && words == 4) { /* queries in blocks, sharing the tile's loads */
            /* Blocks of 32 rows that pass the OR bound are queued without a branch
             * and resolved after the scan: at r = 52 one block in ten passes, at
             * random, and the branch mispredicted on each pass cost more than the
             * resolution. One entry per block, at a position that depends only on
             * the blocks before it: queueing each group at a position that depends
             * on the block's own test (four stores whose addresses wait for the
             * test) made the scan ~11 % slower in about half the processes (calls of
             * 240 queries). An entry is q0 * 64 + the block's first group; the queue
             * keeps the scan's order. */
            int64_t queue[HAMMING_OR_QUEUE];
            uint32_t queue_live[HAMMING_OR_QUEUE];
            while (q0 + HAMMING_OR_QUERIES <= nq) {
                int nqueue = 0;
                for (; q0 + HAMMING_OR_QUERIES <= nq && nqueue <= HAMMING_OR_QUEUE - 16;
                     q0 += HAMMING_OR_QUERIES) {
                    uint64_t qp[HAMMING_OR_QUERIES][4];
                    memcpy(qp, q + q0 * 4, sizeof qp);
                    pf = prefetch_lines(pf, pf_end, 16);
                    int64_t g = 0;
                    for (; g + 4 <= groups; g += 4) {
                        const uint32_t live = partial_mask4_nq(
                            planar + g * 32, (const uint64_t(*)[4])qp, radius);
                        queue[nqueue] = q0 * 64 + g;
                        queue_live[nqueue] = live;
                        nqueue += live != 0;
                    }
                    if (g < groups) { /* a tail of < 4 groups: check each */
                        queue[nqueue] = q0 * 64 + g;
                        queue_live[nqueue++] = 0xffffffffu >> (32 - 8 * (groups - g));
                    }
                }
                for (int e = 0; e < nqueue; e++) {
                    const int64_t qe = queue[e] >> 6;
                    const uint64_t(*qb)[4] = (const uint64_t(*)[4])(q + qe * 4);
                    for (uint32_t live = queue_live[e]; live;) { /* byte i: group i of the block */
                        const int64_t gg = (queue[e] & 63) + (__builtin_ctz(live) >> 3);
                        live &= ~(0xffu << (8 * (gg & 3)));
                        /* byte k: the rows within the OR bound of query k, usually of one query */
                        for (uint64_t m = or_mask_nq(planar + gg * 32, qb, radius); m;) {
                            const int k = __builtin_ctzll(m) >> 3;
                            int32_t d[8];
                            unsigned rows = (unsigned)(m >> (8 * k)) & 0xffu;
                            m &= ~(0xffull << (8 * k));
                            rows &= group_dist(planar + gg * 32, qb[k], 4, 4, radius, d);
                            rows &= valid_mask(nt - gg * 8); /* padding of the last group */
                            while (rows) {
                                const int j = __builtin_ctz(rows);
                                rows &= rows - 1;
                                HAMMING_EMIT(buf, nbuf, qe + k, db->row_base + t0 + gg * 8 + j,
                                             d[j], sink, ctx);
                            }
                        }
                    }
                }
            }
        }
#endif
        for (int64_t qi = q0; qi < nq; qi++) {
            /* a local copy of the query cannot alias the hit buffer, so its
             * broadcasts stay in registers across the scan */
            uint64_t qq[HAMMING_MAX_WORDS];
            memcpy(qq, q + qi * words, (size_t)words * sizeof(uint64_t));
            pf = prefetch_lines(pf, pf_end, 4);
            int64_t g = 0;
            for (;;) {
                /* skip blocks of 4 groups (32 rows) with no candidate at once */
                while (g + 4 <= groups &&
                       partial_mask4(planar + g * 8 * words, qq, words, fw, radius) == 0) {
                    g += 4;
                }
                if (g >= groups) break;
                const int64_t g_end = g + 4 <= groups ? g + 4 : groups;
                for (; g < g_end; g++) {
                    int32_t d[8];
                    /* fw == 0: the block passed the OR bound; sum every word */
                    unsigned m = group_dist(planar + g * 8 * words, qq, words,
                                            fw == 0 ? words : fw, radius, d);
                    if (m == 0) continue;
                    m &= valid_mask(nt - g * 8);
                    while (m) {
                        const int j = __builtin_ctz(m);
                        m &= m - 1;
                        HAMMING_EMIT(buf, nbuf, qi, db->row_base + t0 + g * 8 + j, d[j], sink,
                                     ctx);
                    }
                }
            }
        }
    }
    if (nbuf && sink(ctx, buf, nbuf)) return TH_ESINK;
    return TH_OK;
}

HAMMING_INLINE int knn_impl(const uint64_t *q, int64_t nq, const hamming_db *db, int k,
                            int32_t *dist, int64_t *rows, const int words) {
    const int64_t tile = tile_rows_for(words), n = db->n;
    uint64_t planar[TILE_WORDS];
    for (int64_t qi = 0; qi < nq; qi++) hamming_heap_init(dist + qi * k, rows + qi * k, k);
    for (int64_t t0 = 0; t0 < n; t0 += tile) {
        const int64_t nt = n - t0 < tile ? n - t0 : tile;
        const int64_t groups = (nt + 7) / 8;
        to_planar(db->db + t0 * words, nt, words, planar);
        for (int64_t qi = 0; qi < nq; qi++) {
            uint64_t qq[HAMMING_MAX_WORDS];
            memcpy(qq, q + qi * words, (size_t)words * sizeof(uint64_t));
            int32_t *hd = dist + qi * k;
            int64_t *hr = rows + qi * k;
            /* rows arrive in increasing order, so an equal distance never
             * displaces a kept row: only strictly smaller ones can enter */
#define KNN_THRESHOLD (hd[0] == INT32_MAX ? INT32_MAX : hd[0] - 1)
            int64_t g = 0;
            while (g < groups && KNN_THRESHOLD >= 0) {
                int32_t thr = KNN_THRESHOLD;
                int fw = filter_words(thr, words);
                while (g + 4 <= groups &&
                       partial_mask4(planar + g * 8 * words, qq, words, fw, thr) == 0) {
                    g += 4;
                }
                const int64_t g_end = g + 4 <= groups ? g + 4 : groups;
                for (; g < g_end; g++) {
                    thr = KNN_THRESHOLD;
                    if (thr < 0) break;
                    fw = filter_words(thr, words);
                    int32_t d[8];
                    unsigned m;
                    if (words == 4) { /* constant filter widths keep the PDQ copy unrolled */
                        switch (fw) {
                        case 1: m = group_dist(planar + g * 32, qq, 4, 1, thr, d); break;
                        case 2: m = group_dist(planar + g * 32, qq, 4, 2, thr, d); break;
                        case 3: m = group_dist(planar + g * 32, qq, 4, 3, thr, d); break;
                        default: m = group_dist(planar + g * 32, qq, 4, 4, thr, d); break;
                        }
                    } else {
                        m = group_dist(planar + g * 8 * words, qq, words, fw, thr, d);
                    }
                    if (m == 0) continue;
                    m &= valid_mask(nt - g * 8);
                    while (m) {
                        const int j = __builtin_ctz(m);
                        m &= m - 1;
                        hamming_heap_push(hd, hr, k, d[j], db->row_base + t0 + g * 8 + j);
                    }
                }
            }
#undef KNN_THRESHOLD
        }
    }
    for (int64_t qi = 0; qi < nq; qi++) hamming_heap_finish(dist + qi * k, rows + qi * k, k);
    return TH_OK;
}

#ifdef HAMMING_DIRECT_MAX_QUERIES
/* A batch of one query streams the database once anyway: scanning it row-major
 * with scalar POPCNT (several per cycle) beats transposing every tile for it.
 * Same early exit, same results. Kept out of line and out of the vectoriser's
 * reach (optimize attribute on these functions only): vectorising one row's few
 * words only adds shuffles. */
#define HAMMING_SCALAR_ROWS static __attribute__((noinline, optimize("no-tree-vectorize", \
                                                                      "no-tree-slp-vectorize")))

HAMMING_SCALAR_ROWS int range_direct(const uint64_t *q, int64_t nq, const hamming_db *db,
                                     int radius, hamming_sink sink, void *ctx, const int fw) {
    const int words = db->words;
    hamming_hit buf[HAMMING_HIT_BATCH];
    int nbuf = 0;
    for (int64_t qi = 0; qi < nq; qi++) {
        uint64_t qq[HAMMING_MAX_WORDS];
        memcpy(qq, q + qi * words, (size_t)words * sizeof(uint64_t));
        const uint64_t *c = db->db;
        for (int64_t r = 0; r < db->n; r++, c += words) {
            int d;
            if (words == 4) { /* PDQ: explicit, so nothing is left to a loop */
                d = __builtin_popcountll(c[0] ^ qq[0]);
                if (fw >= 2) d += __builtin_popcountll(c[1] ^ qq[1]);
                if (fw >= 3) d += __builtin_popcountll(c[2] ^ qq[2]);
                if (fw >= 4) d += __builtin_popcountll(c[3] ^ qq[3]);
                if (d > radius) continue;
                if (fw < 2) d += __builtin_popcountll(c[1] ^ qq[1]);
                if (fw < 3) d += __builtin_popcountll(c[2] ^ qq[2]);
                if (fw < 4) d += __builtin_popcountll(c[3] ^ qq[3]);
            } else {
                d = 0;
                for (int w = 0; w < fw; w++) d += __builtin_popcountll(c[w] ^ qq[w]);
                if (d > radius) continue;
                for (int w = fw; w < words; w++) d += __builtin_popcountll(c[w] ^ qq[w]);
            }
            if (d > radius) continue;
            HAMMING_EMIT(buf, nbuf, qi, db->row_base + r, d, sink, ctx);
        }
    }
    if (nbuf && sink(ctx, buf, nbuf)) return TH_ESINK;
    return TH_OK;
}

HAMMING_SCALAR_ROWS int knn_direct(const uint64_t *q, int64_t nq, const hamming_db *db, int k,
                                   int32_t *dist, int64_t *rows) {
    const int words = db->words;
    for (int64_t qi = 0; qi < nq; qi++) {
        uint64_t qq[HAMMING_MAX_WORDS];
        memcpy(qq, q + qi * words, (size_t)words * sizeof(uint64_t));
        int32_t *hd = dist + qi * k;
        int64_t *hr = rows + qi * k;
        hamming_heap_init(hd, hr, k);
        const uint64_t *c = db->db;
        int32_t thr = INT32_MAX; /* only strictly smaller distances can enter a full heap */
        for (int64_t r = 0; r < db->n; r++, c += words) {
            int d;
            if (words == 4) {
                d = __builtin_popcountll(c[0] ^ qq[0]) + __builtin_popcountll(c[1] ^ qq[1]) +
                    __builtin_popcountll(c[2] ^ qq[2]) + __builtin_popcountll(c[3] ^ qq[3]);
            } else {
                d = 0;
                for (int w = 0; w < words; w++) d += __builtin_popcountll(c[w] ^ qq[w]);
            }
            if (d > thr) continue;
            hamming_heap_push(hd, hr, k, d, db->row_base + r);
            if (hd[0] != INT32_MAX) {
                thr = hd[0] - 1;
                if (thr < 0) break;
            }
        }
        hamming_heap_finish(hd, hr, k);
    }
    return TH_OK;
}
#endif

static int scan_distances(const uint64_t *q, int64_t nq, const hamming_db *db, int32_t *out) {
    if (bad_args(q, nq, db) || out == NULL) return TH_EBADARG;
    return db->words == 4 ? distances_impl(q, nq, db, out, 4)
                          : distances_impl(q, nq, db, out, db->words);
}

static int scan_range(const uint64_t *q, int64_t nq, const hamming_db *db, int radius,
                      hamming_sink sink, void *ctx) {
    if (bad_args(q, nq, db) || sink == NULL || radius < 0) return TH_EBADARG;
    const int fw = filter_words(radius, db->words);
#ifdef HAMMING_DIRECT_MAX_QUERIES
    if (nq <= HAMMING_DIRECT_MAX_QUERIES) return range_direct(q, nq, db, radius, sink, ctx, fw);
#endif
#ifdef HAMMING_OR_BOUND_MAX
    if (db->words == 4 && radius >= HAMMING_OR_BOUND_MIN && radius <= HAMMING_OR_BOUND_MAX) {
        return range_impl(q, nq, db, radius, sink, ctx, 4, 0);
    }
#endif
    if (db->words == 4) { /* PDQ: one fully unrolled copy per filter width */
        switch (fw) {
        case 1: return range_impl(q, nq, db, radius, sink, ctx, 4, 1);
        case 2: return range_impl(q, nq, db, radius, sink, ctx, 4, 2);
        case 3: return range_impl(q, nq, db, radius, sink, ctx, 4, 3);
        default: return range_impl(q, nq, db, radius, sink, ctx, 4, 4);
        }
    }
    return range_impl(q, nq, db, radius, sink, ctx, db->words, fw);
}

static int scan_knn(const uint64_t *q, int64_t nq, const hamming_db *db, int k, int32_t *dist,
                    int64_t *rows) {
    if (bad_args(q, nq, db) || k < 1 || dist == NULL || rows == NULL) return TH_EBADARG;
#ifdef HAMMING_DIRECT_MAX_QUERIES
    if (nq <= HAMMING_DIRECT_MAX_QUERIES) return knn_direct(q, nq, db, k, dist, rows);
#endif
    return db->words == 4 ? knn_impl(q, nq, db, k, dist, rows, 4)
                          : knn_impl(q, nq, db, k, dist, rows, db->words);
}

const hamming_kernels KERNELS_NAME = {scan_distances, scan_range, scan_knn};
