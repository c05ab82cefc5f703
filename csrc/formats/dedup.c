/* Duplicate rows (see dedup.h). Serial C99, baseline flags. */
#include "dedup.h"

#include <string.h>

#define DEDUP_BATCH 16

static inline uint64_t load64(const uint8_t *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* Rows are hashes already, but not every list is random (a list of near-identical
 * hashes differs in a few bits), so the words are mixed before taking the top bits. */
static inline uint64_t row_key(const uint8_t *row, int width) {
    uint64_t h = 0x9E3779B97F4A7C15ull * (uint64_t)width;
    int i = 0;
    for (; i + 8 <= width; i += 8) h = (h ^ load64(row + i)) * 0xBF58476D1CE4E5B9ull;
    if (i < width) {
        uint64_t tail = 0;
        memcpy(&tail, row + i, (size_t)(width - i));
        h = (h ^ tail) * 0xBF58476D1CE4E5B9ull;
    }
    h ^= h >> 31;
    h *= 0x94D049BB133111EBull;
    return h ^ (h >> 29);
}

int64_t rows_group(const uint8_t *rows, int64_t n, int width, uint32_t *table,
                   int table_bits, int64_t *group, int64_t *first) {
    if (n < 0 || width < 1 || width > 64 || table_bits < 1 || table_bits > 32 ||
        n >= (int64_t)UINT32_MAX || (n > 0 && (rows == NULL || table == NULL)) ||
        (group == NULL) != (first == NULL))
        return -1;
    const uint64_t size = (uint64_t)1 << table_bits, mask = size - 1;
    if ((uint64_t)n >= size) return -1; /* a full table would never find an empty slot */
    if (n == 0) return 0;
    memset(table, 0, (size_t)size * sizeof *table); /* slot = row + 1; 0 = empty */
    int64_t groups = 0;
    /* The table is far larger than the caches: the slots of a batch of rows are
     * computed and prefetched before any is probed. Rows are still inserted one at a
     * time, in order, so a row sees every earlier row of its batch. */
    uint64_t slots[DEDUP_BATCH];
    for (int64_t i0 = 0; i0 < n; i0 += DEDUP_BATCH) {
        const int m = n - i0 < DEDUP_BATCH ? (int)(n - i0) : DEDUP_BATCH;
        for (int k = 0; k < m; k++) {
            slots[k] = row_key(rows + (i0 + k) * width, width) >> (64 - table_bits);
            __builtin_prefetch(&table[slots[k]]);
        }
        for (int k = 0; k < m; k++) {
            const int64_t i = i0 + k;
            const uint8_t *row = rows + i * width;
            uint64_t slot = slots[k];
            for (;;) {
                const uint32_t held = table[slot];
                if (held == 0) {
                    table[slot] = (uint32_t)(i + 1);
                    if (group != NULL) {
                        first[groups] = i;
                        group[i] = groups;
                    }
                    groups++;
                    break;
                }
                if (memcmp(rows + (int64_t)(held - 1) * width, row, (size_t)width) == 0) {
                    if (group != NULL) group[i] = group[held - 1];
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
    }
    return groups;
}

int rows_group_order(const int64_t *group, int64_t n, int64_t ngroups, int64_t *offsets,
                     int64_t *order) {
    if (n < 0 || ngroups < 0 || offsets == NULL || (n > 0 && (group == NULL || order == NULL)))
        return -1;
    for (int64_t g = 0; g <= ngroups; g++) offsets[g] = 0;
    for (int64_t i = 0; i < n; i++) {
        if (group[i] < 0 || group[i] >= ngroups) return -1;
        offsets[group[i] + 1]++;
    }
    for (int64_t g = 0; g < ngroups; g++) offsets[g + 1] += offsets[g];
    /* offsets[g] is used as group g's write cursor, then restored by one shift */
    for (int64_t i = 0; i < n; i++) order[offsets[group[i]]++] = i;
    for (int64_t g = ngroups; g > 0; g--) offsets[g] = offsets[g - 1];
    offsets[0] = 0;
    return 0;
}
