"""``tidehash bench robustness``: the transforms are deterministic, an unaltered copy is
at distance 0, the recall / false-positive / threshold / confidence-bound arithmetic
gives known answers on constructed distance sets (scipy's exact binomial interval as
the oracle for the bound), the impostor pairs are the ones the docs define, and a run
writes a JSON with the names other checks rely on and a PNG that Pillow opens.
No timing is asserted."""

from __future__ import annotations

import ast
import hashlib
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy.stats import binomtest

import tidehash
from tidehash.bench.photos import make_photo_like
from tidehash.bench.robustness import analysis, metrics, run, run_benchmark, sample
from tidehash.bench.robustness import main as robustness_main
from tidehash.bench.robustness import transforms as tf

SRC = pathlib.Path(tidehash.__file__).resolve().parents[1]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(SRC))


@pytest.fixture(scope="module")
def small_photos() -> list[sample.Photo]:
    """Four photo-like images, one grey, of different sizes and aspects."""
    out = []
    for i, (w, h) in enumerate(((96, 80), (120, 90), (64, 100), (88, 88))):
        arr = make_photo_like(w, h, seed=100 + i)
        if i == 3:
            arr = np.asarray(Image.fromarray(arr).convert("L"))
        out.append(sample.photo_from_array(f"p{i}", arr))
    return out


# ----------------------------------------------------------------------------- transforms
RANDOM = {"jpeg-chain", "noise", "crop-offset", "text", "sticker"}


@pytest.mark.parametrize("name", list(tf.TRANSFORMS))
def test_transforms_are_deterministic(name, small_photos):
    t = tf.TRANSFORMS[name]
    for photo in small_photos[:2] + small_photos[3:]:
        for strength in t.strengths:
            first = tf.apply(name, photo.image, strength, photo.seed)
            again = tf.apply(name, photo.image, strength, photo.seed)
            assert first == again, (name, strength, photo.name)
            assert run.hash_file_bytes(first).size[0] > 0
    if name in RANDOM:  # the seed is what the random choices depend on
        p = small_photos[1]
        s = t.strengths[-1]
        assert tf.apply(name, p.image, s, p.seed) != tf.apply(name, p.image, s, p.seed + 1)


_DIGESTS = """
import hashlib, json, sys
import numpy as np
from tidehash.bench.photos import make_photo_like
from tidehash.bench.robustness import sample, transforms as tf
photo = sample.photo_from_array("p", make_photo_like(72, 56, seed=3))
print(json.dumps({f"{n}:{s!r}": hashlib.sha256(tf.apply(n, photo.image, s, photo.seed))
                  .hexdigest() for n, s in tf.variants()}))
"""


def test_transforms_give_the_same_bytes_in_another_interpreter():
    """Same seed, same bytes across runs too: no state of the process (hash
    randomisation, a font cache, the order workers start in) reaches a file."""
    runs = []
    for hash_seed in ("1", "2"):
        r = subprocess.run([sys.executable, "-c", _DIGESTS],
                           env=dict(_env(), PYTHONHASHSEED=hash_seed), capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout))
    photo = sample.photo_from_array("p", make_photo_like(72, 56, seed=3))
    here = {f"{n}:{s!r}": hashlib.sha256(tf.apply(n, photo.image, s, photo.seed)).hexdigest()
            for n, s in tf.variants()}
    assert len(here) == len(tf.variants()) and runs[0] == runs[1] == here


