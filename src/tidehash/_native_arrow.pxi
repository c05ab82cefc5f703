# Pillow images read in place through the Arrow C data interface (included by _native.pyx).

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
