/* NEON Hamming kernel against the scalar one: distances, range and k-NN on sizes
 * around group and tile widths (run by .ci/neon under qemu on x86 hosts). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hamming/hamming.h"
typedef struct { hamming_hit *h; int64_t n; } acc;
static int sink(void *ctx, const hamming_hit *h, int64_t n) { acc *a = ctx; a->h = realloc(a->h, (a->n + n) * sizeof *h); memcpy(a->h + a->n, h, n * sizeof *h); a->n += n; return 0; }
static int cmp(const void *x, const void *y) { const hamming_hit *a = x, *b = y; if (a->query != b->query) return a->query < b->query ? -1 : 1; if (a->row != b->row) return a->row < b->row ? -1 : 1; return 0; }
int main(void) {
    th_cpu_init();
    const hamming_kernels *s = hamming_kernels_for(TH_ISA_SCALAR), *v = hamming_kernels_for(TH_ISA_NEON);
    if (!v) { printf("no neon\n"); return 1; }
    uint64_t st = 12345;
    int ns[] = {0, 1, 7, 8, 9, 33, 1023, 1025, 5000}; int ws[] = {1, 3, 4, 5, 8, 40};
    long cases = 0;
    for (int a = 0; a < 9; a++) for (int b = 0; b < 6; b++) {
        int64_t n = ns[a]; int W = ws[b]; int64_t nq = 5;
        uint64_t *db = malloc((n + 1) * W * 8), *q = malloc(nq * W * 8);
        for (int64_t i = 0; i < n * W; i++) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; db[i] = st; }
        for (int64_t i = 0; i < nq * W; i++) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; q[i] = st; }
        if (n > 3) { memcpy(q, db + 2 * W, W * 8); q[0] ^= 0x101; memcpy(q + W, db + (n - 1) * W, W * 8); }
        hamming_db d = {db, n, 0, W};
        int32_t *o1 = malloc((n * nq + 1) * 4), *o2 = malloc((n * nq + 1) * 4);
        s->distances(q, nq, &d, o1); v->distances(q, nq, &d, o2);
        if (memcmp(o1, o2, n * nq * 4)) { printf("distances differ n=%lld W=%d\n", (long long)n, W); return 1; }
        int radii[] = {0, 3, 16 * W, 32 * W - 5, 64 * W};
        for (int r = 0; r < 5; r++) {
            acc x = {0}, y = {0};
            s->range(q, nq, &d, radii[r], sink, &x); v->range(q, nq, &d, radii[r], sink, &y);
            qsort(x.h, x.n, sizeof *x.h, cmp); if (y.n) qsort(y.h, y.n, sizeof *y.h, cmp);
            if (x.n != y.n) { printf("range count differs n=%lld W=%d r=%d\n", (long long)n, W, radii[r]); return 1; }
            for (int64_t i = 0; i < x.n; i++) if (x.h[i].row != y.h[i].row || x.h[i].distance != y.h[i].distance) { printf("range differs\n"); return 1; }
            free(x.h); free(y.h); cases++;
        }
        for (int k = 1; k <= 12; k += 11) {
            int32_t *d1 = malloc(nq * k * 4), *d2 = malloc(nq * k * 4); int64_t *r1 = malloc(nq * k * 8), *r2 = malloc(nq * k * 8);
            s->knn(q, nq, &d, k, d1, r1); v->knn(q, nq, &d, k, d2, r2);
            if (memcmp(d1, d2, nq * k * 4) || memcmp(r1, r2, nq * k * 8)) { printf("knn differs n=%lld W=%d k=%d\n", (long long)n, W, k); return 1; }
            cases++;
        }
        free(db); free(q); free(o1); free(o2);
    }
    printf("neon == scalar on %ld cases\n", cases);
    return 0;
}
