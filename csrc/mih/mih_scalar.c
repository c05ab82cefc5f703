/* MIH probes, baseline build (software popcount where the CPU lacks POPCNT). */
#define MIH_RANGE_NAME mih_range_scalar
#include "mih_body.h"

int mih_build_table(const uint64_t *codes, int64_t n, int words, int start, int len,
                    uint32_t *offsets, uint32_t *rows) {
    if (codes == NULL || offsets == NULL || rows == NULL || n < 0 || n > (int64_t)UINT32_MAX ||
        len < 1 || len > MIH_MAX_BITS || start < 0 || start + len > 64 * words) {
        return TH_EBADARG;
    }
    const uint64_t keys = 1ull << len;
    memset(offsets, 0, (size_t)(keys + 1) * sizeof(uint32_t));
    for (int64_t r = 0; r < n; r++) offsets[substring(codes + r * words, start, len) + 1]++;
    for (uint64_t k = 0; k < keys; k++) offsets[k + 1] += offsets[k];
    /* place rows with offsets[key] as a cursor, then shift the cursors back */
    for (int64_t r = 0; r < n; r++) {
        const uint32_t key = substring(codes + r * words, start, len);
        rows[offsets[key]++] = (uint32_t)r;
    }
    for (uint64_t k = keys; k > 0; k--) offsets[k] = offsets[k - 1];
    offsets[0] = 0;
    return TH_OK;
}

double mih_probes_per_table(int len, int sub_radius) {
    double total = 0, c = 1;
    for (int w = 0; w <= sub_radius && w <= len; w++) {
        total += c;
        c = c * (len - w) / (w + 1);
    }
    return total;
}
