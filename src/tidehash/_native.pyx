# cython: language_level=3
"""Thin layer over the C kernels: typed memoryviews in, one C call without the
GIL, status codes out as exceptions. Validation and normalisation happen in the
Python modules before these functions are reached."""

from cpython.mem cimport (
    PyMem_Free,
    PyMem_Malloc,
    PyMem_RawFree,
    PyMem_RawMalloc,
    PyMem_RawRealloc,
)
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy, strcmp

import numpy as np

cdef extern from "cpu/cpu.h":
    void th_cpu_init()
    uint32_t th_cpu_features()
    int th_isa_supported(int isa)
    int th_best_isa()
    const char *th_isa_name(int isa)
    int TH_ISA_COUNT

cdef extern from "common/pixels.h":
    ctypedef struct th_pixels:
        const uint8_t *data
        int64_t rows
        int64_t cols
        int64_t row_stride
        int channels

cdef extern from "pdq/pdq.h":
    int PDQ_OK, PDQ_EBADARG, PDQ_EISA
    size_t pdq_scratch_floats(int64_t rows, int64_t cols) nogil
    int pdq_hash(const th_pixels *px, int isa, int dihedral, float *scratch,
                 uint8_t hashes[][32], int *quality) nogil
    void pdq_init()

# The Arrow C data interface (fixed ABI), as exported by Pillow >= 11.2.
cdef struct ArrowSchema:
    const char *format
    const char *name
    const char *metadata
    int64_t flags
    int64_t n_children
    ArrowSchema **children
    ArrowSchema *dictionary
    void (*release)(ArrowSchema *)
    void *private_data

cdef struct ArrowArray:
    int64_t length
    int64_t null_count
    int64_t offset
    int64_t n_buffers
    int64_t n_children
    const void **buffers
    ArrowArray **children
    ArrowArray *dictionary
    void (*release)(ArrowArray *)
    void *private_data

th_cpu_init()
pdq_init()

ISA_COUNT = TH_ISA_COUNT


def cpu_features():
    return th_cpu_features()


def isa_supported(int isa):
    return bool(th_isa_supported(isa))


def best_isa():
    return th_best_isa()


def isa_name(int isa):
    return th_isa_name(isa).decode()


cdef object _run_pdq(th_pixels *px, int isa, bint dihedral):
    cdef uint8_t hashes[8][32]
    cdef int quality = 0
    cdef int status
    cdef size_t nfloat = pdq_scratch_floats(px.rows, px.cols)
    if nfloat == 0:
        raise ValueError(f"image of {px.rows}x{px.cols} pixels is too large to hash")
    cdef float *scratch = <float *>PyMem_Malloc(nfloat * sizeof(float))
    if scratch == NULL:
        raise MemoryError()
    try:
        with nogil:
            status = pdq_hash(px, isa, dihedral, scratch, hashes, &quality)
    finally:
        PyMem_Free(scratch)
    if status == PDQ_EISA:
        raise RuntimeError(f"instruction set {isa_name(isa)!r} is not available on this CPU")
    if status != PDQ_OK:
        raise ValueError(f"pdq_hash rejected its arguments (status {status})")
    n = 8 if dihedral else 1
    return (<char *>&hashes[0][0])[:32 * n], quality


def pdq_hash_lines(const uint8_t[:, ::1] lines, int channels, int isa, bint dihedral):
    """Hash an image given as `rows` lines of cols*channels bytes.

    Returns (hash bytes, 32 per hash, 1 or 8 hashes; quality)."""
    cdef th_pixels px
    if channels not in (1, 3, 4):
        raise ValueError(f"channels must be 1, 3 or 4, got {channels}")
    if lines.shape[0] == 0 or lines.shape[1] == 0 or lines.shape[1] % channels:
        raise ValueError("empty image or line length not a multiple of the channel count")
    px.data = &lines[0, 0]
    px.rows = lines.shape[0]
    px.cols = lines.shape[1] // channels
    px.row_stride = lines.strides[0]
    px.channels = channels
    return _run_pdq(&px, isa, dihedral)


