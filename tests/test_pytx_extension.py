"""tidehash.pytx, the python-threatexchange extension: pytx's own CLI end to end in a
temporary state folder, and the index differential against pytx's faiss PDQIndex2."""

from __future__ import annotations

import ast
import io
import json
import os
import pathlib
import pickle
import subprocess
import sys

import numpy as np
import pdqhash
import pytest
import skimage.data
from hypothesis import given, settings
from hypothesis import strategies as st
from images import make_rgb
from PIL import Image
from threatexchange.extensions.manifest import ThreatExchangeExtensionManifest
from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file
from threatexchange.signal_type.pdq.pdq_index2 import PDQIndex2
from threatexchange.signal_type.pdq.signal import PdqSignal
from videos import make_video

import tidehash
from tidehash.pytx import (
    TX_MANIFEST,
    TidehashPDQIndex,
    TidehashPdqSignal,
    TidehashVPDQIndex,
    TidehashVpdqSignal,
)

SRC = pathlib.Path(tidehash.__file__).parent.parent


# ----------------------------------------------------------------------------- helpers
def _photo(path: pathlib.Path, name: str = "astronaut", quality: int = 90,
           size: int | None = None) -> pathlib.Path:
    """One of scikit-image's photos as a JPEG (scaled to ``size`` px wide)."""
    img = Image.fromarray(getattr(skimage.data, name)())
    if size:
        img = img.resize((size, img.height * size // img.width))
    img.save(path, quality=quality)
    return path


def _flip(hex_: str, bits) -> str:
    """The hash with the given bit positions flipped."""
    v = int(hex_, 16)
    for b in bits:
        v ^= 1 << int(b)
    return f"{v:064x}"


def _results(index, query: str) -> list[tuple[object, int]]:
    """(entry, distance) pairs of one query, sorted; distances as exact ints."""
    out = []
    for m in index.query(query):
        d = m.similarity_info.distance
        assert d == int(d)
        out.append((m.metadata, int(d)))
    return sorted(out)


def _same_as_faiss(entries, queries, threshold: int = 31) -> None:
    ours = TidehashPDQIndex(entries, threshold=threshold)
    theirs = PDQIndex2(entries=entries, threshold=threshold)
    assert len(ours) == len(theirs)
    for q in queries:
        assert _results(ours, q) == _results(theirs, q), q
    batch = ours.query_batch(queries)
    assert [sorted((m.metadata, m.similarity_info.distance) for m in ms) for ms in batch] == \
        [_results(ours, q) for q in queries]


BASE = PdqSignal.get_examples()[0]


# ----------------------------------------------------------------------------- the manifest
def test_the_manifest_loads_as_pytx_loads_it():
    manifest = ThreatExchangeExtensionManifest.load_from_module_name("tidehash.pytx")
    assert manifest is TX_MANIFEST
    assert [s.get_name() for s in manifest.signal_types] == ["tidehash_pdq", "tidehash_vpdq"]
    assert TidehashPdqSignal.get_index_cls() is TidehashPDQIndex
    assert TidehashVpdqSignal.get_index_cls() is TidehashVPDQIndex


def _tx(state: pathlib.Path, *args: str) -> str:
    env = dict(os.environ, TX_STATEDIR=str(state),
               PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "threatexchange", *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def test_pytx_cli_hashes_and_matches_with_the_extension(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    photo = _photo(tmp_path / "photo.jpg")
    recompressed = _photo(tmp_path / "photo-small.jpg", quality=30, size=300)
    other = _photo(tmp_path / "other.jpg", "coffee")
    video = make_video(tmp_path / "clip.mp4", frames=75)

    out = _tx(state, "config", "extensions", "add", "tidehash.pytx")
    assert "tidehash_pdq - TidehashPdqSignal" in out
    assert "tidehash_vpdq - TidehashVpdqSignal" in out
    assert "tidehash.pytx" in _tx(state, "config", "extensions", "list")

    # the photo: tidehash_pdq prints what pytx's own pdq prints, and what tidehash says
    ours = _tx(state, "hash", "-S", "tidehash_pdq", "photo", str(photo)).split()
    theirs = _tx(state, "hash", "-S", "pdq", "photo", str(photo)).split()
    assert ours[0] == "tidehash_pdq" and theirs[0] == "pdq"
    assert ours[1] == theirs[1] == tidehash.hash_file(photo).pdq.hex
    # the video: pytx's vPDQ JSON, computed by tidehash
    line = _tx(state, "hash", "-S", "tidehash_vpdq", "video", video).strip()
    name, _, signal = line.partition(" ")
    assert name == "tidehash_vpdq"
    assert signal == tidehash.vpdq_to_json(tidehash.vpdq_hash(video))
    assert len(json.loads(signal)) == 3

    # a local list holding both, fetched and matched through pytx
    listed = tmp_path / "list.txt"
    listed.write_text(f"tidehash_pdq {ours[1]}\ntidehash_vpdq {signal}\n")
    _tx(state, "config", "collab", "edit", "local_file", "--create", "--filename",
        str(listed), "ourlist")
    _tx(state, "fetch")
    assert sorted(p.name for p in (state / "index").iterdir()) == \
        ["tidehash_pdq.index", "tidehash_vpdq.index"]
    distance = tidehash.hamming(ours[1], tidehash.hash_file(recompressed).pdq.hex)
    assert 0 < distance <= 31
    assert _tx(state, "match", "photo", str(recompressed)).split() == \
        ["tidehash_pdq", str(distance), "(ourlist)", "INVESTIGATION_SEED"]
    assert tidehash.hamming(ours[1], tidehash.hash_file(other).pdq.hex) > 31
    assert _tx(state, "match", "photo", str(other)).strip() == ""
    assert _tx(state, "match", "video", video).split() == \
        ["tidehash_vpdq", "100%[100%]", "(ourlist)", "INVESTIGATION_SEED"]


# ----------------------------------------------------------------------------- PDQ hashing
def test_hashes_equal_pytx_pdq_on_the_same_files(tmp_path):
    paths = [_photo(tmp_path / f"{name}.jpg", name) for name in ("astronaut", "coffee",
                                                                  "camera")]  # camera: grey
    for seed, kind in enumerate(("noise", "text", "checker")):
        paths.append(tmp_path / f"{kind}.png")
        Image.fromarray(make_rgb(kind, 90 + seed * 37, 130, seed=seed)).save(paths[-1])
    for path in paths:
        data = path.read_bytes()
        assert TidehashPdqSignal.hash_from_bytes(data) == PdqSignal.hash_from_bytes(data)
        assert TidehashPdqSignal.hash_from_file(path) == PdqSignal.hash_from_file(path)
        assert TidehashPdqSignal.hash_from_file(path) != ""


def test_a_flat_image_hashes_to_nothing_as_in_pytx(tmp_path):
    path = tmp_path / "flat.png"
    Image.new("RGB", (80, 80), (120, 30, 200)).save(path)
    assert pdq_from_file(path)[1] < 50
    assert TidehashPdqSignal.hash_from_file(path) == PdqSignal.hash_from_file(path) == ""


def test_palette_png_is_expanded_as_the_reference_does_and_pytx_does_not(tmp_path):
    """pip pdqhash on the palette's colours is the reference (Meta's C++ tool reads
    a palette image as its colours); pytx's Pillow path hands pdqhash the palette
    indices, which give another hash."""
    img = Image.fromarray(skimage.data.coffee()).quantize(colors=64)
    # indices in an order unrelated to brightness: reversed palette, remapped pixels
    pal = np.array(img.getpalette()[:64 * 3], np.uint8).reshape(64, 3)
    order = np.random.default_rng(1).permutation(64)
    idx = np.asarray(img)
    remapped = Image.fromarray(np.argsort(order).astype(np.uint8)[idx], mode="P")
    remapped.putpalette(pal[order].reshape(-1).tolist())
    path = tmp_path / "palette.png"
    remapped.save(path)
    assert Image.open(path).mode == "P"

    colours = np.asarray(Image.open(path).convert("RGB"))
    bits, quality = pdqhash.compute(colours)
    reference = f"{int(''.join(map(str, bits)), 2):064x}"
    assert quality >= 50
    assert TidehashPdqSignal.hash_from_file(path) == reference
    pytx = PdqSignal.hash_from_file(path)
    assert pytx != reference
    assert tidehash.hamming(pytx, reference) > 31  # not a near miss: another image


# ----------------------------------------------------------------------------- the index
def test_the_31_32_boundary_and_past_the_threshold():
    distances = [0, 1, 30, 31, 32, 33, 64, 127, 128, 200, 255, 256]
    rng = np.random.default_rng(5)
    entries = [(_flip(BASE, rng.choice(256, d, replace=False)), f"d{d}") for d in distances]
    for threshold in (0, 1, 30, 31, 32, 33, 64, 128, 255, 256, 300):
        _same_as_faiss(entries, [BASE, entries[4][0], _flip(BASE, range(256))], threshold)
    got = _results(TidehashPDQIndex(entries), BASE)
    assert got == [("d0", 0), ("d1", 1), ("d30", 30), ("d31", 31)]


def test_duplicates_return_every_entry():
    near = _flip(BASE, [3, 99])
    entries = [(BASE, 1), (near, 2), (BASE, 3), (BASE, 1), (near, 4)]
    _same_as_faiss(entries, [BASE, near, _flip(BASE, [7])])
    index = TidehashPDQIndex(entries)
    assert len(index) == 2
    index.add(BASE, 5)
    assert _results(index, BASE) == [(1, 0), (1, 0), (2, 2), (3, 0), (4, 2), (5, 0)]


def test_an_empty_index_and_a_single_entry():
    _same_as_faiss([], [BASE])
    assert TidehashPDQIndex().query(BASE) == []
    assert TidehashPDQIndex().query_batch([BASE, BASE]) == [[], []]
    assert TidehashPDQIndex().query_batch([]) == []
    _same_as_faiss([(BASE, "only")], [BASE, _flip(BASE, range(31)), _flip(BASE, range(32))])


def test_bad_hashes_raise_and_leave_the_index_as_it_was():
    index = TidehashPDQIndex([(BASE, 0)])
    with pytest.raises(ValueError):
        index.add_all([(_flip(BASE, [1]), 1), ("not a hash", 2)])
    assert len(index) == 1
    assert _results(index, _flip(BASE, [1])) == [(0, 1)]
    with pytest.raises(ValueError):
        index.query("abc")
    with pytest.raises(ValueError):
        TidehashPDQIndex(threshold=-1)


def test_serialise_round_trip_pickles_no_lock():
    entries = [(_flip(BASE, range(d)), f"id{d}") for d in (0, 5, 31, 32, 40)] + [(BASE, "dup")]
    index = TidehashPDQIndex(entries, threshold=32)
    buf = io.BytesIO()
    index.serialize(buf)  # pytx's own: a pickle of the index
    assert b"_thread" not in buf.getvalue() and b"Lock" not in buf.getvalue()
    buf.seek(0)
    back = TidehashPDQIndex.deserialize(buf)
    assert back.threshold == 32 and len(back) == len(index)
    for q in (BASE, _flip(BASE, range(20))):
        assert _results(back, q) == _results(index, q) == \
            _results(PDQIndex2(entries=entries, threshold=32), q)
    back.add(_flip(BASE, [200]), "new")
    assert ("new", 1) in _results(back, BASE)


_hashes = st.integers(0, 2**256 - 1).map(lambda v: f"{v:064x}")


@settings(max_examples=60, deadline=None)
@given(bases=st.lists(_hashes, min_size=1, max_size=6), seed=st.integers(0, 2**32 - 1),
       threshold=st.sampled_from([0, 15, 31, 32, 64, 128, 256]))
def test_random_hashes_match_pdqindex2(bases, seed, threshold):
    """Random hashes and near copies of them at random distances (duplicates
    included): every query gives exactly PDQIndex2's (entry, distance) pairs."""
    rng = np.random.default_rng(seed)
    entries = []
    for i in range(20):
        base = bases[int(rng.integers(len(bases)))]
        d = int(rng.choice([0, 1, 30, 31, 32, 33, int(rng.integers(256))]))
        entries.append((_flip(base, rng.choice(256, d, replace=False)), i))
    queries = bases + [_flip(b, rng.choice(256, 16, replace=False)) for b in bases]
    _same_as_faiss(entries, queries, threshold)


# ----------------------------------------------------------------------------- vPDQ
def test_vpdq_json_is_pytx_s_serialisation(tmp_path):
    video = make_video(tmp_path / "v.mp4", frames=60, rate=10)
    signal = TidehashVpdqSignal.hash_from_file(tmp_path / "v.mp4", seconds_per_hash=0.5)
    features = tidehash.vpdq_hash(video, 0.5)
    items = json.loads(signal)
    assert len(items) == len(features) == 12
    for item, f in zip(items, features):
        # pytx's VpdqCompactFeature.__str__ is f"{hex},{quality},{timestamp:.3}"
        hex_, quality, timestamp = item.split(",")
        assert (hex_, int(quality)) == (f.hex, f.quality)
        assert item == f"{hex_},{int(quality)},{float(timestamp):.3}"
    assert TidehashVpdqSignal.validate_signal_str(signal) == signal
    with pytest.raises(ValueError):
        TidehashVpdqSignal.validate_signal_str('["abc,100,0.0"]')


def test_vpdq_index_and_compare_agree(tmp_path):
    signals = [TidehashVpdqSignal.hash_from_file(
        make_video(tmp_path / f"v{seed}.mp4", frames=50, seed=seed)) for seed in range(3)]
    index = TidehashVPDQIndex.build([(s, f"video{i}") for i, s in enumerate(signals)])
    assert len(index) == 3
    for i, s in enumerate(signals):
        found = [(m.metadata, m.similarity_info.query_match_percent) for m in index.query(s)]
        assert (f"video{i}", 100.0) in found
        for j, other in enumerate(signals):
            cmp = TidehashVpdqSignal.compare_hash(s, other)
            assert cmp.match == any(name == f"video{j}" for name, _ in found)
    back = pickle.loads(pickle.dumps(index))
    assert [m.metadata for m in back.query(signals[1])] == \
        [m.metadata for m in index.query(signals[1])]
    flat = json.dumps([f"{'0' * 64},10,0.0"])  # every frame below quality 50
    with pytest.raises(ValueError):
        index.add(flat, "bad")
    assert index.query(flat) == []


# ----------------------------------------------------------------------------- layers
def test_the_engine_never_imports_pytx():
    """Only tidehash.pytx imports threatexchange, and nothing imports tidehash.pytx:
    the engine and the registry run without the ``pytx`` extra."""
    found = []
    for path in pathlib.Path(tidehash.__file__).parent.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("").parts
        if rel[:2] == ("tidehash", "pytx"):
            continue
        package = rel[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = list(package[:len(package) - node.level + 1]) if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                names = [module] + [f"{module}.{a.name}" for a in node.names]
            else:
                continue
            found += [f"{'.'.join(rel)}: {n}" for n in names
                      if n.split(".")[0] == "threatexchange" or n.startswith("tidehash.pytx")]
    assert found == []