def test_transforms_do_what_they_say(small_photos):
    p = small_photos[0]  # 96 x 80
    im = p.image

    def decoded(name, s):
        return Image.open(__import__("io").BytesIO(tf.apply(name, im, s, p.seed)))

    assert decoded("identity", 0).size == (96, 80)
    assert np.array_equal(np.asarray(decoded("identity", 0)), p.pixels)
    assert np.array_equal(np.asarray(decoded("format", "bmp").convert("RGB")), p.pixels)
    assert decoded("format", "webp").format == "WEBP"
    assert decoded("jpeg", 50).format == "JPEG"
    assert decoded("resize", 0.5).size == (48, 40)
    assert decoded("crop", 0.1).size == (96 - 2 * 5, 80 - 2 * 4)
    assert decoded("crop-offset", 0.2).size == (96 - 19, 80 - 16)
    assert decoded("pad", 0.2).size == (96 + 2 * 10, 80 + 2 * 8)
    assert decoded("squash", 0.8).size == (77, 80)
    assert decoded("rotate-quarter", 90).size == (80, 96)
    assert np.array_equal(np.asarray(decoded("mirror", "horizontal")), p.pixels[:, ::-1])
    assert np.array_equal(np.asarray(decoded("rotate-quarter", 180)), p.pixels[::-1, ::-1])
    assert decoded("letterbox", "16:9").size == (142, 80)
    assert decoded("screenshot", 1.0).size == (1080, 2340)
    assert decoded("greyscale", 1).mode == "L"
    for s in tf.TRANSFORMS["mirror"].strengths:
        assert decoded("mirror", s).size in ((96, 80), (80, 96))


def test_unknown_transform_is_refused():
    with pytest.raises(ValueError, match="unknown transforms nope"):
        tf.variants(["jpeg", "nope"])


# ----------------------------------------------------------------------------- metrics
def test_recall_on_a_constructed_set():
    d = [0, 5, 10, 31, 32, 40, 200, 31]
    assert metrics.recall_at(d, 31) == 5 / 8
    assert metrics.recall_at(d, 30) == 3 / 8
    assert metrics.recall_at(d, 0) == 1 / 8
    assert metrics.recall_at(d, 256) == 1.0
    curve = metrics.recall_curve(d, 256)
    assert curve.shape == (257,)
    assert [curve[t] * 8 for t in (0, 4, 5, 30, 31, 32, 39, 40, 199, 200)] == \
        [1, 1, 2, 3, 5, 6, 6, 7, 7, 8]
    assert math.isnan(metrics.recall_at([], 31))
    with pytest.raises(ValueError):
        metrics.recall_at([1.5], 31)
    with pytest.raises(ValueError):
        metrics.cumulative_counts([257], 256)


def test_summary_on_a_constructed_set():
    s = metrics.summary(np.arange(101))  # 0..100
    assert (s["min"], s["median"], s["p90"], s["p99"], s["max"]) == (0, 50.0, 90.0, 99.0, 100)
    assert metrics.summary([])["median"] is None


def _oracle_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """scipy's exact (Clopper-Pearson) two-sided interval at 1 - 2 (1 - confidence):
    its upper end is the one-sided upper bound."""
    return binomtest(k, n).proportion_ci(confidence_level=1 - 2 * (1 - confidence),
                                         method="exact").high


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 100), (0, 30000), (1, 100), (2, 1000),
                                      (7, 5000), (50, 100), (99, 100), (100, 100)])
def test_clopper_pearson_against_scipy(k, n):
    assert metrics.fpr_upper_bound(k, n) == pytest.approx(_oracle_upper(k, n), rel=1e-9,
                                                          abs=1e-12)


def test_no_false_positive_bound_is_the_rule_of_three():
    for n in (100, 1000, 30000, 10**6):
        bound = metrics.fpr_upper_bound(0, n)
        assert bound == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-12)
        assert 2.9 / n < bound < 3.0 / n
    assert metrics.pairs_needed(1e-3) == 2995  # ceil(ln 0.05 / ln 0.999)
    assert metrics.fpr_upper_bound(0, 2995) <= 1e-3 < metrics.fpr_upper_bound(0, 2994)
    with pytest.raises(ValueError):
        metrics.fpr_upper_bound(5, 4)


def test_fpr_figures_count_pairs_at_or_below_the_threshold():
    imp = np.array([40] * 2 + [47] + [120] * 997)
    f = metrics.fpr_figures(imp, 47)
    assert (f["false_positives"], f["pairs"], f["rate"]) == (3, 1000, 0.003)
    assert f["upper_bound"] == pytest.approx(_oracle_upper(3, 1000), rel=1e-9)
    assert metrics.fpr_figures(imp, 39)["false_positives"] == 0


