# PDQ (csrc/pdq), included by _native.pyx.

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
    check_status(status, "PDQ", isa)
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
