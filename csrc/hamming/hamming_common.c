#include <stddef.h>

#include "hamming.h"

const hamming_kernels *hamming_kernels_for(th_isa isa) {
    if (!th_isa_supported(isa)) return NULL;
    switch (isa) {
    case TH_ISA_SCALAR: return &hamming_scalar;
#if defined(__x86_64__) || defined(_M_X64)
    case TH_ISA_AVX2: return &hamming_avx2;
    case TH_ISA_AVX512: return &hamming_avx512;
#endif
#if defined(__aarch64__)
    case TH_ISA_NEON: return &hamming_neon;
#endif
    default: return NULL;
    }
}

static int worse(int32_t da, int64_t ra, int32_t db, int64_t rb) {
    /* (da, ra) ranks after (db, rb); empty slots (row -1, INT32_MAX) rank last */
    if (da != db) return da > db;
    if (ra < 0 || rb < 0) return ra < 0 && rb >= 0;
    return ra > rb;
}

void hamming_heap_init(int32_t *dist, int64_t *rows, int k) {
    for (int i = 0; i < k; i++) {
        dist[i] = INT32_MAX;
        rows[i] = -1;
    }
}

static void sift_down(int32_t *dist, int64_t *rows, int k, int i) {
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < k && worse(dist[l], rows[l], dist[m], rows[m])) m = l;
        if (r < k && worse(dist[r], rows[r], dist[m], rows[m])) m = r;
        if (m == i) return;
        int32_t td = dist[i];
        int64_t tr = rows[i];
        dist[i] = dist[m];
        rows[i] = rows[m];
        dist[m] = td;
        rows[m] = tr;
        i = m;
    }
}

void hamming_heap_push(int32_t *dist, int64_t *rows, int k, int32_t d, int64_t row) {
    if (!worse(dist[0], rows[0], d, row)) return; /* not better than the worst kept */
    dist[0] = d;
    rows[0] = row;
    sift_down(dist, rows, k, 0);
}

void hamming_heap_finish(int32_t *dist, int64_t *rows, int k) {
    for (int end = k - 1; end > 0; end--) {
        int32_t td = dist[0];
        int64_t tr = rows[0];
        dist[0] = dist[end];
        rows[0] = rows[end];
        dist[end] = td;
        rows[end] = tr;
        sift_down(dist, rows, end, 0);
    }
    for (int i = 0; i < k; i++) {
        if (rows[i] < 0) dist[i] = -1;
    }
}