def _brute_threshold(imp, target, bits):
    best = None
    for t in range(bits + 1):
        if _oracle_upper(int(np.count_nonzero(imp <= t)), imp.size) <= target:
            best = t
    return best


def test_threshold_for_a_target_rate():
    # 10,000 unrelated pairs: 3 at 50 bits, 10 at 60, the rest at 120
    imp = np.array([50] * 3 + [60] * 10 + [120] * 9987)
    th = metrics.threshold_for_fpr(imp, 1e-3, 256)
    # up to 59: 3 false positives, bound 7.7e-4 <= 1e-3; at 60: 13 (observed 1.3e-3)
    assert (th["threshold"], th["observed_threshold"], th["false_positives"]) == (59, 59, 3)
    assert th["threshold"] == _brute_threshold(imp, 1e-3, 256)
    assert th["upper_bound"] == pytest.approx(_oracle_upper(3, 10000), rel=1e-9)
    # 1e-2 is met up to 119 bits (13 false positives), not at 120 (all of them)
    assert metrics.threshold_for_fpr(imp, 1e-2, 256)["threshold"] == 119
    # 1e-4 with 10,000 pairs: even none seen only shows < 3e-4
    th = metrics.threshold_for_fpr(imp, 1e-4, 256)
    assert th["threshold"] is None and th["observed_threshold"] == 49
    assert th["pairs_needed"] == 29956


def test_threshold_that_cannot_be_shown_with_few_pairs():
    # one false positive in 1,000 pairs meets 1e-3 as observed, but 1,000 pairs can never
    # show 1e-3 with 95 % confidence (the bound with none seen is 3.0e-3)
    imp = np.array([30] + [128] * 999)
    th = metrics.threshold_for_fpr(imp, 1e-3, 256)
    assert th["threshold"] is None
    assert th["observed_threshold"] == 127
    # 4e-3: none seen (up to 29 bits) bounds it at 3.0e-3; one seen at 4.7e-3
    th = metrics.threshold_for_fpr(imp, 4e-3, 256)
    assert th["threshold"] == 29 and th["threshold"] == _brute_threshold(imp, 4e-3, 256)
    # 5e-3: the one false positive still fits (bound 4.7e-3) up to 127 bits
    assert metrics.threshold_for_fpr(imp, 5e-3, 256)["threshold"] == 127


# ----------------------------------------------------------------------------- the analysis
def _fake_hashes(quality: int) -> run.Hashes:
    return run.Hashes(bytes(32), quality, bytes(256), bytes(8), bytes(32), (10, 10), 1)


