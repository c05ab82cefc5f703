# Hamming scans (csrc/hamming) and multi-index hashing (csrc/mih), included by _native.pyx.

cdef struct hit_buffer:
    hamming_hit *data
    int64_t n
    int64_t cap


cdef int _append_hits(void *ctx, const hamming_hit *hits, int64_t n) noexcept nogil:
    cdef hit_buffer *buf = <hit_buffer *>ctx
    cdef int64_t cap
    cdef hamming_hit *grown
    if buf.n + n > buf.cap:
        cap = buf.cap * 2 if buf.cap else 1024
        while cap < buf.n + n:
            cap *= 2
        grown = <hamming_hit *>PyMem_RawRealloc(buf.data, cap * sizeof(hamming_hit))
        if grown == NULL:
            return 1
        buf.data = grown
        buf.cap = cap
    memcpy(&buf.data[buf.n], hits, n * sizeof(hamming_hit))
    buf.n += n
    return 0


cdef tuple _hits_to_arrays(hit_buffer *buf):
    cdef int64_t i, n = buf.n
    q = np.empty(n, dtype=np.int64)
    r = np.empty(n, dtype=np.int64)
    d = np.empty(n, dtype=np.int32)
    cdef int64_t[::1] qv = q
    cdef int64_t[::1] rv = r
    cdef int32_t[::1] dv = d
    for i in range(n):
        qv[i] = buf.data[i].query
        rv[i] = buf.data[i].row
        dv[i] = buf.data[i].distance
    return q, r, d


cdef const hamming_kernels *_kernels(int isa) except NULL:
    cdef const hamming_kernels *k = hamming_kernels_for(isa)
    if k == NULL:
        check_status(TH_EISA, "Hamming search", isa)
    return k


cdef _check_aligned(const uint64_t[:, ::1] a, str what):
    # the kernels read uint64 words; a view at an odd byte offset would be UB in C
    if a.shape[0] > 0 and a.shape[1] > 0 and (<size_t>&a[0, 0]) % 8 != 0:
        raise ValueError(f"{what} buffer is not 8-byte aligned (copy it first)")


cdef _check_codes(const uint64_t[:, ::1] q, const uint64_t[:, ::1] db):
    if q.shape[1] != db.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} words, database {db.shape[1]}")
    if q.shape[1] < 1 or q.shape[1] > HAMMING_MAX_WORDS:
        raise ValueError(f"codes must have 1..{HAMMING_MAX_WORDS} 64-bit words")
    _check_aligned(q, "query")
    _check_aligned(db, "database")


cdef hamming_db _db(const uint64_t[:, ::1] db, int64_t row_base):
    cdef hamming_db d
    d.db = &db[0, 0] if db.shape[0] > 0 else NULL
    d.n = db.shape[0]
    d.row_base = row_base
    d.words = db.shape[1]
    return d


def hamming_distances(const uint64_t[:, ::1] q, const uint64_t[:, ::1] db, int isa):
    """(nq, n) int32 distances between every query and every database code."""
    _check_codes(q, db)
    cdef const hamming_kernels *k = _kernels(isa)
    out = np.empty((q.shape[0], db.shape[0]), dtype=np.int32)
    if q.shape[0] == 0 or db.shape[0] == 0:
        return out
    cdef int32_t[:, ::1] ov = out
    cdef hamming_db d = _db(db, 0)
    cdef int status
    with nogil:
        status = k.distances(&q[0, 0], q.shape[0], &d, &ov[0, 0])
    check_status(status, "Hamming search", isa)
    return out


def hamming_range(const uint64_t[:, ::1] q, const uint64_t[:, ::1] db, int radius, int isa,
                  int64_t row_base=0):
    """All (query, row, distance) with distance <= radius, unordered."""
    _check_codes(q, db)
    if radius < 0:
        raise ValueError("radius must be >= 0")
    cdef const hamming_kernels *k = _kernels(isa)
    cdef hit_buffer buf
    buf.data = NULL
    buf.n = 0
    buf.cap = 0
    cdef hamming_db d = _db(db, row_base)
    cdef int status = TH_OK
    try:
        if q.shape[0] > 0 and db.shape[0] > 0:
            with nogil:
                status = k.range(&q[0, 0], q.shape[0], &d, radius, _append_hits, &buf)
        check_status(status, "Hamming search", isa)
        return _hits_to_arrays(&buf)
    finally:
        PyMem_RawFree(buf.data)


