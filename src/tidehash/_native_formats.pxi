# Hash-list line parser and duplicate grouping (csrc/formats), included by _native.pyx.

HEXLINES_MODES = {"plain": HEXLINES_PLAIN, "pytx": HEXLINES_PYTX, "pdqcsv": HEXLINES_PDQCSV}


def parse_hex_lines(const uint8_t[::1] buf, int64_t start, int64_t end, bint final, int mode,
                    bint reject_zero, int64_t first_line, uint8_t[:, ::1] hashes,
                    int64_t[::1] line_numbers, int16_t[::1] quality=None,
                    int64_t[::1] label_ends=None, uint8_t[::1] labels=None):
    """Parse the lines of buf[start:end] (csrc/formats/hexlines.h).

    Returns (status, parsed, consumed, lines, label_bytes, stop_start, stop_end, code);
    offsets are relative to `start`."""
    cdef hexlines_out out
    cdef hexlines_result res
    cdef int status
    if start < 0 or end < start or end > buf.shape[0]:
        raise ValueError("start/end outside the buffer")
    if hashes.shape[0] < 1 or line_numbers.shape[0] < hashes.shape[0]:
        raise ValueError("output arrays must hold at least one hash and a line number each")
    out.hashes = &hashes[0, 0]
    out.line_numbers = &line_numbers[0]
    out.cap = hashes.shape[0]
    out.quality = NULL
    out.label_ends = NULL
    out.labels = NULL
    out.labels_cap = 0
    if mode == HEXLINES_PDQCSV:
        if quality is None or label_ends is None or labels is None:
            raise ValueError("the CSV parser needs quality, label_ends and labels arrays")
        if quality.shape[0] < out.cap or label_ends.shape[0] < out.cap:
            raise ValueError("quality and label_ends must be as long as hashes")
        out.quality = &quality[0]
        out.label_ends = &label_ends[0]
        out.labels = &labels[0] if labels.shape[0] > 0 else NULL
        out.labels_cap = labels.shape[0]
    cdef const uint8_t *data = &buf[0] + start if buf.shape[0] > 0 else <const uint8_t *>b""
    with nogil:
        status = hexlines_parse(data, end - start, final, mode, hashes.shape[1], reject_zero,
                                first_line, &out, &res)
    if status == HEXLINES_EBADARG:
        check_status(status, "hash-list parser", 0)
    return (status, res.parsed, res.consumed, res.lines, res.label_bytes, res.stop_start,
            res.stop_end, res.code)


cdef int _table_bits(int64_t n, int width) except -1:
    cdef int bits = 1
    while (<int64_t>1 << bits) * 3 < n * 4 + 4:  # load factor <= 3/4
        bits += 1
    if width < 1 or width > 64 or n >= 0xFFFFFFFE or bits > 32:
        raise ValueError(f"cannot group {n} rows of {width} bytes")
    return bits


def count_groups(const uint8_t[:, ::1] rows):
    """The number of distinct rows (== len(rows) when none repeats)."""
    cdef int64_t n = rows.shape[0]
    cdef int width = rows.shape[1]
    cdef int bits = _table_bits(n, width)
    if n == 0:
        return 0
    table = np.empty(<int64_t>1 << bits, dtype=np.uint32)
    cdef uint32_t[::1] tv = table
    cdef int64_t ngroups
    with nogil:
        ngroups = rows_group(&rows[0, 0], n, width, &tv[0], bits, NULL, NULL)
    if ngroups < 0:
        raise ValueError("rows_group rejected its arguments")
    return ngroups


def group_rows(const uint8_t[:, ::1] rows):
    """Group equal rows (csrc/formats/dedup.h): (ngroups, group (n,) int64,
    first (ngroups,) int64), groups numbered in order of first occurrence."""
    cdef int64_t n = rows.shape[0]
    cdef int width = rows.shape[1]
    cdef int bits = _table_bits(n, width)
    group = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    if n == 0:
        return 0, group, first
    table = np.empty(<int64_t>1 << bits, dtype=np.uint32)
    cdef uint32_t[::1] tv = table
    cdef int64_t[::1] gv = group
    cdef int64_t[::1] fv = first
    cdef int64_t ngroups
    with nogil:
        ngroups = rows_group(&rows[0, 0], n, width, &tv[0], bits, &gv[0], &fv[0])
    if ngroups < 0:
        raise ValueError("rows_group rejected its arguments")
    return ngroups, group, first[:ngroups].copy()


def group_order(const int64_t[::1] group, int64_t ngroups):
    """(offsets (ngroups + 1,), order (n,)): the rows of group g are
    order[offsets[g]:offsets[g + 1]], ascending."""
    cdef int64_t n = group.shape[0]
    offsets = np.empty(ngroups + 1, dtype=np.int64)
    order = np.empty(n, dtype=np.int64)
    cdef int64_t[::1] ov = offsets
    cdef int64_t[::1] rv = order
    cdef int status
    cdef const int64_t *g = &group[0] if n > 0 else NULL
    cdef int64_t *r = &rv[0] if n > 0 else NULL
    with nogil:
        status = rows_group_order(g, n, ngroups, &ov[0], r)
    if status != 0:
        raise ValueError("group numbers outside 0..ngroups-1")
    return offsets, order
