"""tidehash.Matcher: the matching rules over a hash list, against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from videos import make_video  # tests/ helpers (conftest puts tests/ on sys.path)

import tidehash
from tidehash.formats import HashList, HashRecord
from tidehash.match import Matcher


def _flip(hex_: str, rng, n: int) -> str:
    bits = np.unpackbits(np.frombuffer(bytes.fromhex(hex_), np.uint8))
    bits[rng.choice(256, n, replace=False)] ^= 1
    return np.packbits(bits).tobytes().hex()


@given(seed=st.integers(0, 2**32 - 1), radius=st.sampled_from([0, 10, 31, 52]))
@settings(max_examples=40, deadline=None)
def test_pdq_matches_equal_brute_force(seed, radius):
    rng = np.random.default_rng(seed)
    base = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex() for _ in range(5)]
    records = []
    for i in range(60):  # families of near-duplicates, some exact repeats (merged rows)
        h = base[i % 5] if i % 7 == 0 else _flip(base[i % 5], rng, int(rng.integers(1, 70)))
        records.append(HashRecord("pdq", h, id=1000 + i, label=f"case-{i}", source="s",
                                  quality=int(rng.integers(0, 101))))
    hl = HashList.from_records(records)
    m = Matcher(hl, radius=radius)
    query = _flip(base[int(rng.integers(0, 5))], rng, int(rng.integers(0, 40)))
    got = {(x.row, x.distance, tuple(sorted(e.id for e in x.entries)))
           for x in m.match_pdq(query)}
    expected = {}
    for r in records:
        d = tidehash.hamming(query, r.hash)
        if d <= radius:
            expected.setdefault((r.hash, d), []).append(r.id)
    assert {(d, tuple(sorted(ids))) for (_, d), ids in expected.items()} == \
        {(d, ids) for _, d, ids in got}
    for x in m.match_pdq(query):
        assert {e.label for e in x.entries} <= {f"case-{i}" for i in range(60)}


def test_weak_and_min_quality():
    h = "f" * 32 + "0" * 32
    hl = HashList.from_records([HashRecord("pdq", h, id=7, label="x")])
    assert Matcher(hl).match_pdq(h, quality=40)[0].weak
    assert not Matcher(hl).match_pdq(h, quality=90)[0].weak
    assert Matcher(hl, min_quality=50).match_pdq(h, quality=40) == []
    assert Matcher(hl, min_quality=50).match_pdq(h)[0].entries[0].id == 7  # unknown quality


def test_expected_queries_reach_the_index(tmp_path):
    """Matcher and Matcher.load hand expected_queries to the PDQ Index, where few
    expected queries mean a flat scan (see test_index)."""
    from tidehash.formats import save_list

    h = "f" * 32 + "0" * 32
    hl = HashList.from_records([HashRecord("pdq", h, id=7, label="x")])
    save_list(hl, tmp_path / "l.thl")
    for m in (Matcher(hl, expected_queries=5), Matcher.load(tmp_path / "l.thl",
                                                            expected_queries=5)):
        assert m.index.strategy == "auto" and m.index.expected_queries == 5
        assert m.match_pdq(h)[0].entries[0].id == 7
    assert Matcher(hl).index.expected_queries is None


def test_digests_match_exactly():
    md5 = "0123456789abcdef0123456789abcdef"
    hl = HashList.from_records([HashRecord("md5", md5, id=1, label="a"),
                                HashRecord("md5", md5, id=2, label="b")])
    m = Matcher(hl)
    found = m.match_digest("md5", md5.upper())
    assert len(found) == 1 and sorted(e.id for e in found[0].entries) == [1, 2]
    assert m.match_digest("md5", "f" * 32) == []
    with pytest.raises(ValueError):
        m.match_digest("crc32", md5)


def _photo(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    return Image.fromarray(small).resize((320, 240), Image.Resampling.BICUBIC)


def test_match_file_plain_and_dihedral(tmp_path):
    im = _photo(3)
    im.save(tmp_path / "orig.png")
    im.transpose(Image.Transpose.ROTATE_90).save(tmp_path / "rot.png")
    im.convert("RGB").save(tmp_path / "copy.jpg", quality=70)
    listed = tidehash.hash_file(tmp_path / "orig.png", algorithms=("pdq", "md5"))
    hl = HashList.from_records([HashRecord("pdq", listed.pdq.hex, id=42, label="victim"),
                                HashRecord("md5", listed.md5, id=43, label="victim")])
    plain = Matcher(hl)
    found = plain.match_file(tmp_path / "copy.jpg")
    assert [(x.signal, x.entries[0].id) for x in found] == [("pdq", 42)]
    assert found[0].distance <= 31
    exact = plain.match_file(tmp_path / "orig.png")
    assert {(x.signal, x.distance) for x in exact} == {("md5", 0), ("pdq", 0)}
    assert plain.match_file(tmp_path / "rot.png") == []
    turned = Matcher(hl, dihedral=True)
    rot = turned.match_file(tmp_path / "rot.png")
    assert len(rot) == 1 and rot[0].variant not in (None, 0) and rot[0].distance <= 31
    # in one batch, a record hashed without its variants does not stop the others' search
    with_variants = tidehash.hash_file(tmp_path / "rot.png", dihedral=True)
    without = tidehash.hash_file(tmp_path / "copy.jpg")
    batch = turned.match_records([without, with_variants])
    assert batch == [turned.match_record(without), turned.match_record(with_variants)]
    assert batch[1] == rot and [x.entries[0].id for x in batch[0]] == [42]


def test_match_video_rule(tmp_path):
    def scene(i):
        return "scene"

    path = make_video(tmp_path / "v.mp4", codec="libx264", width=160, height=96, rate=25,
                      frames=50, script=scene)
    copy = make_video(tmp_path / "v2.mkv", codec="libx264", width=160, height=96, rate=25,
                      frames=50, script=scene, options={"crf": "36"})
    feats = tidehash.vpdq_hash(path, 0.2)
    hl = HashList.from_records([HashRecord("vpdq", None, id=9, label="clip",
                                           features=tuple(feats))])
    found = Matcher(hl).match_file(copy, seconds_per_hash=0.2)
    assert len(found) == 1 and found[0].signal == "vpdq" and found[0].entries[0].id == 9
    assert found[0].query_match_percent == tidehash.vpdq_match(
        tidehash.vpdq_hash(copy, 0.2), feats).query_match_percent
    assert Matcher(hl, video_match=100.0).match_file(copy, seconds_per_hash=0.2)


def test_bad_thresholds():
    hl = HashList.from_records([])
    with pytest.raises(ValueError):
        Matcher(hl, radius=-1)
    with pytest.raises(ValueError):
        Matcher(hl, video_match=150)


@pytest.mark.parametrize("kwargs, message", [
    (dict(radius=-1), "radius must be an int in 0..256"),
    (dict(radius=257), "radius must be an int in 0..256"),
    (dict(radius=31.0), "radius must be an int in 0..256"),
    (dict(weak_quality=-1), "weak_quality must be an int in 0..101"),
    (dict(weak_quality=200), "weak_quality must be an int in 0..101"),
    (dict(min_quality=-1), "min_quality must be an int in 0..101"),
    (dict(min_quality=102), "min_quality must be an int in 0..101"),
    (dict(video_quality=-1), "video_quality must be an int in 0..101"),
    (dict(video_distance=300), "video_distance must be an int in 0..256"),
    (dict(video_match=float("nan")), "video_match must be a percentage"),
    (dict(video_match=float("inf")), "video_match must be a percentage"),
    (dict(video_match=-1), "video_match must be a percentage"),
])
def test_bad_thresholds_name_the_parameter_passed(kwargs, message):
    """Regression (fixed): Matcher(hl, radius=-1) said "distance_threshold must be
    ...", weak_quality / min_quality said "quality_threshold": the message names
    the parameter the caller passed."""
    with pytest.raises(ValueError, match="^" + message):
        Matcher(HashList.from_records([]), **kwargs)
