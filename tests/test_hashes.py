"""tidehash.hashes.parse_hash: a literal hash as a person types it (the CLI's `match`
and `compare` arguments)."""

from __future__ import annotations

import pytest

from tidehash.errors import HashFormatError
from tidehash.hashes import parse_hash

PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


@pytest.mark.parametrize("text, expected", [
    (PDQ, ("pdq", PDQ)),
    (PDQ.upper(), ("pdq", PDQ)),
    (f"  {PDQ}\n", ("pdq", PDQ)),
    ("d41d8cd98f00b204e9800998ecf8427e", ("md5", "d41d8cd98f00b204e9800998ecf8427e")),
    ("8000000000000000", ("phash", "8000000000000000")),
    (f"pdq {PDQ}", ("pdq", PDQ)),
    (f"PDQ\t{PDQ.upper()}", ("pdq", PDQ)),
    (f"sha256 {PDQ}", ("sha256", PDQ)),
    ("md5 D41D8CD98F00B204E9800998ECF8427E", ("md5", "d41d8cd98f00b204e9800998ecf8427e")),
    ("phash 8000000000000000", ("phash", "8000000000000000")),
    ("0" * 64, ("pdq", "0" * 64)),
])
def test_literal_hashes(text, expected):
    assert parse_hash(text) == expected


@pytest.mark.parametrize("text", [
    "", "   ", PDQ[:-1], PDQ + "0", "g" * 64, "0x" + PDQ[:62], f"pdq {PDQ[:32]}",
    f"md5 {PDQ}", f"vpdq {PDQ}", f"pdq {PDQ} extra", "photo.jpg", f"{PDQ[:32]} {PDQ[32:]}",
    "12345",
])
def test_not_a_hash(text):
    with pytest.raises(HashFormatError):
        parse_hash(text)


def test_not_text():
    with pytest.raises(TypeError):
        parse_hash(bytes.fromhex(PDQ))
