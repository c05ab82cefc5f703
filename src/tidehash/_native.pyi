"""Type stubs for the native module (thin Cython layer over csrc/).

tests/test_native_stub.py holds these to the module: the same names, parameters and
defaults, and parameter types that match the Cython declarations (C integers are
`int`, `bint` is `bool`, a typed memoryview is an array of its element type)."""


import numpy as np
from numpy.typing import NDArray
from typing_extensions import Buffer

ISA_COUNT: int

def cpu_features() -> int: ...
def isa_supported(isa: int) -> bool: ...
def best_isa() -> int: ...
def isa_name(isa: int) -> str: ...

# ---------------------------------------------------------------- PDQ

def pdq_hash_lines(
    lines: NDArray[np.uint8], channels: int, isa: int, dihedral: bool,
) -> tuple[bytes, int]: ...
def pdq_hash_strided(
    buf: Buffer, rows: int, cols: int, row_stride: int, channels: int, isa: int,
) -> tuple[bytes, int]: ...
def pdq_hash_arrow(
    schema_capsule: object, array_capsule: object, width: int, height: int, isa: int,
    dihedral: bool,
) -> tuple[bytes, int]: ...

# ---------------------------------------------------------------- pHash

PHASH_MIN: int
PHASH_MAX: int

def phash_table(in_size: int, out_size: int) -> NDArray[np.int32]: ...

class PHashPlan:
    isa: int
    def __init__(
        self, width: int, height: int, hash_size: int, vertical_first: bool, isa: int,
        h_table: NDArray[np.int32] | None = ..., v_table: NDArray[np.int32] | None = ...,
    ) -> None: ...
    @property
    def row_first(self) -> int: ...
    @property
    def row_last(self) -> int: ...
    def rows_lines(self, lines: NDArray[np.uint8], channels: int, first_row: int) -> None: ...
    def rows_arrow(
        self, schema_capsule: object, array_capsule: object, rows: int, first_row: int,
    ) -> None: ...
    def finish(self) -> NDArray[np.uint8]: ...
    def finish_bits(
        self, want_low: bool = ...,
    ) -> tuple[NDArray[np.uint8], bytes, bool, float, float, NDArray[np.float64] | None]: ...

def phash_bits_of(
    grey: NDArray[np.uint8], hash_size: int,
) -> tuple[bytes, bool, float, float, float, NDArray[np.float64]]: ...

# ---------------------------------------------------------------- Hamming and MIH

def hamming_distances(
    q: NDArray[np.uint64], db: NDArray[np.uint64], isa: int,
) -> NDArray[np.int32]: ...
def hamming_range(
    q: NDArray[np.uint64], db: NDArray[np.uint64], radius: int, isa: int, row_base: int = 0,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]: ...
def hamming_knn(
    q: NDArray[np.uint64], db: NDArray[np.uint64], k: int, isa: int, row_base: int = 0,
) -> tuple[NDArray[np.int32], NDArray[np.int64]]: ...
def mih_build(
    db: NDArray[np.uint64], start: int, length: int, offsets: NDArray[np.uint32],
    rows: NDArray[np.uint32],
) -> None: ...
def mih_range(
    starts: list[int], lengths: list[int], offsets: list[NDArray[np.uint32]],
    rows: list[NDArray[np.uint32]], db: NDArray[np.uint64], q: NDArray[np.uint64],
    radius: int, isa: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int32]]: ...
def mih_probes(length: int, sub_radius: int) -> float: ...

# ---------------------------------------------------------------- hash-list formats

HEXLINES_MODES: dict[str, int]

def parse_hex_lines(
    buf: Buffer, start: int, end: int, final: bool, mode: int, reject_zero: bool,
    first_line: int, hashes: NDArray[np.uint8], line_numbers: NDArray[np.int64],
    quality: NDArray[np.int16] | None = None, label_ends: NDArray[np.int64] | None = None,
    labels: NDArray[np.uint8] | None = None,
) -> tuple[int, int, int, int, int, int, int, int]: ...
def count_groups(rows: NDArray[np.uint8]) -> int: ...
def group_rows(rows: NDArray[np.uint8]) -> tuple[int, NDArray[np.int64], NDArray[np.int64]]: ...
def group_order(
    group: NDArray[np.int64], ngroups: int,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]: ...