def test_impostor_pairs_and_recall_on_a_constructed_corpus():
    """3 listed photos; queries: each original, and per photo a JPEG copy and a
    lossless copy. Impostor pairs: every query of photo j against each listed i != j,
    except the lossless copies: 3 originals + 3 JPEG copies, 2 listed photos each."""
    photos = [sample.Photo(f"p{i}", b"", np.zeros((8, 8), np.uint8), i) for i in range(3)]
    corpus = run.Corpus(photos, [_fake_hashes(q) for q in (90, 90, 30)])
    for i in range(3):
        corpus.queries.append(run.Query(i, "original", None, _fake_hashes(90)))
    for i in range(3):
        corpus.queries.append(run.Query(i, "jpeg", 50, _fake_hashes(90 if i else 20)))
        corpus.queries.append(run.Query(i, "format", "bmp", _fake_hashes(90)))
    # query rows: o0 o1 o2 j0 b0 j1 b1 j2 b2; columns: listed p0 p1 p2
    m = np.array([[0, 130, 120],
                  [130, 0, 40],     # o1 vs p2 at 40: an impostor close to p2
                  [120, 40, 0],
                  [30, 128, 126],   # j0: genuine 30 (query quality 20)
                  [0, 130, 120],
                  [118, 50, 90],    # j1: genuine 50
                  [130, 0, 40],
                  [126, 124, 10],   # j2: genuine 10 (listed p2 has quality 30)
                  [120, 40, 0]], dtype=np.int64)
    mask = analysis.impostor_mask(corpus)
    assert int(mask.sum()) == 12
    assert not mask[:, :].diagonal().any()
    assert not mask[[4, 6, 8]].any()
    chosen = [("jpeg", 50), ("format", "bmp")]
    fig = analysis.analyse(corpus, chosen, {"pdq": m}, targets=(0.5,))
    rows = {(r["transform"], r["strength"]): r for r in fig["results"]}
    jpeg = rows[("jpeg", 50)]
    assert jpeg["pairs"] == 3 and jpeg["distance"]["max"] == 50
    assert jpeg["recall_at"]["31"] == 2 / 3 and jpeg["recall_at"]["47"] == 2 / 3
    assert jpeg["recall_at"]["63"] == 1.0
    assert rows[("format", "bmp")]["distance"]["max"] == 0
    imp = fig["impostors"]["pdq"]
    assert imp["pairs"] == 12
    # impostor distances: 130 120 130 40 120 40 128 126 118 90 126 124 -> 2 at <= 47
    assert imp["fpr_at"]["47"]["false_positives"] == 2
    assert imp["fpr_at"]["31"]["false_positives"] == 0
    assert imp["histogram"][40] == 2 and sum(imp["histogram"]) == 12
    assert [(c["distance"], c["listed"], c["query"], c["transform"]) for c in imp["closest"][:3]] \
        == [(40, "p2", "p1", "original"), (40, "p1", "p2", "original"), (90, "p2", "p1", "jpeg")]
    # quality: j0 (query 20) and j2 (listed 30) are dropped, j1 is kept: at 63 bits
    # recall 1 -> 1/3 (a dropped copy is a copy not found)
    q = jpeg["quality_filter"]
    assert q["pairs_kept"] == 1 and q["recall_at"]["63"] == 1 / 3
    qf = fig["quality_filter"]["pdq"]
    assert qf["photos_below"] == ["p2"]
    # pairs with listed p2 and every pair of j0 are left out: 12 - 4 (col p2) - 2 (j0 row,
    # p1 and p2; p2 already counted) = 7
    assert qf["impostor_pairs_kept"] == 7
    assert fig["impostor_pairs"]["independent_photo_pairs"] == 3