def pdq_hash_strided(const uint8_t[::1] buf, int64_t rows, int64_t cols, int64_t row_stride,
                     int channels, int isa):
    """Hash an image whose rows start every `row_stride` bytes of `buf` (a padded
    frame plane, e.g. a decoded video frame): rows x cols pixels of `channels` bytes.

    Returns (hash bytes, quality)."""
    cdef th_pixels px
    if channels not in (1, 3, 4):
        raise ValueError(f"channels must be 1, 3 or 4, got {channels}")
    if rows <= 0 or cols <= 0:
        raise ValueError(f"image has no pixels ({cols}x{rows})")
    if row_stride < cols * channels:
        raise ValueError(f"row stride {row_stride} < {cols} pixels x {channels} bytes")
    if (rows - 1) * row_stride + cols * channels > buf.shape[0]:
        raise ValueError("buffer is smaller than rows x row_stride")
    px.data = &buf[0]
    px.rows = rows
    px.cols = cols
    px.row_stride = row_stride
    px.channels = channels
    return _run_pdq(&px, isa, False)


cdef int _arrow_image(object schema_capsule, object array_capsule, int64_t width,
                      int64_t height, const uint8_t **data, int *channels) except -1:
    """Find the pixels of a Pillow image's Arrow export. Pillow exports 1-band
    images as `width*height` uint8 ("C") and multi-band ones as fixed-size lists
    of 4 uint8 ("+w:4") in its RGBX layout, one line after the other."""
    if not (PyCapsule_IsValid(schema_capsule, "arrow_schema")
            and PyCapsule_IsValid(array_capsule, "arrow_array")):
        raise TypeError("expected Arrow schema and array capsules")
    cdef ArrowSchema *schema = <ArrowSchema *>PyCapsule_GetPointer(schema_capsule, "arrow_schema")
    cdef ArrowArray *array = <ArrowArray *>PyCapsule_GetPointer(array_capsule, "arrow_array")
    cdef ArrowArray *values
    if array.release == NULL or schema.release == NULL:
        raise ValueError("Arrow array was already released")
    if width <= 0 or height <= 0 or array.length != width * height or array.null_count > 0:
        raise ValueError("Arrow array does not describe a width x height image")
    if strcmp(schema.format, b"C") == 0:
        channels[0] = 1
        values = array
    elif (strcmp(schema.format, b"+w:4") == 0 and array.n_children == 1
          and schema.n_children == 1 and strcmp(schema.children[0].format, b"C") == 0):
        channels[0] = 4
        values = array.children[0]
        if values.length < (array.offset + array.length) * 4:
            raise ValueError("Arrow child array is shorter than the image")
    else:
        raise ValueError(f"unsupported Arrow image format {schema.format.decode()!r}")
    if values.n_buffers < 2 or values.buffers[1] == NULL:
        raise ValueError("Arrow array has no data buffer")
    # byte offset of the first pixel: the parent's offset counts pixels, the child's bytes
    cdef int64_t first = array.offset if channels[0] == 1 else array.offset * 4 + values.offset
    data[0] = <const uint8_t *>values.buffers[1] + first
    return 0


def pdq_hash_arrow(object schema_capsule, object array_capsule, int64_t width, int64_t height,
                   int isa, bint dihedral):
    """Hash a Pillow image through its Arrow export, reading its pixel memory in
    place. The capsules must stay referenced (they are, as arguments) for the call."""
    cdef th_pixels px
    cdef int channels = 0
    _arrow_image(schema_capsule, array_capsule, width, height, &px.data, &channels)
    px.rows = height
    px.cols = width
    px.row_stride = width * channels
    px.channels = channels
    return _run_pdq(&px, isa, dihedral)


