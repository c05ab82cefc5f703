"""Hash values and conversions between hex strings, bytes and (N, 32) arrays.

Batch conversions go through bytes.hex / bytes.fromhex and NumPy, never a
Python loop per bit."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

import numpy as np

from .errors import HashFormatError

PDQ_BYTES = 32
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_HEX = re.compile(r"[0-9a-fA-F]+")
#: the hash type of a bare hex hash, from its number of digits (a SHA-256 has PDQ's 64)
HEX_DIGITS_SIGNAL = {64: "pdq", 32: "md5", 16: "phash"}
#: the hex digits of each hash type
SIGNAL_HEX_DIGITS = {"pdq": 64, "md5": 32, "sha256": 64, "phash": 16}
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


class PDQHash:
    """An immutable 256-bit PDQ hash and its quality (0-100).

    ``.hex`` is the reference's 64 lower-case hex digits, ``.bytes`` the 32 bytes
    of ``bytes.fromhex(hex)``. Two hashes are equal when their bits and quality
    are equal; ``quality`` is None for a hash read from a list that carries none.
    """

    __slots__ = ("_bytes", "_quality")

    def __init__(self, data: bytes, quality: int | None = None):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"PDQHash needs 32 bytes, not {type(data).__name__}")
        data = bytes(data)
        if len(data) != PDQ_BYTES:
            raise HashFormatError(f"a PDQ hash is 32 bytes, got {len(data)}")
        if quality is not None:
            if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)):
                raise TypeError("quality must be an int or None")
            quality = int(quality)
            if not 0 <= quality <= 100:
                raise ValueError(f"quality must be in 0..100, got {quality}")
        object.__setattr__(self, "_bytes", data)
        object.__setattr__(self, "_quality", quality)

    @classmethod
    def from_hex(cls, text: str, quality: int | None = None) -> PDQHash:
        return cls(parse_hex(text), quality)

    @property
    def hex(self) -> str:
        return self._bytes.hex()

    @property
    def bytes(self) -> bytes:
        return self._bytes

    @property
    def quality(self) -> int | None:
        return self._quality

    def to_array(self) -> np.ndarray:
        """The hash as a (32,) uint8 array."""
        return np.frombuffer(self._bytes, dtype=np.uint8).copy()

    def distance(self, other: HashLike) -> int:
        return hamming(self, other)

    def __setattr__(self, name, value):
        raise AttributeError("PDQHash is immutable")

    def __delattr__(self, name):
        raise AttributeError("PDQHash is immutable")

    def __eq__(self, other):
        if not isinstance(other, PDQHash):
            return NotImplemented
        return self._bytes == other._bytes and self._quality == other._quality

    def __hash__(self):
        return hash((self._bytes, self._quality))

    def __repr__(self):
        return f"PDQHash({self.hex!r}, quality={self._quality})"

    def __str__(self):
        return self.hex

    def __reduce__(self):
        return (PDQHash, (self._bytes, self._quality))


HashLike = Union[PDQHash, str, bytes, bytearray, memoryview]


def parse_hex(text: str) -> bytes:
    """64 hex digits (either case) to 32 bytes; anything else is a HashFormatError."""
    if not isinstance(text, str):
        raise TypeError(f"expected a hex string, not {type(text).__name__}")
    if _HEX64.fullmatch(text) is None:
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise HashFormatError(f"not a 256-bit hash (64 hex digits): {shown!r}")
    return bytes.fromhex(text)


def parse_hash(text: str) -> tuple[str, str]:
    """A literal hash, as a person types it: ``(signal, lower-case hex)``.

    Bare hex digits (either case, blanks around them ignored) are typed by their
    number: 64 -> ``"pdq"`` (a SHA-256 has as many: tag it), 32 -> ``"md5"``, 16 ->
    ``"phash"``. python-threatexchange's ``<type> <hex>`` (``pdq``, ``md5``,
    ``sha256``, ``phash``, any case) names the type. Anything else is a
    HashFormatError."""
    if not isinstance(text, str):
        raise TypeError(f"expected a hash as text, not {type(text).__name__}")
    shown = text if len(text) <= 80 else text[:77] + "..."
    parts = text.split()
    if len(parts) == 1 and _HEX.fullmatch(parts[0]):
        signal = HEX_DIGITS_SIGNAL.get(len(parts[0]))
        if signal is None:
            raise HashFormatError(f"{len(parts[0])} hex digits is not a hash length (64: PDQ, "
                                  f"32: MD5, 16: pHash): {shown!r}")
        return signal, parts[0].lower()
    if len(parts) == 2 and parts[0].lower() in SIGNAL_HEX_DIGITS:
        signal, digits = parts[0].lower(), parts[1]
        if _HEX.fullmatch(digits) and len(digits) == SIGNAL_HEX_DIGITS[signal]:
            return signal, digits.lower()
        raise HashFormatError(f"not a {signal} hash ({SIGNAL_HEX_DIGITS[signal]} hex "
                              f"digits): {shown!r}")
    raise HashFormatError(f"not a hash (hex digits, or '<type> <hex>'): {shown!r}")


def _one(value: HashLike) -> bytes:
    if isinstance(value, PDQHash):
        return value.bytes
    if isinstance(value, str):
        return parse_hex(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        if len(b) != PDQ_BYTES:
            raise HashFormatError(f"a PDQ hash is 32 bytes, got {len(b)}")
        return b
    if isinstance(value, np.ndarray):
        arr = as_hash_array(value)
        if arr.shape[0] != 1:
            raise HashFormatError(f"expected one hash, got an array of shape {value.shape}")
        return arr.tobytes()
    raise TypeError(f"cannot read a hash from {type(value).__name__}")


def as_hash_array(value, nbytes: int = PDQ_BYTES, what: str = "hash arrays") -> np.ndarray:
    """Validate and return an (N, nbytes) C-contiguous uint8 array (a (nbytes,) array
    is one hash)."""
    arr = np.asarray(value)
    if arr.dtype != np.uint8:
        raise TypeError(f"{what} must be uint8, not {arr.dtype}")
    if arr.ndim == 1 and arr.shape[0] == nbytes:
        arr = arr.reshape(1, nbytes)
    if arr.ndim != 2 or arr.shape[1] != nbytes:
        raise HashFormatError(f"{what} have shape (N, {nbytes}), got {arr.shape}")
    return np.ascontiguousarray(arr)


def hashes_to_array(values: Iterable[HashLike]) -> np.ndarray:
    """Hex strings, bytes or PDQHash objects to an (N, 32) uint8 array."""
    if isinstance(values, np.ndarray):
        return as_hash_array(values)
    values = list(values)
    if values and all(isinstance(v, str) for v in values):
        return hex_to_array(values)
    out = np.empty((len(values), PDQ_BYTES), dtype=np.uint8)
    for i, v in enumerate(values):
        out[i] = np.frombuffer(_one(v), dtype=np.uint8)
    return out


def hex_to_array(values: Iterable[str]) -> np.ndarray:
    """64-digit hex strings to an (N, 32) uint8 array; a bad string is named by index."""
    values = values if isinstance(values, list) else list(values)
    try:
        # every entry must be 64 characters on its own: a 63 and a 65 would
        # otherwise join into two well-formed-looking hashes
        if not all(isinstance(v, str) and len(v) == 64 for v in values):
            raise ValueError
        raw = bytes.fromhex("".join(values))
        if len(raw) != PDQ_BYTES * len(values):
            raise ValueError
    except (ValueError, TypeError):
        for i, v in enumerate(values):
            try:
                parse_hex(v)
            except (HashFormatError, TypeError) as exc:
                raise HashFormatError(f"hash {i}: {exc}") from None
        raise HashFormatError("malformed hex hashes") from None
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), PDQ_BYTES).copy()


def array_to_hex(arr) -> list[str]:
    """An (N, 32) uint8 array to N lower-case hex strings."""
    arr = as_hash_array(arr)
    text = arr.tobytes().hex()
    return [text[i:i + 64] for i in range(0, len(text), 64)]


def hamming(a, b):
    """Hamming distance between hashes.

    Two single hashes (PDQHash, hex, 32 bytes) give an int. Arrays of shape (N, 32)
    and/or (32,) broadcast and give an int array of N distances."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        x = as_hash_array(a) if isinstance(a, np.ndarray) else as_hash_array(
            np.frombuffer(_one(a), np.uint8))
        y = as_hash_array(b) if isinstance(b, np.ndarray) else as_hash_array(
            np.frombuffer(_one(b), np.uint8))
        if x.shape[0] != y.shape[0] and 1 not in (x.shape[0], y.shape[0]):
            raise ValueError(f"cannot compare {x.shape[0]} hashes with {y.shape[0]}")
        return _POPCOUNT8[np.bitwise_xor(x, y)].sum(axis=1, dtype=np.int64)
    diff = int.from_bytes(_one(a), "big") ^ int.from_bytes(_one(b), "big")
    return bin(diff).count("1")