def test_threshold_guidance_and_families_on_a_constructed_corpus():
    """4 listed photos; per photo an identity, a JPEG (encoding) and a crop copy.
    Genuine: JPEG 0/10/20/30, crop 40/60/80/100; 36 impostor pairs (4 originals + 4 JPEG
    + 4 crop copies x 3 other photos), all at 128 but one at 70 and one at 90; one
    identity copy sits 10 bits from another photo, a pair that must not count."""
    photos = [sample.Photo(f"p{i}", b"", np.zeros((8, 8), np.uint8), i) for i in range(4)]
    corpus = run.Corpus(photos, [_fake_hashes(90) for _ in range(4)])
    for i in range(4):
        corpus.queries.append(run.Query(i, "original", None, _fake_hashes(90)))
    genuine = {"identity": (0, 0, 0, 0), "jpeg": (0, 10, 20, 30), "crop": (40, 60, 80, 100)}
    strength = {"identity": 0, "jpeg": 50, "crop": 0.1}
    m = np.full((4 + 12, 4), 128, dtype=np.int64)
    m[np.arange(4), np.arange(4)] = 0
    row = {}
    for i in range(4):
        for name in genuine:
            row[(name, i)] = len(corpus.queries)
            corpus.queries.append(run.Query(i, name, strength[name], _fake_hashes(90)))
            m[row[(name, i)], i] = genuine[name][i]
    m[0, 1] = 70                   # original p0 against listed p1
    m[row[("jpeg", 2)], 3] = 90    # the JPEG copy of p2 against listed p3
    m[row[("identity", 1)], 0] = 10  # lossless: not an impostor pair
    chosen = [("identity", 0), ("jpeg", 50), ("crop", 0.1)]
    fig = analysis.analyse(corpus, chosen, {"pdq": m}, targets=(0.1, 0.17))
    assert fig["impostors"]["pdq"]["pairs"] == 36
    assert fig["impostors"]["pdq"]["distance"]["min"] == 70
    # 0.1: none seen up to 69 bits bounds the rate at 0.080; one at 70 bounds it at 0.125.
    # 0.17: two seen (70, 90) bound it at 0.165 up to 127 bits; at 128 all 36 are in.
    th = {t["target_fpr"]: t for t in fig["thresholds"]["pdq"]}
    assert (th[0.1]["threshold"], th[0.1]["observed_threshold"]) == (69, 127)
    assert th[0.17]["threshold"] == 127
    assert th[0.1]["upper_bound"] == pytest.approx(_oracle_upper(0, 36), rel=1e-9)
    assert th[0.17]["upper_bound"] == pytest.approx(_oracle_upper(2, 36), rel=1e-9)
    # the families leave the identity copies out: 4 JPEG (encoding) and 4 crop copies
    fam = fig["families"]["pdq"]
    assert set(fam) == {"encoding", "crop"}
    assert fam["encoding"]["pairs"] == fam["crop"]["pairs"] == 4
    assert fam["crop"]["recall_at_fpr"] == {"0.1": 0.5, "0.17": 1.0}
    assert fam["encoding"]["recall_at"]["31"] == 1.0 and fam["crop"]["recall_at"]["63"] == 0.5
    curve = fam["crop"]["curve"]
    assert len(curve) == 257 and [curve[t] for t in (39, 40, 79, 80, 99, 100, 256)] == \
        [0, 0.25, 0.5, 0.75, 0.75, 1.0, 1.0]
    g = {x["target_fpr"]: x for x in fig["guidance"]["pdq"]}
    assert (g[0.1]["threshold"], g[0.1]["false_positives"], g[0.1]["pairs"]) == (69, 0, 36)
    assert g[0.1]["recall_all"] == 6 / 8  # 10..100 minus 80, 100; identity left out
    assert g[0.1]["recall_by_family"] == {"encoding": 1.0, "crop": 0.5}
    assert (g[0.17]["threshold"], g[0.17]["false_positives"], g[0.17]["recall_all"]) == \
        (127, 2, 1.0)
    assert g[0.1]["pairs_needed"] == 29  # ceil(ln 0.05 / ln 0.9)
    rows = {r["transform"]: r for r in fig["results"]}
    assert rows["crop"]["recall_at_fpr"] == {"0.1": 0.5, "0.17": 1.0}
    assert rows["identity"]["recall_at_fpr"] == {"0.1": 1.0, "0.17": 1.0}
    hist = fig["impostors"]["pdq"]["genuine_histogram"]
    assert sum(hist) == 8 and hist[0] == 1 and hist[100] == 1


def _popcount_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n, bytes) x (m, bytes) -> (n, m) Hamming distances, bit by bit (numpy oracle)."""
    return np.unpackbits(a[:, None, :] ^ b[None, :, :], axis=-1).sum(axis=-1)


def test_distance_matrices_against_a_bitwise_oracle(small_photos):
    """Every (query, listed) distance of each hasher equals the popcount of the XOR of
    the two hashes; for pdq-dihedral the smallest over the query's 8 variants."""
    chosen = tf.variants(["jpeg", "rotate-quarter", "mirror", "crop"])
    corpus = run.build(small_photos, chosen, workers=1)
    hashes = [q.hashes for q in corpus.queries]

    def codes(hs, attr, width):
        return np.frombuffer(b"".join(getattr(h, attr) for h in hs), np.uint8).reshape(-1, width)

    listed_pdq = codes(corpus.listed, "pdq", 32)
    expected = {
        "pdq": _popcount_distances(codes(hashes, "pdq", 32), listed_pdq),
        "phash": _popcount_distances(codes(hashes, "phash", 8), codes(corpus.listed, "phash", 8)),
        "phash-256": _popcount_distances(codes(hashes, "phash256", 32),
                                         codes(corpus.listed, "phash256", 32)),
        "pdq-dihedral": _popcount_distances(codes(hashes, "dihedral", 32), listed_pdq)
        .reshape(len(hashes), 8, -1).min(axis=1),
    }
    assert set(expected) == set(run.HASHERS)
    for hasher, want in expected.items():
        got = run.distance_matrix(corpus, hasher)
        assert got.shape == (len(corpus.queries), len(small_photos))
        assert np.array_equal(got, want), hasher
    # the dihedral variants hold the plain hash first, so the search never does worse,
    # and it does better on the quarter turns and mirrors
    assert all(h.dihedral[:32] == h.pdq for h in hashes)
    turned = [i for i, q in enumerate(corpus.queries)
              if q.transform in ("rotate-quarter", "mirror")]
    own = [corpus.queries[i].photo for i in turned]
    assert (expected["pdq-dihedral"][turned, own] < expected["pdq"][turned, own]).all()