# ---------------------------------------------------------------- pHash

cdef extern from "phash/phash.h":
    ctypedef struct phash_plan:
        int hash_size
        int n
        int64_t width
        int64_t height
        int64_t row_first
        int64_t row_last
    int PHASH_OK, PHASH_EBADARG, PHASH_EISA, PHASH_MIN_HASH_SIZE, PHASH_MAX_HASH_SIZE
    size_t phash_workspace_bytes(int64_t width, int64_t height, int hash_size,
                                 int vertical_first) nogil
    size_t phash_table_len(int64_t in_size, int out_size) nogil
    int phash_coeffs_ksize(int64_t in_size, int out_size) nogil
    int phash_table_fill(int64_t in_size, int out_size, int32_t *table, double *dscratch) nogil
    int phash_plan_init(phash_plan *plan, int64_t width, int64_t height, int hash_size,
                        int vertical_first, const int32_t *h_table, const int32_t *v_table,
                        void *workspace) nogil
    int phash_rows(const phash_plan *plan, const th_pixels *px, int64_t first_row,
                   int isa) nogil
    int phash_finish(const phash_plan *plan, int isa, uint8_t *out, uint8_t *grey,
                     double *dct) nogil
    int phash_hash_bytes(int hash_size) nogil

PHASH_MIN = PHASH_MIN_HASH_SIZE
PHASH_MAX = PHASH_MAX_HASH_SIZE


cdef _phash_status(int status, int isa):
    if status == PHASH_EISA:
        raise RuntimeError(f"instruction set {isa_name(isa)!r} is not available on this CPU")
    if status != PHASH_OK:
        raise ValueError(f"pHash kernel rejected its arguments (status {status})")


def phash_table(int64_t in_size, int out_size):
    """Pillow's LANCZOS coefficients for resizing in_size samples to out_size,
    as a read-only int32 array (2 out_size bounds, then out_size * ksize weights).
    Depends only on the two sizes: callers may cache it."""
    cdef size_t n = phash_table_len(in_size, out_size)
    if n == 0:
        raise ValueError(f"cannot resize {in_size} samples to {out_size}")
    cdef int ksize = phash_coeffs_ksize(in_size, out_size)
    table = np.empty(n, dtype=np.int32)
    cdef int32_t[::1] tv = table
    cdef double *scratch = <double *>PyMem_RawMalloc(ksize * sizeof(double))
    if scratch == NULL:
        raise MemoryError()
    cdef int status
    try:
        with nogil:
            status = phash_table_fill(in_size, out_size, &tv[0], scratch)
    finally:
        PyMem_RawFree(scratch)
    _phash_status(status, 0)
    table.setflags(write=False)
    return table


