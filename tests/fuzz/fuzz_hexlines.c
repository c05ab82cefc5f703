/* Differential fuzzer for csrc/formats (run under ASan+UBSan by .ci/fuzz):
 *
 * - hexlines_parse, driven chunk by chunk the way tidehash/formats/_lines.py drives it
 *   (resume after a stopped line, drain when full, more bytes when a line is cut),
 *   with tiny output and label capacities, must report exactly the entries and
 *   stopped lines of a naive reference that looks at one whole line at a time;
 * - rows_group / rows_group_order must agree with an O(n^2) search.
 *
 *   libFuzzer:  clang -fsanitize=fuzzer,address,undefined ... (LLVMFuzzerTestOneInput)
 *   standalone: gcc -fsanitize=address,undefined -DTH_FUZZ_MAIN ... ; ./fuzz_hexlines N SEED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/dedup.h"
#include "formats/hexlines.h"

#define MAX_ITEMS ((1 << 14) + 1) /* an item per line at most */

typedef struct {
    int64_t line;
    int code; /* HEXLINE_OK for an entry */
    uint8_t hash[32];
    int16_t quality;
    int64_t label_start, label_len; /* into the input (reference) or labels (parser) */
} item;

typedef struct {
    item v[MAX_ITEMS];
    int n;
} items;

static void fail(const char *what, long a, long b) {
    fprintf(stderr, "MISMATCH %s: %ld vs %ld\n", what, a, b);
    abort();
}

