/* Differential fuzzer for the Hamming and MIH kernels: every ISA must give the
 * scalar kernel's distances, range hits and k-NN lists, and MIH must give the
 * flat range hits, on exact-size buffers (run under ASan+UBSan by .ci/fuzz). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hamming/hamming.h"
#include "mih/mih.h"

typedef struct {
    hamming_hit *h;
    int64_t n;
} hits;

static int collect(void *ctx, const hamming_hit *h, int64_t n) {
    hits *a = ctx;
    hamming_hit *p = realloc(a->h, (size_t)(a->n + n) * sizeof *h);
    if (p == NULL) return 1;
    a->h = p;
    memcpy(a->h + a->n, h, (size_t)n * sizeof *h);
    a->n += n;
    return 0;
}

static int by_query_row(const void *x, const void *y) {
    const hamming_hit *a = x, *b = y;
    if (a->query != b->query) return a->query < b->query ? -1 : 1;
    if (a->row != b->row) return a->row < b->row ? -1 : 1;
    return 0;
}

static void same_hits(hits *a, hits *b, const char *what) {
    if (a->n) qsort(a->h, (size_t)a->n, sizeof *a->h, by_query_row);
    if (b->n) qsort(b->h, (size_t)b->n, sizeof *b->h, by_query_row);
    if (a->n != b->n) {
        fprintf(stderr, "MISMATCH %s: %lld vs %lld hits\n", what, (long long)a->n, (long long)b->n);
        abort();
    }
    for (int64_t i = 0; i < a->n; i++) {
        if (a->h[i].query != b->h[i].query || a->h[i].row != b->h[i].row ||
            a->h[i].distance != b->h[i].distance) {
            fprintf(stderr, "MISMATCH %s at hit %lld\n", what, (long long)i);
            abort();
        }
    }
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void one_case(void) {
    const int words = 1 + (int)(next() % 6) * ((next() & 3) ? 1 : 3);
    /* up to 17 queries: the AVX-512 OR-bound path scans them 6 at a time */
    const int64_t n = (int64_t)(next() % 3000), nq = 1 + (int64_t)(next() % 17);
    uint64_t *db = malloc((size_t)(n ? n : 1) * words * 8), *q = malloc((size_t)nq * words * 8);
    for (int64_t i = 0; i < n * words; i++) db[i] = next();
    for (int64_t i = 1; i < n; i++) { /* families of near-duplicates */
        if (next() % 3 == 0) {
            memcpy(db + i * words, db + (i - 1) * words, (size_t)words * 8);
            db[i * words + next() % words] ^= 1ull << (next() % 64);
        }
    }
    for (int64_t i = 0; i < nq * words; i++) q[i] = next();
    for (int64_t i = 0; n && i < nq; i++) { /* most queries: a row with up to 63 bits flipped */
        if (next() % 4 == 0) continue;
        memcpy(q + i * words, db + (int64_t)(next() % n) * words, (size_t)words * 8);
        for (int f = (int)(next() % 64); f > 0; f--) {
            q[i * words + next() % words] ^= 1ull << (next() % 64);
        }
    }
    /* a third of the cases at r = 32..55, where the 256-bit filters change */
    const int radius = next() % 3 == 0 ? 32 + (int)(next() % 24)
                                       : (int)(next() % (64 * words + 1));
    const int k = 1 + (int)(next() % 20);
    hamming_db d = {db, n, (int64_t)(next() % 1000), words};
    const hamming_kernels *ref = hamming_kernels_for(TH_ISA_SCALAR);
    int32_t *dist0 = malloc((size_t)(nq * (n ? n : 1)) * 4), *dist1 = malloc((size_t)(nq * (n ? n : 1)) * 4);
    int32_t *kd0 = malloc((size_t)nq * k * 4), *kd1 = malloc((size_t)nq * k * 4);
    int64_t *kr0 = malloc((size_t)nq * k * 8), *kr1 = malloc((size_t)nq * k * 8);
    hits r0 = {0};
    if (ref->distances(q, nq, &d, dist0) || ref->range(q, nq, &d, radius, collect, &r0) ||
        ref->knn(q, nq, &d, k, kd0, kr0)) {
        abort();
    }
    for (int isa = 1; isa < TH_ISA_COUNT; isa++) {
        const hamming_kernels *kern = hamming_kernels_for((th_isa)isa);
        if (kern == NULL) continue;
        hits r1 = {0};
        kern->distances(q, nq, &d, dist1);
        if (n && memcmp(dist0, dist1, (size_t)(nq * n) * 4)) {
            fprintf(stderr, "MISMATCH distances isa %d\n", isa);
            abort();
        }
        kern->range(q, nq, &d, radius, collect, &r1);
        hits copy = {malloc((size_t)(r0.n ? r0.n : 1) * sizeof *r0.h), r0.n};
        if (r0.n) memcpy(copy.h, r0.h, (size_t)r0.n * sizeof *r0.h);
        same_hits(&copy, &r1, "range");
        free(copy.h);
        free(r1.h);
        kern->knn(q, nq, &d, k, kd1, kr1);
        if (memcmp(kd0, kd1, (size_t)nq * k * 4) || memcmp(kr0, kr1, (size_t)nq * k * 8)) {
            fprintf(stderr, "MISMATCH knn isa %d\n", isa);
            abort();
        }
    }
    /* MIH over the same rows (row_base 0), m tables of <= 16 bits */
    if (n > 0) {
        mih_layout lay;
        lay.words = words;
        lay.m = (64 * words + 15) / 16;
        int start = 0;
        for (int i = 0; i < lay.m; i++) {
            lay.start[i] = start;
            lay.len[i] = (64 * words - start) / (lay.m - i);
            start += lay.len[i];
        }
        uint32_t *offs[MIH_MAX_TABLES], *rows[MIH_MAX_TABLES];
        for (int i = 0; i < lay.m; i++) {
            offs[i] = malloc(((size_t)1 << lay.len[i]) * 4 + 4);
            rows[i] = malloc((size_t)n * 4);
            if (mih_build_table(db, n, words, lay.start[i], lay.len[i], offs[i], rows[i])) abort();
        }
        mih_tables t = {(const uint32_t *const *)offs, (const uint32_t *const *)rows, db, n};
        hamming_db d0 = {db, n, 0, words};
        hits flat = {0}, mih = {0};
        const int r2 = radius % (16 * words + 1);
        ref->range(q, nq, &d0, r2, collect, &flat);
        if (mih_range_scalar(&lay, &t, q, nq, r2, collect, &mih)) abort();
        same_hits(&flat, &mih, "mih");
        free(flat.h);
        free(mih.h);
        for (int i = 0; i < lay.m; i++) {
            free(offs[i]);
            free(rows[i]);
        }
    }
    free(r0.h);
    free(db), free(q), free(dist0), free(dist1), free(kd0), free(kd1), free(kr0), free(kr1);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 500;
    rng_state ^= argc > 2 ? (uint64_t)atol(argv[2]) * 0x9e3779b97f4a7c15ull : 0;
    th_cpu_init();
    for (long i = 0; i < iters; i++) one_case();
    printf("fuzz_hamming: %ld cases, every ISA == scalar, MIH == flat\n", iters);
    return 0;
}