cdef class PHashPlan:
    """One pHash computation: Pillow's resize coefficients for a width x height
    image (vertical pass first or not, as the caller's Pillow does it), then
    source lines fed in any grouping (`rows_lines`, `rows_arrow`), then `finish`.
    Owns its workspace; not shared between threads."""
    cdef phash_plan plan
    cdef void *workspace
    cdef readonly int isa

    def __cinit__(self, int64_t width, int64_t height, int hash_size, bint vertical_first,
                  int isa, h_table=None, v_table=None):
        self.workspace = NULL
        cdef size_t nbytes = phash_workspace_bytes(width, height, hash_size, vertical_first)
        cdef const int32_t[::1] hv
        cdef const int32_t[::1] vv
        cdef const int32_t *hp = NULL
        cdef const int32_t *vp = NULL
        cdef int n = 4 * hash_size
        if nbytes == 0:
            raise ValueError(f"cannot hash a {width}x{height} image with hash_size {hash_size}")
        self.workspace = PyMem_RawMalloc(nbytes)
        if self.workspace == NULL:
            raise MemoryError()
        self.isa = isa
        if h_table is not None:
            hv = h_table
            if <size_t>hv.shape[0] != phash_table_len(width, n):
                raise ValueError("horizontal coefficient table does not match the width")
            hp = &hv[0]
        if v_table is not None:
            vv = v_table
            if <size_t>vv.shape[0] != phash_table_len(height, n):
                raise ValueError("vertical coefficient table does not match the height")
            vp = &vv[0]
        cdef int status
        with nogil:
            status = phash_plan_init(&self.plan, width, height, hash_size, vertical_first,
                                     hp, vp, self.workspace)
        _phash_status(status, isa)

    def __dealloc__(self):
        PyMem_RawFree(self.workspace)

    @property
    def row_first(self):
        """First source line the resize reads."""
        return self.plan.row_first

    @property
    def row_last(self):
        """One past the last source line the resize reads."""
        return self.plan.row_last

    cdef _rows(self, th_pixels *px, int64_t first_row):
        cdef int status
        with nogil:
            status = phash_rows(&self.plan, px, first_row, self.isa)
        _phash_status(status, self.isa)

    def rows_lines(self, const uint8_t[:, :] lines, int channels, int64_t first_row):
        """Source lines first_row.. given as lines of width*channels bytes: bytes
        within a line adjacent, lines any stride apart (also negative)."""
        cdef th_pixels px
        if channels not in (1, 3, 4) or lines.shape[1] != self.plan.width * channels:
            raise ValueError("lines do not hold width pixels of 1, 3 or 4 channels")
        if lines.shape[0] == 0:
            return
        if lines.strides[1] != 1 and lines.shape[1] > 1:
            raise ValueError("the bytes of a line must be adjacent")
        px.data = &lines[0, 0]
        px.rows = lines.shape[0]
        px.cols = self.plan.width
        px.row_stride = lines.strides[0]
        px.channels = channels
        self._rows(&px, first_row)

    def rows_arrow(self, object schema_capsule, object array_capsule, int64_t rows,
                   int64_t first_row):
        """Source lines first_row.. from the Arrow export of a Pillow image of
        width x rows pixels (read in place; the capsules are kept referenced by
        this call's arguments)."""
        cdef th_pixels px
        cdef int channels = 0
        _arrow_image(schema_capsule, array_capsule, self.plan.width, rows, &px.data, &channels)
        px.rows = rows
        px.cols = self.plan.width
        px.row_stride = self.plan.width * channels
        px.channels = channels
        self._rows(&px, first_row)

    def finish(self, bint debug=False):
        """The hash bytes (imagehash's bits as a big-endian integer); with `debug`,
        also the resized n x n uint8 image and the hs x hs float64 DCT block."""
        cdef int hs = self.plan.hash_size
        cdef uint8_t out[512]
        cdef int status
        grey = dct = None
        cdef uint8_t[:, ::1] gv
        cdef double[:, ::1] dv
        cdef uint8_t *gp = NULL
        cdef double *dp = NULL
        if debug:
            grey = np.empty((self.plan.n, self.plan.n), dtype=np.uint8)
            dct = np.empty((hs, hs), dtype=np.float64)
            gv = grey
            dv = dct
            gp = &gv[0, 0]
            dp = &dv[0, 0]
        with nogil:
            status = phash_finish(&self.plan, self.isa, out, gp, dp)
        _phash_status(status, self.isa)
        raw = (<char *>out)[:phash_hash_bytes(hs)]
        return (raw, grey, dct) if debug else raw


# ---------------------------------------------------------------- Hamming search

