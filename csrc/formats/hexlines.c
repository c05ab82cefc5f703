/* Hash-list line parser (see hexlines.h and README.md). Serial C99, baseline flags. */
#include "hexlines.h"

#include <string.h>

/* 0..15 for a hex digit, HEX_BAD for anything else: OR-ing the lookups of a field and
 * testing HEX_BAD once finds a bad digit without a branch per character. */
#define HEX_BAD 0x10
#define B HEX_BAD
static const uint8_t hex_value[256] = {
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,  B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, B, B, B, B, B, B,
    B, 10, 11, 12, 13, 14, 15, B, B, B, B, B, B, B, B, B,  B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, 10, 11, 12, 13, 14, 15, B, B, B, B, B, B, B, B, B,  B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,  B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,  B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,  B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,  B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
};
#undef B

static inline int is_blank(uint8_t c) { return c == ' ' || c == '\t'; }

/* Decodes the field f[0, n) into `nbytes` bytes at `dst`. */
static int hex_field(const uint8_t *f, int64_t n, int nbytes, int reject_zero, uint8_t *dst) {
    if (n != 2 * (int64_t)nbytes) {
        for (int64_t i = 0; i < n; i++)
            if (hex_value[f[i]] & HEX_BAD) return HEXLINE_NONHEX;
        return HEXLINE_LENGTH;
    }
    uint8_t bad = 0, any = 0;
    for (int i = 0; i < nbytes; i++) {
        const uint8_t hi = hex_value[f[2 * i]], lo = hex_value[f[2 * i + 1]];
        bad |= hi | lo;
        dst[i] = (uint8_t)(((hi & 15) << 4) | (lo & 15));
        any |= dst[i];
    }
    if (bad & HEX_BAD) return HEXLINE_NONHEX;
    if (reject_zero && any == 0) return HEXLINE_ZERO;
    return HEXLINE_OK;
}

/* The CSV quality field: empty (-1) or 1..3 decimal digits with a value <= 100. */
static int quality_field(const uint8_t *f, int64_t n, int16_t *q) {
    if (n == 0) {
        *q = -1;
        return HEXLINE_OK;
    }
    if (n > 3) return HEXLINE_QUALITY;
    int v = 0;
    for (int64_t i = 0; i < n; i++) {
        if (f[i] < '0' || f[i] > '9') return HEXLINE_QUALITY;
        v = v * 10 + (f[i] - '0');
    }
    if (v > 100) return HEXLINE_QUALITY;
    *q = (int16_t)v;
    return HEXLINE_OK;
}

#define LINE_LABELS_FULL (-1)

/* Parses one trimmed, non-empty line s[0, n) into slot `k` of `out`. */
static int parse_line(const uint8_t *s, int64_t n, int mode, int nbytes, int reject_zero,
                      const hexlines_out *out, int64_t k, int64_t *label_bytes) {
    uint8_t *dst = out->hashes + k * nbytes;
    if (mode == HEXLINES_PLAIN) return hex_field(s, n, nbytes, reject_zero, dst);
    if (mode == HEXLINES_PYTX) {
        if (n < 4 || memcmp(s, "pdq", 3) != 0 || !is_blank(s[3])) return HEXLINE_OTHER;
        int64_t a = 4;
        while (a < n && is_blank(s[a])) a++;
        return hex_field(s + a, n - a, nbytes, reject_zero, dst);
    }
    /* HEXLINES_PDQCSV: the filename is the rest of the line, commas and all, as the
     * reference prints it unquoted. */
    const uint8_t *c1 = memchr(s, ',', (size_t)n);
    if (n >= 5 && memcmp(s, "hash=", 5) == 0) return HEXLINE_OTHER; /* --details output */
    if (c1 == NULL) return HEXLINE_SYNTAX;
    const int64_t n1 = c1 - s;
    int code = hex_field(s, n1, nbytes, reject_zero, dst);
    if (code != HEXLINE_OK) return code;
    const uint8_t *q = c1 + 1;
    const int64_t rest = n - n1 - 1;
    const uint8_t *c2 = memchr(q, ',', (size_t)rest);
    const int64_t nq = c2 ? c2 - q : rest;
    code = quality_field(q, nq, &out->quality[k]);
    if (code != HEXLINE_OK) return code;
    const int64_t nlabel = c2 ? rest - nq - 1 : 0;
    if (nlabel > out->labels_cap - *label_bytes) return LINE_LABELS_FULL;
    if (nlabel > 0) memcpy(out->labels + *label_bytes, c2 + 1, (size_t)nlabel);
    *label_bytes += nlabel;
    out->label_ends[k] = *label_bytes;
    return HEXLINE_OK;
}

int hexlines_parse(const uint8_t *buf, int64_t len, int final, int mode, int nbytes,
                   int reject_zero, int64_t first_line, const hexlines_out *out,
                   hexlines_result *res) {
    if (buf == NULL || len < 0 || out == NULL || res == NULL || out->hashes == NULL ||
        out->line_numbers == NULL || out->cap < 1 || nbytes < 1 ||
        nbytes > HEXLINES_MAX_HASH_BYTES || mode < HEXLINES_PLAIN || mode > HEXLINES_PDQCSV)
        return HEXLINES_EBADARG;
    if (mode != HEXLINES_PLAIN && nbytes != 32) return HEXLINES_EBADARG;
    if (mode == HEXLINES_PDQCSV && (out->quality == NULL || out->label_ends == NULL ||
                                    out->labels_cap < 0 ||
                                    (out->labels == NULL && out->labels_cap > 0)))
        return HEXLINES_EBADARG;

    int status = HEXLINES_DONE;
    int64_t pos = 0, lines = 0, parsed = 0, label_bytes = 0;
    res->stop_start = res->stop_end = -1;
    res->code = HEXLINE_OK;
    while (pos < len) {
        const uint8_t *nl = memchr(buf + pos, '\n', (size_t)(len - pos));
        if (nl == NULL && !final) break; /* may continue in the next chunk */
        const int64_t end = nl ? nl - buf : len;
        const int64_t next = nl ? end + 1 : len;
        int64_t a = pos, b = end;
        while (a < b && is_blank(buf[a])) a++;
        while (b > a && (is_blank(buf[b - 1]) || buf[b - 1] == '\r')) b--;
        if (a == b || buf[a] == '#') {
            pos = next;
            lines++;
            continue;
        }
        if (parsed == out->cap) {
            status = HEXLINES_FULL;
            break;
        }
        const int code = parse_line(buf + a, b - a, mode, nbytes, reject_zero, out, parsed,
                                    &label_bytes);
        if (code == LINE_LABELS_FULL) {
            status = HEXLINES_FULL;
            break;
        }
        if (code != HEXLINE_OK) {
            status = HEXLINES_STOP;
            res->stop_start = pos;
            res->stop_end = end;
            res->code = code;
            break;
        }
        out->line_numbers[parsed++] = first_line + lines;
        pos = next;
        lines++;
    }
    res->parsed = parsed;
    res->consumed = pos;
    res->lines = lines;
    res->label_bytes = label_bytes;
    return status;
}