_FRAME_FIELDS = ("frame", "quality", "pdq", "timestamp")


@dataclass(frozen=True)
class VPDQFeature:
    """One hashed video frame: the line ``frame_number,quality,hex,timestamp`` of vPDQ."""

    frame_number: int
    quality: int
    hex: str
    timestamp: float

    @property
    def pdq(self) -> PDQHash:
        return PDQHash.from_hex(self.hex, self.quality)

    def distance(self, other) -> int:
        other_hex = other.hex if isinstance(other, VPDQFeature) else other
        return hamming(self.hex, other_hex)

    def to_line(self) -> str:
        """The reference's text line; the timestamp printed with 3 decimals."""
        return f"{self.frame_number},{self.quality},{self.hex},{self.timestamp:.3f}"

    @classmethod
    def from_fields(cls, frame: str, quality: str, hex_text: str, timestamp: str,
                    where: str) -> VPDQFeature:
        """A feature from its text fields, validated (64 hex digits, quality 0..100,
        frame >= 0, a finite timestamp >= 0); HashFormatError naming ``where``."""
        try:
            raw = parse_hex(hex_text.strip())
            q = int(quality)
            n = int(frame)
            ts = float(timestamp)
        except (ValueError, HashFormatError) as exc:
            raise HashFormatError(f"{where}: {exc}") from None
        if not 0 <= q <= 100:
            raise HashFormatError(f"{where}: quality {q} is not in 0..100")
        if n < 0:
            raise HashFormatError(f"{where}: negative frame number {n}")
        if not (math.isfinite(ts) and ts >= 0):
            raise HashFormatError(f"{where}: bad timestamp {timestamp!r}")
        return cls(n, q, raw.hex(), ts)

    def to_json(self) -> dict:
        """The JSON wire shape of a frame, the one every tidehash JSON writer uses
        (``tidehash hash``, JSON lines lists, ``HashRecord.to_dict``) and the JSON
        lines reader reads: ``{"frame", "quality", "pdq", "timestamp"}``, the
        timestamp rounded to 3 decimals as in the text line."""
        return {"frame": self.frame_number, "quality": self.quality, "pdq": self.hex,
                "timestamp": round(self.timestamp, 3)}

    @classmethod
    def from_json(cls, obj, where: str = "<vpdq>") -> VPDQFeature:
        """A frame from its JSON wire shape (see ``to_json``), validated as
        ``from_fields``; HashFormatError naming ``where``."""
        if type(obj) is not dict:
            raise HashFormatError(f"{where}: expected a frame object, got "
                                  f"{type(obj).__name__}")
        missing = [k for k in _FRAME_FIELDS if k not in obj]
        if missing:
            raise HashFormatError(f"{where}: frame object without {', '.join(missing)}")
        frame, quality, hex_text, ts = (obj[k] for k in _FRAME_FIELDS)
        for name, value, types in (("frame", frame, (int,)), ("quality", quality, (int,)),
                                   ("pdq", hex_text, (str,)),
                                   ("timestamp", ts, (int, float))):
            if type(value) not in types:
                raise HashFormatError(f"{where}: {name} must be "
                                      f"{'a string' if types == (str,) else 'a number'}, "
                                      f"got {value!r:.40}")
        return cls.from_fields(str(frame), str(quality), hex_text, repr(float(ts)), where)

    @classmethod
    def from_line(cls, text: str, where: str = "<vpdq>") -> VPDQFeature:
        """Parse one ``frame,quality,hex,timestamp`` line (surrounding blanks allowed)."""
        text = text.strip()
        parts = text.split(",")
        if len(parts) != 4:
            raise HashFormatError(
                f"{where}: expected frame,quality,hex,timestamp; got {text[:80]!r}")
        return cls.from_fields(parts[0], parts[1], parts[2], parts[3], where)
