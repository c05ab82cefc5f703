"""tidehash: perceptual hashing (PDQ bit-exact with Meta's reference) with SIMD C kernels.

Images are hashed on the device that holds them; only hashes travel."""

from ._version import __version__
from .cpu import available_isas, cpu_info, use_isa
from .digest import file_digests
from .errors import DecodeError, HashFormatError, ImageTooLargeError, TidehashError
from .files import ALGORITHMS, FileHashes, hash_file, hash_files
from .formats import (
    BadLine,
    BadLineError,
    HashList,
    HashRecord,
    detect_format,
    iter_records,
    read_list,
    write_list,
)
from .formats.vpdq import (
    format_vpdq,
    parse_vpdq,
    read_vpdq,
    vpdq_from_json,
    vpdq_to_json,
    write_vpdq,
)
from .hashes import PDQHash, VPDQFeature, array_to_hex, hamming, hashes_to_array, hex_to_array
from .image import DEFAULT_MAX_PIXELS
from .index import Index, IndexFormatError
from .match import Match, Matcher, VPDQIndex, VPDQMatchResult, VPDQVideoMatch, vpdq_match
from .pdq import DIHEDRAL_NAMES, pdq_hash, pdq_hash_dihedral
from .phash import PHash, phash
from .video import VideoError, VPDQHashes, vpdq_hash

__all__ = [
    "ALGORITHMS", "DEFAULT_MAX_PIXELS", "DIHEDRAL_NAMES", "DecodeError", "FileHashes",
    "HashFormatError", "ImageTooLargeError", "Index", "IndexFormatError", "PDQHash", "PHash",
    "TidehashError", "__version__", "array_to_hex", "available_isas", "cpu_info", "file_digests",
    "hamming", "hash_file", "hash_files", "hashes_to_array", "hex_to_array", "pdq_hash",
    "pdq_hash_dihedral", "phash", "use_isa",
    "VPDQFeature", "VPDQHashes", "VPDQIndex", "VPDQMatchResult", "VPDQVideoMatch", "VideoError",
    "format_vpdq", "parse_vpdq", "read_vpdq", "vpdq_from_json", "vpdq_hash", "vpdq_match",
    "vpdq_to_json", "write_vpdq",
    "BadLine", "BadLineError", "HashList", "HashRecord", "detect_format", "iter_records",
    "read_list", "write_list", "Match", "Matcher",
]