def hamming_knn(const uint64_t[:, ::1] q, const uint64_t[:, ::1] db, int k, int isa,
                int64_t row_base=0):
    """(dist (nq, k) int32, rows (nq, k) int64), ascending by (distance, row); -1 pads."""
    _check_codes(q, db)
    if k < 1:
        raise ValueError("k must be >= 1")
    cdef const hamming_kernels *kern = _kernels(isa)
    dist = np.full((q.shape[0], k), -1, dtype=np.int32)
    rows = np.full((q.shape[0], k), -1, dtype=np.int64)
    if q.shape[0] == 0 or db.shape[0] == 0:
        return dist, rows
    cdef int32_t[:, ::1] dv = dist
    cdef int64_t[:, ::1] rv = rows
    cdef hamming_db d = _db(db, row_base)
    cdef int status
    with nogil:
        status = kern.knn(&q[0, 0], q.shape[0], &d, k, &dv[0, 0], &rv[0, 0])
    check_status(status, "Hamming search", isa)
    return dist, rows


def mih_build(const uint64_t[:, ::1] db, int start, int length,
              uint32_t[::1] offsets, uint32_t[::1] rows):
    """Fill one MIH table (offsets: 2**length + 1 entries, rows: n entries)."""
    if length < 1 or length > 32 or offsets.shape[0] != (<int64_t>1 << length) + 1 \
            or rows.shape[0] != db.shape[0]:
        raise ValueError("MIH table buffers do not match the layout")
    _check_aligned(db, "database")
    if db.shape[1] < 1 or db.shape[1] > HAMMING_MAX_WORDS or start < 0 \
            or start + length > 64 * db.shape[1]:
        raise ValueError("MIH substring outside the code")
    cdef int status
    cdef const uint64_t *codes = &db[0, 0] if db.shape[0] > 0 else NULL
    if db.shape[0] == 0:
        offsets[:] = 0
        return
    with nogil:
        status = mih_build_table(codes, db.shape[0], db.shape[1], start, length,
                                 &offsets[0], &rows[0])
    check_status(status, "MIH table build", 0)


def mih_range(list starts, list lengths, list offsets, list rows,
              const uint64_t[:, ::1] db, const uint64_t[:, ::1] q, int radius, int isa):
    """Exact range search through MIH tables built by mih_build over `db`."""
    _check_codes(q, db)
    cdef int m = len(starts)
    cdef int i
    if m < 1 or m > MIH_MAX_TABLES or len(lengths) != m or len(offsets) != m or len(rows) != m:
        raise ValueError("bad MIH layout")
    if radius < 0:
        raise ValueError("radius must be >= 0")
    cdef mih_layout lay
    lay.m = m
    lay.words = db.shape[1]
    cdef const uint32_t *offp[64]
    cdef const uint32_t *rowp[64]
    cdef const uint32_t[::1] ov
    cdef const uint32_t[::1] rv
    keep = []
    for i in range(m):
        lay.start[i] = starts[i]
        lay.len[i] = lengths[i]
        if lay.len[i] < 1 or lay.len[i] > 32 or lay.start[i] < 0 \
                or lay.start[i] + lay.len[i] > 64 * lay.words:
            raise ValueError("bad MIH substring")
        ov = offsets[i]
        rv = rows[i]
        if ov.shape[0] != (<int64_t>1 << lay.len[i]) + 1 or rv.shape[0] != db.shape[0]:
            raise ValueError("MIH table does not match the database")
        keep.append((ov, rv))
        offp[i] = &ov[0]
        rowp[i] = &rv[0] if rv.shape[0] > 0 else NULL
    cdef mih_tables t
    t.offsets = offp
    t.rows = rowp
    t.codes = &db[0, 0] if db.shape[0] > 0 else NULL
    t.n = db.shape[0]
    cdef hit_buffer buf
    buf.data = NULL
    buf.n = 0
    buf.cap = 0
    cdef int status = TH_OK
    cdef bint fast = isa > 0 and isa_supported(isa)
    try:
        if q.shape[0] > 0 and db.shape[0] > 0:
            with nogil:
                if fast:
                    status = mih_range_popcnt(&lay, &t, &q[0, 0], q.shape[0], radius,
                                              _append_hits, &buf)
                else:
                    status = mih_range_scalar(&lay, &t, &q[0, 0], q.shape[0], radius,
                                              _append_hits, &buf)
        check_status(status, "MIH search", isa)
        return _hits_to_arrays(&buf)
    finally:
        PyMem_RawFree(buf.data)


def mih_probes(int length, int sub_radius):
    return mih_probes_per_table(length, sub_radius)