static int hexval(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int blank(uint8_t c) { return c == ' ' || c == '\t'; }

static int ref_hash(const uint8_t *f, int64_t n, int nbytes, int reject_zero, uint8_t *out) {
    for (int64_t i = 0; i < n; i++)
        if (hexval(f[i]) < 0) return HEXLINE_NONHEX;
    if (n != 2 * nbytes) return HEXLINE_LENGTH;
    int any = 0;
    for (int i = 0; i < nbytes; i++) {
        out[i] = (uint8_t)(hexval(f[2 * i]) * 16 + hexval(f[2 * i + 1]));
        any |= out[i];
    }
    return reject_zero && !any ? HEXLINE_ZERO : HEXLINE_OK;
}

/* One trimmed, non-empty line s[a, b) of data. */
static void ref_line(const uint8_t *data, int64_t a, int64_t b, int mode, int nbytes,
                     int reject_zero, item *it) {
    const uint8_t *s = data + a;
    const int64_t n = b - a;
    it->quality = -1;
    it->label_start = it->label_len = 0;
    if (mode == HEXLINES_PLAIN) {
        it->code = ref_hash(s, n, nbytes, reject_zero, it->hash);
        return;
    }
    if (mode == HEXLINES_PYTX) {
        if (n < 4 || s[0] != 'p' || s[1] != 'd' || s[2] != 'q' || !blank(s[3])) {
            it->code = HEXLINE_OTHER;
            return;
        }
        int64_t k = 4;
        while (k < n && blank(s[k])) k++;
        it->code = ref_hash(s + k, n - k, nbytes, reject_zero, it->hash);
        return;
    }
    if (n >= 5 && memcmp(s, "hash=", 5) == 0) {
        it->code = HEXLINE_OTHER;
        return;
    }
    int64_t c1 = -1, c2 = -1;
    for (int64_t k = 0; k < n; k++)
        if (s[k] == ',') {
            if (c1 < 0) c1 = k;
            else if (c2 < 0) c2 = k;
        }
    if (c1 < 0) {
        it->code = HEXLINE_SYNTAX;
        return;
    }
    it->code = ref_hash(s, c1, nbytes, reject_zero, it->hash);
    if (it->code != HEXLINE_OK) return;
    const int64_t qend = c2 < 0 ? n : c2, qlen = qend - c1 - 1;
    if (qlen > 0) {
        int v = 0;
        if (qlen > 3) {
            it->code = HEXLINE_QUALITY;
            return;
        }
        for (int64_t k = c1 + 1; k < qend; k++) {
            if (s[k] < '0' || s[k] > '9') {
                it->code = HEXLINE_QUALITY;
                return;
            }
            v = v * 10 + s[k] - '0';
        }
        if (v > 100) {
            it->code = HEXLINE_QUALITY;
            return;
        }
        it->quality = (int16_t)v;
    }
    if (c2 >= 0) {
        it->label_start = a + c2 + 1;
        it->label_len = n - c2 - 1;
    }
}

static void reference(const uint8_t *data, int64_t len, int mode, int nbytes, int reject_zero,
                      items *out) {
    out->n = 0;
    int64_t pos = 0, line = 1;
    while (pos < len) {
        int64_t end = pos;
        while (end < len && data[end] != '\n') end++;
        int64_t a = pos, b = end;
        while (a < b && blank(data[a])) a++;
        while (b > a && (blank(data[b - 1]) || data[b - 1] == '\r')) b--;
        if (a < b && data[a] != '#') {
            item *it = &out->v[out->n++];
            it->line = line;
            ref_line(data, a, b, mode, nbytes, reject_zero, it);
        }
        pos = end + 1;
        line++;
    }
}

/* The parser, fed as the Python driver feeds it. */
static void driven(const uint8_t *data, int64_t len, int mode, int nbytes, int reject_zero,
                   int64_t chunk, int64_t cap, int64_t labels_cap, uint8_t *labels_all,
                   items *out) {
    uint8_t *hashes = malloc((size_t)cap * (size_t)nbytes);
    int64_t *lines = malloc((size_t)cap * sizeof *lines);
    int16_t *quality = malloc((size_t)cap * sizeof *quality);
    int64_t *ends = malloc((size_t)cap * sizeof *ends);
    uint8_t *labels = malloc((size_t)(len + 1));
    int64_t label_total = 0, start = 0, avail = len < chunk ? len : chunk, line = 1;
    out->n = 0;
    for (;;) {
        hexlines_out o = {hashes, lines, quality, ends, labels, cap, labels_cap};
        hexlines_result r;
        const int final = avail == len;
        const int st = hexlines_parse(data + start, avail - start, final, mode, nbytes,
                                      reject_zero, line, &o, &r);
        if (st < 0) fail("status", st, 0);
        if (r.consumed < 0 || start + r.consumed > avail || r.parsed > cap ||
            r.label_bytes > labels_cap)
            fail("bounds", (long)r.consumed, (long)r.parsed);
        for (int64_t k = 0; k < r.parsed; k++) {
            item *it = &out->v[out->n++];
            it->line = lines[k];
            it->code = HEXLINE_OK;
            memcpy(it->hash, hashes + k * nbytes, (size_t)nbytes);
            it->quality = mode == HEXLINES_PDQCSV ? quality[k] : -1;
            const int64_t lstart = k ? ends[k - 1] : 0;
            it->label_start = label_total + (mode == HEXLINES_PDQCSV ? lstart : 0);
            it->label_len = mode == HEXLINES_PDQCSV ? ends[k] - lstart : 0;
        }
        if (mode == HEXLINES_PDQCSV) {
            memcpy(labels_all + label_total, labels, (size_t)r.label_bytes);
            label_total += r.label_bytes;
        }
        start += r.consumed;
        line += r.lines;
        if (st == HEXLINES_STOP) {
            if (r.stop_start != r.consumed || r.stop_end < r.stop_start)
                fail("stop span", (long)r.stop_start, (long)r.consumed);
            item *it = &out->v[out->n++];
            it->line = line;
            it->code = r.code;
            start = start + (r.stop_end - r.stop_start) + 1;
            if (start > avail) start = avail;
            line++;
        } else if (st == HEXLINES_FULL) {
            if (r.parsed == 0) { /* a filename longer than the label buffer */
                labels_cap = labels_cap * 2 + 1 < len + 1 ? labels_cap * 2 + 1 : len + 1;
            }
        } else {
            if (final) break;
            avail = avail + chunk < len ? avail + chunk : len;
        }
    }
    free(hashes), free(lines), free(quality), free(ends), free(labels);
}

static void compare(const uint8_t *data, const items *want, const items *got,
                    const uint8_t *labels, int nbytes) {
    if (want->n != got->n) fail("items", want->n, got->n);
    for (int i = 0; i < want->n; i++) {
        const item *w = &want->v[i], *g = &got->v[i];
        if (w->line != g->line) fail("line", (long)w->line, (long)g->line);
        if (w->code != g->code) fail("code", w->code, g->code);
        if (w->code != HEXLINE_OK) continue;
        if (memcmp(w->hash, g->hash, (size_t)nbytes)) fail("hash", i, 0);
        if (w->quality != g->quality) fail("quality", w->quality, g->quality);
        if (w->label_len != g->label_len ||
            memcmp(data + w->label_start, labels + g->label_start, (size_t)w->label_len))
            fail("label", (long)w->label_len, (long)g->label_len);
    }
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t next(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Lines built from pieces that hit every branch; bytes drawn from `seed`. */
static int64_t make_input(uint8_t *buf, int64_t cap, const uint8_t *seed, size_t nseed) {
    static const char *pieces[] = {"pdq ", "pdq\t", "PDQ ", "pdqx ", "hash=", ",", ",100",
                                   ",101", ",7,", ",,", "#", " ", "\t", "\r", "\r\n", "\n",
                                   "g", "0000000000000000000000000000000000000000000000000000"
                                        "000000000000"};
    const int npieces = (int)(sizeof pieces / sizeof *pieces);
    int64_t n = 0;
    size_t s = 0;
    while (n < cap - 80 && s < nseed) {
        const uint8_t c = seed[s++];
        const int kind = c % 8;
        if (kind < 3) { /* a run of hex digits, usually a whole hash */
            const int len = (c & 0x80) ? 64 : (int)(next() % 70);
            for (int k = 0; k < len; k++) buf[n++] = "0123456789abcdefABCDEF"[next() % 22];
        } else if (kind < 6) {
            const char *p = pieces[next() % (uint64_t)npieces];
            const size_t len = strlen(p);
            memcpy(buf + n, p, len);
            n += (int64_t)len;
        } else if (kind == 6) {
            buf[n++] = '\n';
        } else {
            buf[n++] = s < nseed ? seed[s++] : c; /* any byte */
        }
    }
    return n;
}

static void check_dedup(const uint8_t *seed, size_t nseed) {
    if (nseed < 2) return;
    const int width = 1 + seed[0] % 64;
    const int64_t n = (int64_t)(seed[1] % 200);
    uint8_t *rows = malloc((size_t)(n ? n : 1) * (size_t)width);
    for (int64_t i = 0; i < n * width; i++) rows[i] = (uint8_t)(next() % 3); /* many equal */
    int bits = 1;
    while (((int64_t)1 << bits) <= n) bits++;
    bits += (int)(next() % 3);
    uint32_t *table = malloc(sizeof *table << bits);
    int64_t *group = malloc((size_t)(n ? n : 1) * sizeof *group);
    int64_t *first = malloc((size_t)(n ? n : 1) * sizeof *first);
    const int64_t groups = rows_group(rows, n, width, table, bits, group, first);
    if (groups != rows_group(rows, n, width, table, bits, NULL, NULL)) fail("count", 0, 0);
    int64_t seen = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = 0;
        while (memcmp(rows + j * width, rows + i * width, (size_t)width)) j++;
        if (j == i) { /* first of its kind */
            if (group[i] != seen || first[seen] != i) fail("new group", (long)group[i], seen);
            seen++;
        } else if (group[i] != group[j]) {
            fail("group", (long)group[i], (long)group[j]);
        }
    }
    if (seen != groups) fail("groups", (long)seen, (long)groups);
    int64_t *offsets = malloc((size_t)(groups + 1) * sizeof *offsets);
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof *order);
    if (rows_group_order(group, n, groups, offsets, order)) fail("order status", 0, 0);
    for (int64_t g = 0; g < groups; g++)
        for (int64_t k = offsets[g]; k < offsets[g + 1]; k++)
            if (group[order[k]] != g || (k > offsets[g] && order[k] <= order[k - 1]))
                fail("order", (long)g, (long)k);
    if (offsets[groups] != n) fail("offsets", (long)offsets[groups], (long)n);
    free(rows), free(table), free(group), free(first), free(offsets), free(order);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static uint8_t input[1 << 14], labels[1 << 14];
    static items want, got;
    if (size < 4) return 0;
    rng_state = 88172645463325252ull ^ ((uint64_t)data[0] << 8 | data[1]) ^ size;
    const int mode = data[2] % 3;
    const int nbytes = mode == HEXLINES_PLAIN ? (int[]){8, 16, 32}[data[3] % 3] : 32;
    const int reject_zero = data[3] & 4;
    const int64_t len = make_input(input, (int64_t)sizeof input, data + 4, size - 4);
    reference(input, len, mode, nbytes, reject_zero, &want);
    for (int round = 0; round < 3; round++) {
        const int64_t chunk = 1 + (int64_t)(next() % (round == 2 ? 4096 : 80));
        const int64_t cap = 1 + (int64_t)(next() % 5);
        const int64_t labels_cap = (int64_t)(next() % 40);
        driven(input, len, mode, nbytes, reject_zero, chunk, cap, labels_cap, labels, &got);
        compare(input, &want, &got, labels, nbytes);
    }
    check_dedup(data, size);
    return 0;
}

#ifdef TH_FUZZ_MAIN
int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 2000;
    unsigned seed = argc > 2 ? (unsigned)atol(argv[2]) : 1;
    srand(seed);
    uint8_t buf[600];
    for (long it = 0; it < iters; it++) {
        const size_t n = 4 + (size_t)(rand() % 596);
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)rand();
        LLVMFuzzerTestOneInput(buf, n);
    }
    printf("fuzz_hexlines: %ld cases, parser == line-at-a-time reference, grouping == "
           "O(n^2) search\n", iters);
    return 0;
}
#endif
