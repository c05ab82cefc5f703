/* Merging duplicate hashes: equal fixed-width rows grouped in one pass through an
 * open-addressing hash table, and a counting sort of rows by group. Scalar C99; the
 * caller owns every buffer. */
#ifndef TIDEHASH_DEDUP_H
#define TIDEHASH_DEDUP_H

#include <stdint.h>

/* Groups equal rows of `width` bytes (1..64): group[i] is the group of row i, groups
 * numbered 0, 1, ... in order of first occurrence, and first[g] the first row of
 * group g. `table` holds 2^table_bits uint32 slots owned by the caller (their contents
 * are overwritten); 2^table_bits must exceed n, and n < 2^32 - 1. With group and first
 * both NULL only the groups are counted (is there any duplicate?). Returns the number
 * of groups, or -1 on bad arguments. */
int64_t rows_group(const uint8_t *rows, int64_t n, int width, uint32_t *table,
                   int table_bits, int64_t *group, int64_t *first);

/* Counting sort of rows by group: the rows of group g are order[offsets[g] ..
 * offsets[g + 1]), in increasing order. offsets has ngroups + 1 entries. Returns 0, or
 * -1 when a group number is outside 0..ngroups-1. */
int rows_group_order(const int64_t *group, int64_t n, int64_t ngroups, int64_t *offsets,
                     int64_t *order);

#endif
