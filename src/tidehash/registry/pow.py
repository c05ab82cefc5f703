"""The proof of work a submission carries: find a decimal ``nonce`` such that
SHA-256(challenge + ":" + nonce) starts with ``difficulty`` zero bits.

Standard library only: the person's device (``tidehash submit``, the web page) solves
it, the registry checks it. Expected work is 2**difficulty hashes; checking is one."""

from __future__ import annotations

import hashlib

ALGORITHM = "sha256-leading-zero-bits"
MAX_DIFFICULTY = 32
MAX_NONCE_LENGTH = 20


def leading_zero_bits(digest: bytes) -> int:
    """How many zero bits the digest starts with."""
    value = int.from_bytes(digest, "big")
    return len(digest) * 8 - value.bit_length()


def check_solution(challenge: str, nonce: str, difficulty: int) -> bool:
    """True when ``nonce`` (a decimal string) solves ``challenge`` at ``difficulty``."""
    if not isinstance(nonce, str) or not (0 < len(nonce) <= MAX_NONCE_LENGTH) \
            or not nonce.isascii() or not nonce.isdigit():
        return False
    digest = hashlib.sha256(f"{challenge}:{nonce}".encode("ascii", "replace")).digest()
    return leading_zero_bits(digest) >= difficulty


def solve(challenge: str, difficulty: int, *, start: int = 0) -> str:
    """The first nonce from ``start`` that solves ``challenge`` (about 2**difficulty
    SHA-256 computations; 20 bits is about a second in CPython)."""
    if not isinstance(difficulty, int) or isinstance(difficulty, bool) \
            or not 0 <= difficulty <= MAX_DIFFICULTY:
        raise ValueError(f"difficulty must be an int in 0..{MAX_DIFFICULTY}, got {difficulty!r}")
    prefix = hashlib.sha256(f"{challenge}:".encode("ascii"))
    shift = 256 - difficulty
    nonce = start
    while True:
        h = prefix.copy()
        text = str(nonce)
        h.update(text.encode("ascii"))
        if int.from_bytes(h.digest(), "big") >> shift == 0:
            return text
        nonce += 1
