# cython: language_level=3
"""Thin layer over the C kernels: typed memoryviews in, one C call without the
GIL, status codes out as exceptions (check_status). Validation and normalisation
happen in the Python modules before these functions are reached.

The kernels' declarations are in _native.pxd; each family's functions in an
included file: _native_pdq.pxi, _native_hamming.pxi (with MIH),
_native_formats.pxi; _native_arrow.pxi reads Pillow's Arrow export for the
pixel kernels. pHash is below."""

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


cdef int check_status(int status, str kernel, int isa) except -1:
    """The one translation of a kernel's status (csrc/common/status.h) to an exception."""
    if status == TH_OK:
        return 0
    if status == TH_EISA:
        raise RuntimeError(f"instruction set {isa_name(isa)!r} is not available on this CPU")
    if status == TH_ESINK:
        raise MemoryError(f"out of memory collecting {kernel} results")
    if status == TH_EBADARG:
        raise ValueError(f"the {kernel} kernel rejected its arguments (a size, channel count, "
                         f"stride or table outside its rules; status {status})")
    raise SystemError(f"the {kernel} kernel returned an unknown status {status}")


include "_native_arrow.pxi"
include "_native_pdq.pxi"


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
    int phash_finish(const phash_plan *plan, int isa, uint8_t *grey) nogil

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
    source lines fed in any grouping (`rows_lines`, `rows_arrow`), then `finish`
    (the resized image; tidehash.phash takes the DCT of it).
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
        _phash_status(status, self.isa)
        return grey


include "_native_hamming.pxi"
include "_native_formats.pxi"
