# cython: language_level=3
"""Thin layer over the C kernels: typed memoryviews in, one C call without the
GIL, status codes out as exceptions. Validation and normalisation happen in the
Python modules before these functions are reached."""

from cpython.mem cimport PyMem_Malloc, PyMem_Free
from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_IsValid
from libc.stdint cimport int64_t, uint8_t, uint32_t
from libc.string cimport strcmp

cdef extern from "cpu/cpu.h":
    void th_cpu_init()
    uint32_t th_cpu_features()
    int th_isa_supported(int isa)
    int th_best_isa()
    const char *th_isa_name(int isa)
    int TH_ISA_COUNT

cdef extern from "pdq/pdq.h":
    ctypedef struct pdq_pixels:
        const uint8_t *data
        int64_t rows
        int64_t cols
        int64_t row_stride
        int channels
    int PDQ_OK, PDQ_EBADARG, PDQ_EISA
    size_t pdq_scratch_floats(int64_t rows, int64_t cols) nogil
    int pdq_hash(const pdq_pixels *px, int isa, int dihedral, float *scratch,
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


cdef object _run_pdq(pdq_pixels *px, int isa, bint dihedral):
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
    cdef pdq_pixels px
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


def pdq_hash_arrow(object schema_capsule, object array_capsule, int64_t width, int64_t height,
                   int isa, bint dihedral):
    """Hash a Pillow image through its Arrow export, reading its pixel memory in
    place. Pillow exports 1-band images as `width*height` uint8 ("C") and
    multi-band ones as fixed-size lists of 4 uint8 ("+w:4") in its RGBX layout.
    The capsules must stay referenced (they are, as arguments) for the call."""
    if not (PyCapsule_IsValid(schema_capsule, "arrow_schema")
            and PyCapsule_IsValid(array_capsule, "arrow_array")):
        raise TypeError("expected Arrow schema and array capsules")
    cdef ArrowSchema *schema = <ArrowSchema *>PyCapsule_GetPointer(schema_capsule, "arrow_schema")
    cdef ArrowArray *array = <ArrowArray *>PyCapsule_GetPointer(array_capsule, "arrow_array")
    cdef ArrowArray *values
    cdef int channels
    cdef pdq_pixels px
    if array.release == NULL or schema.release == NULL:
        raise ValueError("Arrow array was already released")
    if width <= 0 or height <= 0 or array.length != width * height or array.null_count > 0:
        raise ValueError("Arrow array does not describe a width x height image")
    if strcmp(schema.format, b"C") == 0:
        channels = 1
        values = array
    elif (strcmp(schema.format, b"+w:4") == 0 and array.n_children == 1
          and schema.n_children == 1 and strcmp(schema.children[0].format, b"C") == 0):
        channels = 4
        values = array.children[0]
        if values.length < (array.offset + array.length) * 4:
            raise ValueError("Arrow child array is shorter than the image")
    else:
        raise ValueError(f"unsupported Arrow image format {schema.format.decode()!r}")
    if values.n_buffers < 2 or values.buffers[1] == NULL:
        raise ValueError("Arrow array has no data buffer")
    # byte offset of the first pixel: the parent's offset counts pixels, the child's bytes
    cdef int64_t first = array.offset if channels == 1 else array.offset * 4 + values.offset
    px.data = <const uint8_t *>values.buffers[1] + first
    px.rows = height
    px.cols = width
    px.row_stride = width * channels
    px.channels = channels
    return _run_pdq(&px, isa, dihedral)