def test_an_unaltered_copy_is_at_distance_zero(small_photos):
    fig = run_benchmark(small_photos, [("identity", 0), ("format", "bmp")], workers=1)
    rows = fig["results"]
    assert {r["hasher"] for r in rows} == set(run.HASHERS)
    for r in rows:
        assert r["pairs"] == len(small_photos)
        assert r["distance"]["max"] == 0, r
        assert r["recall_at"]["31"] == 1.0


def test_a_run_with_no_altered_family_still_writes_json(tmp_path, capsys):
    """identity alone leaves every family empty: rates over no pairs are null, not NaN."""
    out = tmp_path / "r.json"
    assert robustness_main(["--limit", "2", "--transforms", "identity", "--workers", "1",
                            "--json", str(out), "--quiet"]) == 0
    assert "nan" not in capsys.readouterr().out.lower()
    text = out.read_text()
    assert "NaN" not in text
    fig = json.loads(text)
    assert fig["quality_filter"]["pdq"]["recall_at"]["31"] == {"all": None, "filtered": None}


def test_workers_give_the_same_figures(small_photos):
    chosen = tf.variants(["noise", "crop-offset", "jpeg-chain"])
    one = run_benchmark(small_photos, chosen, workers=1)
    two = run_benchmark(small_photos, chosen, workers=2)
    assert one["results"] == two["results"]
    assert one["impostors"] == two["impostors"]


# ----------------------------------------------------------------------------- whole runs
def test_default_photos_are_distinct_real_photographs():
    photos = sample.skimage_photos()
    assert len(photos) == len(sample.SKIMAGE_PHOTOS) >= 15
    hashes = [tidehash.pdq_hash(p.pixels) for p in photos]
    for i in range(len(hashes)):
        for j in range(i):
            # a duplicate (cat == chelsea) would be an "unrelated" pair at distance 0
            assert tidehash.hamming(hashes[i], hashes[j]) > 64, (photos[i].name, photos[j].name)
    assert all(min(p.pixels.shape[:2]) >= 100 for p in photos)


