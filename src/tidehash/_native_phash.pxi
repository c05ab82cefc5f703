# pHash (csrc/phash), included by _native.pyx: Pillow's resize, and the DCT bits
# where provably scipy's; elsewhere tidehash/phash.py calls scipy and numpy.

PHASH_MIN = PHASH_MIN_HASH_SIZE
PHASH_MAX = PHASH_MAX_HASH_SIZE
cdef enum:
    PHASH_MAX_BYTES = 512  # phash_hash_bytes(PHASH_MAX_HASH_SIZE): 64 * 64 / 8


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
    check_status(status, "pHash", 0)
    table.setflags(write=False)
    return table


cdef class PHashPlan:
    """One pHash computation: Pillow's resize coefficients for a width x height
    image (vertical pass first or not, as the caller's Pillow does it), then
    source lines fed in any grouping (`rows_lines`, `rows_arrow`), then `finish`
    (the resized image) or `finish_bits` (that and the fast path's bits).
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
        check_status(status, "pHash", isa)

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
        check_status(status, "pHash", self.isa)

    def rows_lines(self, const uint8_t[:, :] lines, int channels, int64_t first_row):
        """Source lines first_row.. given as lines of width*channels bytes: bytes
        within a line adjacent, lines any stride apart (also negative or 0)."""
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

    def finish(self):
        """The resized image: n x n uint8, Pillow's convert("L") + LANCZOS resize."""
        grey = np.empty((self.plan.n, self.plan.n), dtype=np.uint8)
        cdef uint8_t[:, ::1] gv = grey
        cdef int status
        with nogil:
            status = phash_finish(&self.plan, self.isa, &gv[0, 0])
        check_status(status, "pHash", self.isa)
        return grey

    def finish_bits(self, bint want_low=False):
        """(grey, raw, decided, margin, tol, low): the resized image, the hash
        bytes of csrc's DCT and median (imagehash's layout), whether they are
        provably scipy's (margin > tol, see csrc/phash/README.md), and with
        want_low the hs x hs block (else None)."""
        cdef int hs = self.plan.hash_size
        grey = np.empty((self.plan.n, self.plan.n), dtype=np.uint8)
        cdef uint8_t[:, ::1] gv = grey
        cdef uint8_t out[PHASH_MAX_BYTES]
        cdef double[:, ::1] lv
        cdef double *lp = NULL
        low = None
        if want_low:
            low = np.empty((hs, hs), dtype=np.float64)
            lv = low
            lp = &lv[0, 0]
        cdef phash_bits_info info
        cdef int status
        with nogil:
            status = phash_finish_bits(&self.plan, self.isa, &gv[0, 0], out, lp, &info)
        check_status(status, "pHash", self.isa)
        raw = (<char *>out)[:(hs * hs + 7) // 8]
        return (grey, raw, bool(info.decided), info.margin, info.tol, low)


def phash_bits_of(const uint8_t[:, ::1] grey, int hash_size):
    """phash_bits on an n x n image (n = 4 hash_size): (raw, decided, margin,
    tol, median, low), for tests."""
    cdef int n = 4 * hash_size
    cdef size_t nwork = phash_bits_work_doubles(hash_size)
    if nwork == 0 or grey.shape[0] != n or grey.shape[1] != n:
        raise ValueError(f"need a {n}x{n} image for hash_size {hash_size}")
    low = np.empty((hash_size, hash_size), dtype=np.float64)
    cdef double[:, ::1] lv = low
    cdef uint8_t out[PHASH_MAX_BYTES]
    cdef phash_bits_info info
    cdef int status
    cdef double *work = <double *>PyMem_RawMalloc(nwork * sizeof(double))
    if work == NULL:
        raise MemoryError()
    try:
        with nogil:
            status = phash_bits(&grey[0, 0], hash_size, work, out, &lv[0, 0], &info)
    finally:
        PyMem_RawFree(work)
    check_status(status, "pHash", 0)
    raw = (<char *>out)[:(hash_size * hash_size + 7) // 8]
    return (raw, bool(info.decided), info.margin, info.tol, info.median, low)
