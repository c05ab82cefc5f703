# cython: language_level=3
"""Thin layer over the C kernels: typed memoryviews in, one C call without the
GIL, status codes out as exceptions (check_status). Validation and normalisation
happen in the Python modules before these functions are reached.

The kernels' declarations are in _native.pxd; each family's functions in an
included file: _native_pdq.pxi, _native_phash.pxi, _native_hamming.pxi (with
MIH), _native_formats.pxi; _native_arrow.pxi reads Pillow's Arrow export for the
pixel kernels."""

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
include "_native_phash.pxi"
include "_native_hamming.pxi"
include "_native_formats.pxi"
