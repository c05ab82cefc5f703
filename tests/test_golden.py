"""Golden PDQ vectors: decoded pixels (tests/golden/*.npy) with the hashes and quality
pip pdqhash (Meta's C++ reference core) gives them, committed by
tests/golden/make_golden.py, so bit-exactness with the reference is checked without
the pdqhash wheel at test time, on every ISA, for both entry points and all eight
dihedral variants. Cases where pdqhash's float64 luma departs from the reference's
float32 arithmetic were left out when the file was made (its "excluded" list)."""

import json
from pathlib import Path

import numpy as np
import pytest

import tidehash

GOLDEN = Path(__file__).resolve().parent / "golden"
DOC = json.loads((GOLDEN / "expected.json").read_text(encoding="utf-8"))
CASES = DOC["cases"]


def pixels(name: str) -> np.ndarray:
    a = np.load(GOLDEN / f"{name}.npy", allow_pickle=False)
    assert a.dtype == np.uint8 and list(a.shape) == CASES[name]["shape"]
    return a


def test_golden_set_covers_what_it_should():
    assert DOC["source"].startswith("pip pdqhash")
    origins = {c["origin"] for c in CASES.values()}
    assert origins == {"synthetic", "decoded-jpeg"}
    channels = {1 if len(c["shape"]) == 2 else c["shape"][2] for c in CASES.values()}
    assert channels == {1, 3, 4}
    assert any(c["shape"][:2] == [64, 64] for c in CASES.values())  # the unfiltered entry
    assert not set(DOC["excluded"]) & set(CASES)
    assert {p.stem for p in GOLDEN.glob("*.npy")} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pdq_hash_equals_reference(name, isa):
    want = CASES[name]
    with tidehash.use_isa(isa):
        h = tidehash.pdq_hash(pixels(name))
    assert (h.hex, h.quality) == (want["pdq"], want["quality"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_pdq_hash_dihedral_equals_reference(name, isa):
    want = CASES[name]
    with tidehash.use_isa(isa):
        hashes = tidehash.pdq_hash_dihedral(pixels(name))
    assert [h.hex for h in hashes] == want["dihedral"]
    assert {h.quality for h in hashes} == {want["dihedral_quality"]}