def test_json_and_png_are_written_and_readable(tmp_path, capsys):
    out, png = tmp_path / "r.json", tmp_path / "r.png"
    code = robustness_main(["--limit", "3", "--transforms", "identity,jpeg,crop,rotate-quarter",
                            "--workers", "1", "--json", str(out), "--plot", str(png), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "SMALL SAMPLE" in text and "Threshold guidance" in text
    fig = json.loads(out.read_text())
    assert "SMALL SAMPLE" in fig["meta"]["sample"]
    assert fig["meta"]["versions"]["tidehash"] == tidehash.__version__
    assert fig["meta"]["machine"]["cpu_model"]
    results = fig["results"]
    expected = {(h, n, json.dumps(s)) for h in ("pdq", "pdq-dihedral", "phash", "phash-256")
                for n, s in tf.variants(["identity", "jpeg", "crop", "rotate-quarter"])}
    assert {(r["hasher"], r["transform"], json.dumps(r["strength"])) for r in results} == expected
    for r in results:
        assert set(r["recall_at"]) >= {"31", "47", "63", "70"}
        assert all(0 <= v <= 1 for v in r["recall_at"].values())
        assert r["pairs"] == 3
    by = {(r["hasher"], r["transform"], r["strength"]): r for r in results}
    # the dihedral search finds a quarter turn that plain PDQ does not
    assert by[("pdq-dihedral", "rotate-quarter", 180)]["recall_at"]["70"] > \
        by[("pdq", "rotate-quarter", 180)]["recall_at"]["70"]
    assert fig["impostor_pairs"]["pairs"] == 3 * 2 * (1 + 5 + 4 + 3)
    with Image.open(png) as im:
        im.load()
        assert im.format == "PNG" and im.size[0] > 600 and im.size[1] > 400


def test_ten_images_by_ten_transforms(tmp_path):
    names = ["jpeg", "resize", "blur", "noise", "gamma", "rotate", "mirror", "crop", "pad", "text"]
    code = robustness_main(["--limit", "10", "--transforms", ",".join(names), "--workers", "2",
                            "--json", str(tmp_path / "r.json"), "--quiet"])
    assert code == 0
    fig = json.loads((tmp_path / "r.json").read_text())
    variants = tf.variants(names)
    assert fig["meta"]["copies"] == 10 * len(variants)
    assert len(fig["results"]) == 4 * len(variants)
    assert all(r["pairs"] == 10 for r in fig["results"])
    assert fig["impostor_pairs"]["independent_photo_pairs"] == 45


def test_user_folders(tmp_path):
    photos, distractors = tmp_path / "photos", tmp_path / "other"
    photos.mkdir()
    distractors.mkdir()
    for i in range(3):
        Image.fromarray(make_photo_like(80, 60, seed=i)).save(photos / f"{i}.jpg", quality=90)
        Image.fromarray(make_photo_like(70, 70, seed=50 + i)).save(distractors / f"{i}.png")
    (photos / "broken.jpg").write_bytes(b"not an image")
    (photos / "notes.txt").write_text("skipped")
    out = tmp_path / "r.json"
    code = robustness_main(["--photos", str(photos), "--distractors", str(distractors),
                            "--transforms", "jpeg", "--workers", "1", "--json", str(out),
                            "--quiet"])
    assert code == 0
    fig = json.loads(out.read_text())
    assert [p["name"] for p in fig["meta"]["photos"]] == ["0.jpg", "1.jpg", "2.jpg"]
    assert fig["meta"]["distractor_files"] == ["0.png", "1.png", "2.png"]
    assert fig["impostor_pairs"]["pairs"] == 9  # 3 distractors x 3 listed photos
    assert fig["impostor_pairs"]["source"] == "distractor files"
    closest = fig["impostors"]["pdq"]["closest"]
    assert len(closest) == 8 and {c["query"] for c in closest} <= {"0.png", "1.png", "2.png"}
    assert all(c["transform"] == "distractor" for c in closest)


def test_command_line(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tidehash.cli", "bench", "robustness", "--help"],
                       env=_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--distractors" in r.stdout
    for bad in (["--transforms", "jpeg,nope"], ["--fpr-targets", "0"],
                ["--fpr-targets", "nan"], ["--workers", "0"], ["--limit", "1"]):
        r = subprocess.run([sys.executable, "-m", "tidehash.bench", "robustness", *bad],
                           env=_env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, bad
        assert "Traceback" not in r.stderr and "argument " in r.stderr.splitlines()[-1]
    r = subprocess.run([sys.executable, "-m", "tidehash.bench", "robustness", "--photos",
                        str(tmp_path / "missing")], env=_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and "not a folder" in r.stderr


@pytest.mark.parametrize(("blocked", "what"), [("skimage", "the default photos"),
                                              ("matplotlib", "--plot")])
def test_a_missing_bench_extra_is_named_before_the_run(tmp_path, blocked, what):
    """Without scikit-image (no --photos) or matplotlib (--plot) the command says which
    extra to install and exits 2 before making any copy (the plot came after minutes of
    hashing, as a traceback, and the JSON was lost with it)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(2):
        Image.fromarray(make_photo_like(64, 48, seed=i)).save(photos / f"{i}.png")
    out = tmp_path / "r.json"
    argv = ["--transforms", "jpeg", "--workers", "1", "--json", str(out)]
    argv += ["--plot", str(tmp_path / "r.png")] if blocked == "matplotlib" else []
    argv += ["--photos", str(photos)] if blocked != "skimage" else []
    code = (f"import sys; sys.modules[{blocked!r}] = None; "
            "from tidehash.bench.robustness import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, "-c", code, *argv], env=_env(), capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "making and hashing" not in r.stderr
    assert what in r.stderr and "pip install 'tidehash[bench]'" in r.stderr
    assert not out.exists()
    # with the module there the same command runs (the check is not always true)
    r = subprocess.run([sys.executable, "-m", "tidehash.bench", "robustness", *argv, "--quiet",
                        "--limit", "2"], env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert out.exists()


def test_an_empty_distractor_folder_is_refused(tmp_path, capsys):
    """--distractors with no image in it would silently fall back to the other photos."""
    empty = tmp_path / "other"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    (empty / "broken.png").write_bytes(b"not a png")
    code = robustness_main(["--limit", "2", "--transforms", "jpeg", "--workers", "1",
                            "--distractors", str(empty), "--quiet"])
    assert code == 2
    assert "no image file that decodes" in capsys.readouterr().err


# ----------------------------------------------------------------------------- layers
PLOTTING = ("matplotlib", "skimage")


def test_the_engine_never_imports_matplotlib_or_skimage():
    """Only the robustness benchmark uses them, and only inside the functions that
    draw the plot or load the sample."""
    root = SRC / "tidehash"
    found = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        inside = rel.startswith("bench/robustness/")
        tree = ast.parse(path.read_text(), str(path))
        top = set(tree.body)
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            for name in names:
                if name.split(".")[0] in PLOTTING and (not inside or node in top):
                    found.append(f"{rel}: {name}")
    assert found == []
    assert (root / "bench" / "robustness" / "plot.py").is_file()  # the walk saw the package


def test_importing_the_benchmark_loads_no_plotting_library():
    code = ("import sys, tidehash, tidehash.cli, tidehash.bench.robustness; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'skimage')))")
    r = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- videos
def _photo_video(path, seed: int, frames: int = 30, size=(112, 80)) -> None:
    """A slow pan over a photo-like picture, H.264 at CRF 18: what filmed video is like."""
    import av

    w, h = size
    big = make_photo_like(w + frames, h, seed=seed)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"crf": "18"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(big[:, i:i + w]),
                                               format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


def test_videos_by_vpdq(tmp_path):
    from tidehash.bench.robustness import video

    folder = tmp_path / "videos"
    folder.mkdir()
    _photo_video(folder / "a.mp4", seed=7)
    _photo_video(folder / "b.mp4", seed=8, size=(96, 96))
    (folder / "notes.txt").write_text("not a video")
    out = tmp_path / "r.json"
    code = robustness_main(["--limit", "2", "--transforms", "jpeg", "--videos", str(folder),
                            "--workers", "1", "--json", str(out), "--quiet"])
    assert code == 0
    fig = json.loads(out.read_text())
    assert [v["label"] for v in fig["video"]["videos"]] == ["a.mp4", "b.mp4"]
    assert all(v["frames"] == 30 and v["fps"] == 25 for v in fig["video"]["videos"])
    rows = {(r["transform"], json.dumps(r["strength"])): r for r in fig["results"]
            if r["hasher"] == "vpdq"}
    assert set(rows) == {(n, json.dumps(s)) for n, s in video.video_variants()}
    assert all(r["pairs"] == 2 and set(r["recall_at"]) == {"31", "47", "63", "70"}
               for r in rows.values())
    # a plain re-encode is found; a mirrored video is not (vPDQ has no dihedral search)
    assert rows[("reencode", "23")]["recall_at"]["31"] == 1.0
    assert rows[("mirror", '"horizontal"')]["recall_at"]["31"] == 0.0
    imp = fig["video"]["impostors"]
    assert imp["pairs"] == 2 * (1 + len(video.video_variants()))
    assert imp["false_matches_at"]["31"] == 0
    # the copies are the transform applied to every frame, at the video's rate
    frames, rate = video.read_frames((folder / "a.mp4").read_bytes(), 10.0)
    assert len(frames) == 30 and rate == 25
    once = video.altered(frames, rate, "crop", 0.1)
    assert once == video.altered(frames, rate, "crop", 0.1)
    again, _ = video.read_frames(once, 10.0)
    assert len(again) == 30 and again[0].size == (100, 72)