cdef extern from "hamming/hamming.h":
    ctypedef struct hamming_hit:
        int64_t query
        int64_t row
        int32_t distance
    ctypedef int (*hamming_sink)(void *ctx, const hamming_hit *hits, int64_t n) noexcept nogil
    ctypedef struct hamming_db:
        const uint64_t *db
        int64_t n
        int64_t row_base
        int words
    ctypedef struct hamming_kernels:
        int (*distances)(const uint64_t *q, int64_t nq, const hamming_db *db,
                         int32_t *out) noexcept nogil
        int (*range)(const uint64_t *q, int64_t nq, const hamming_db *db, int radius,
                     hamming_sink sink, void *ctx) noexcept nogil
        int (*knn)(const uint64_t *q, int64_t nq, const hamming_db *db, int k, int32_t *dist,
                   int64_t *rows) noexcept nogil
    const hamming_kernels *hamming_kernels_for(int isa)
    int HAMMING_OK, HAMMING_EBADARG, HAMMING_EISA, HAMMING_ESINK, HAMMING_MAX_WORDS

cdef extern from "mih/mih.h":
    int MIH_MAX_TABLES
    ctypedef struct mih_layout:
        int m
        int words
        int start[64]
        int len[64]
    ctypedef struct mih_tables:
        const uint32_t *const *offsets
        const uint32_t *const *rows
        const uint64_t *codes
        int64_t n
    int mih_build_table(const uint64_t *codes, int64_t n, int words, int start, int len,
                        uint32_t *offsets, uint32_t *rows) nogil
    int mih_range_scalar(const mih_layout *lay, const mih_tables *t, const uint64_t *q,
                         int64_t nq, int radius, hamming_sink sink, void *ctx) nogil
    int mih_range_popcnt(const mih_layout *lay, const mih_tables *t, const uint64_t *q,
                         int64_t nq, int radius, hamming_sink sink, void *ctx) nogil
    double mih_probes_per_table(int len, int sub_radius)

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
        raise RuntimeError(f"instruction set {isa_name(isa)!r} is not available on this CPU")
    return k


cdef _check_status(int status):
    if status == HAMMING_ESINK:
        raise MemoryError("out of memory collecting search results")
    if status != HAMMING_OK:
        raise ValueError(f"Hamming kernel rejected its arguments (status {status})")


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
    _check_status(status)
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
    cdef int status = HAMMING_OK
    try:
        if q.shape[0] > 0 and db.shape[0] > 0:
            with nogil:
                status = k.range(&q[0, 0], q.shape[0], &d, radius, _append_hits, &buf)
        _check_status(status)
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
    _check_status(status)
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
    _check_status(status)


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
    cdef int status = HAMMING_OK
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
        _check_status(status)
        return _hits_to_arrays(&buf)
    finally:
        PyMem_RawFree(buf.data)


def mih_probes(int length, int sub_radius):
    return mih_probes_per_table(length, sub_radius)


# ---------------------------------------------------------------- hash-list formats

cdef extern from "formats/hexlines.h":
    ctypedef struct hexlines_out:
        uint8_t *hashes
        int64_t *line_numbers
        int16_t *quality
        int64_t *label_ends
        uint8_t *labels
        int64_t cap
        int64_t labels_cap
    ctypedef struct hexlines_result:
        int64_t parsed
        int64_t consumed
        int64_t lines
        int64_t label_bytes
        int64_t stop_start
        int64_t stop_end
        int32_t code
    int HEXLINES_PLAIN, HEXLINES_PYTX, HEXLINES_PDQCSV
    int HEXLINES_DONE, HEXLINES_FULL, HEXLINES_STOP, HEXLINES_EBADARG
    int hexlines_parse(const uint8_t *buf, int64_t len, int final, int mode, int nbytes,
                       int reject_zero, int64_t first_line, const hexlines_out *out,
                       hexlines_result *res) nogil

cdef extern from "formats/dedup.h":
    int64_t rows_group(const uint8_t *rows, int64_t n, int width, uint32_t *table,
                       int table_bits, int64_t *group, int64_t *first) nogil
    int rows_group_order(const int64_t *group, int64_t n, int64_t ngroups, int64_t *offsets,
                         int64_t *order) nogil

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
        raise ValueError("hexlines_parse rejected its arguments")
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
