/* MIH probe loop; included by mih_scalar.c (baseline) and mih_popcnt.c (-mpopcnt). */
#include <string.h>

#include "mih.h"

static inline uint32_t substring(const uint64_t *code, int start, int len) {
    const int w = start >> 6, off = start & 63;
    uint64_t v = code[w] >> off;
    if (off + len > 64) v |= code[w + 1] << (64 - off);
    return (uint32_t)(v & ((len == 64 ? 0 : (1ull << len)) - 1));
}

static inline int full_distance(const uint64_t *a, const uint64_t *b, int words) {
    int d = 0;
    for (int w = 0; w < words; w++) d += __builtin_popcountll(a[w] ^ b[w]);
    return d;
}

#define PREFETCH_AHEAD 48

/* Verifies candidates cand[0..nc) of table i for query qi and emits the hits. */
static inline int verify(const mih_layout *lay, const mih_tables *t, const uint64_t *qq,
                         const uint32_t *qsub, int i, int sub_radius, int radius, int64_t qi,
                         const uint32_t *cand, int nc, hamming_hit *buf, int *nbuf,
                         hamming_sink sink, void *ctx) {
    const int words = lay->words;
    for (int c = 0; c < nc; c++) {
        if (c + PREFETCH_AHEAD < nc) {
            __builtin_prefetch(t->codes + (int64_t)cand[c + PREFETCH_AHEAD] * words);
        }
        const uint32_t row = cand[c];
        const uint64_t *code = t->codes + (int64_t)row * words;
        const int d = full_distance(code, qq, words);
        if (d > radius) continue;
        int seen = 0;
        for (int j = 0; j < i && !seen; j++) {
            const uint32_t x = substring(code, lay->start[j], lay->len[j]) ^ qsub[j];
            seen = __builtin_popcount(x) <= sub_radius;
        }
        if (seen) continue;
        if (hamming_emit(buf, nbuf, qi, row, d, sink, ctx)) return TH_ESINK;
    }
    return TH_OK;
}

#define KEY_CHUNK 256
#define CAND_CHUNK 2048

/* The probe is a chain of dependent random reads (key -> offsets -> rows ->
 * code), each a likely cache miss on a large index. It is done in stages over a
 * chunk of keys, prefetching each stage's addresses before the next stage reads
 * them, so the misses overlap instead of queueing one after another. */
int MIH_RANGE_NAME(const mih_layout *lay, const mih_tables *t, const uint64_t *q, int64_t nq,
                   int radius, hamming_sink sink, void *ctx) {
    if (lay == NULL || t == NULL || q == NULL || sink == NULL || radius < 0 || nq < 0 ||
        lay->m < 1 || lay->m > MIH_MAX_TABLES || lay->words < 1 ||
        lay->words > HAMMING_MAX_WORDS) {
        return TH_EBADARG;
    }
    const int m = lay->m, words = lay->words, sub_radius = radius / m;
    hamming_hit buf[HAMMING_HIT_BATCH];
    int nbuf = 0, st;
    uint32_t keys[KEY_CHUNK], starts[KEY_CHUNK], ends[KEY_CHUNK], cand[CAND_CHUNK];
    for (int64_t qi = 0; qi < nq; qi++) {
        const uint64_t *qq = q + qi * words;
        uint32_t qsub[MIH_MAX_TABLES];
        for (int i = 0; i < m; i++) qsub[i] = substring(qq, lay->start[i], lay->len[i]);
        for (int i = 0; i < m; i++) {
            const int len = lay->len[i];
            const uint32_t *off = t->offsets[i], *rows = t->rows[i];
            const int wmax = sub_radius < len ? sub_radius : len;
            const uint64_t limit = 1ull << len;
            int weight = 0;
            uint64_t mask = 0;
            int done = 0;
            while (!done) {
                /* stage 1: the next chunk of keys within sub_radius (Gosper order per weight) */
                int nk = 0;
                while (nk < KEY_CHUNK) {
                    keys[nk++] = qsub[i] ^ (uint32_t)mask;
                    if (weight == 0) {
                        mask = limit; /* weight 0 has the single mask 0 */
                    } else {
                        const uint64_t c = mask & (~mask + 1), r = mask + c;
                        mask = (((r ^ mask) >> 2) / c) | r;
                    }
                    if (mask >= limit) {
                        if (++weight > wmax) {
                            done = 1;
                            break;
                        }
                        mask = (1ull << weight) - 1;
                    }
                }
                for (int k = 0; k < nk && k < PREFETCH_AHEAD; k++) __builtin_prefetch(off + keys[k]);
                /* stage 2: bucket ranges, prefetching their row lists */
                for (int k = 0; k < nk; k++) {
                    if (k + PREFETCH_AHEAD < nk) __builtin_prefetch(off + keys[k + PREFETCH_AHEAD]);
                    const uint32_t b = off[keys[k]];
                    starts[k] = b;
                    ends[k] = off[keys[k] + 1];
                    __builtin_prefetch(rows + b);
                }
                /* stage 3: candidate rows, prefetching their codes */
                int nc = 0;
                for (int k = 0; k < nk; k++) {
                    for (uint32_t idx = starts[k], end = ends[k]; idx < end; idx++) {
                        if (nc == CAND_CHUNK) {
                            st = verify(lay, t, qq, qsub, i, sub_radius, radius, qi, cand, nc, buf,
                                        &nbuf, sink, ctx);
                            if (st) return st;
                            nc = 0;
                        }
                        cand[nc++] = rows[idx];
                    }
                }
                /* stage 4: verify on the full code */
                st = verify(lay, t, qq, qsub, i, sub_radius, radius, qi, cand, nc, buf, &nbuf,
                            sink, ctx);
                if (st) return st;
            }
        }
    }
    if (nbuf && sink(ctx, buf, nbuf)) return TH_ESINK;
    return TH_OK;
}
