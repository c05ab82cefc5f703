"""Exact Hamming search, native layer: every ISA == scalar kernel == NumPy oracle.

Kernels: csrc/hamming (tiled planar scans; tile = 2048 uint64s, i.e.
2048 // words rows rounded down to a multiple of 8; groups of 8 rows; blocks of
4 groups skipped by a partial-distance filter over the first `fw` words) and
csrc/mih (multi-index hashing). Results must be identical bit for bit, not just
"close": distances, range hit sets (as arrays, so duplicates would show) and
k-NN lists in exact (distance, row) order."""

from __future__ import annotations

import math

import hamming_oracles as O
import numpy as np
import pytest
from isas import NATIVE_ISAS, native_isa_name

from tidehash import _native
from tidehash.index import mih_layout

N_SIZES = [0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1023, 1024, 1025,
           4095, 4096, 4097, 10000]
WORDS = [1, 2, 3, 4, 5, 8, 16]


def tile_rows(words: int) -> int:
    t = 2048 // words
    return t - t % 8


def sizes_for(words: int) -> list[int]:
    """The fixed sizes plus the tile boundaries of this width (1, 2 tiles +- 1)."""
    t = tile_rows(words)
    return sorted(set(N_SIZES) | {t - 1, t, t + 1, 2 * t - 1, 2 * t, 2 * t + 1})


def filter_boundaries(words: int) -> set[int]:
    """Radii where the kernels' cheap filter width changes (32w - 18 sqrt(w)):
    the largest radius using w filter words, and one more."""
    out = set()
    for w in range(1, words):
        r = 32 * w - math.ceil(math.sqrt(324 * w))
        out |= {r - 1, r, r + 1}
    return {r for r in out if r >= 0}


def radii_for(words: int) -> list[int]:
    bits = 64 * words
    half = 32 * words // 2
    rs = {0, 1, 3, half - 1, half, half + 1, bits - 1, bits, bits + 7}
    return sorted(rs | filter_boundaries(min(words, 5)))


def canon(qidx, rows, dist):
    """Hits as (3, n) int64 array sorted by (query, row); duplicates are kept."""
    qidx, rows, dist = (np.asarray(a, np.int64) for a in (qidx, rows, dist))
    order = np.lexsort((rows, qidx))
    return np.stack([qidx[order], rows[order], dist[order]])


def oracle_range(ref: np.ndarray, radius: int, row_base: int = 0):
    qi, rows = np.nonzero(ref <= radius)
    return canon(qi, rows + row_base, ref[qi, rows])


def make_data(words: int, n: int, seed: int):
    """Clustered database (families of near-duplicates, some exact duplicates) and
    queries: perturbed copies of rows, a copy of a row, random codes, all-zero and
    all-one codes (the all-zero query equals the zero padding of partial groups)."""
    rng = np.random.default_rng(seed * 1000 + words * 37 + n)
    bits = 64 * words
    db = O.clustered_codes(rng, n, words, family=6, max_flips=max(2, bits // 10))
    q = [O.near_queries(rng, db, 3, max(2, bits // 8)), O.random_codes(rng, 1, words),
         np.zeros((1, words), np.uint64), np.full((1, words), ~np.uint64(0))]
    if n:
        q.append(db[rng.integers(0, n, 1)])
    return db, np.ascontiguousarray(np.concatenate(q))


# ------------------------------------------------------------------ flat scans
@pytest.mark.parametrize("words", WORDS + [31, 32, 33, 64])
def test_distances_all_isas_equal_oracle(words):
    sizes = sizes_for(words) if words <= 16 else [0, 1, 7, 8, 9, 33, 65, 130, 257]
    for n in sizes:
        db, q = make_data(words, n, 1)
        ref = O.distances(q, db)
        for isa in NATIVE_ISAS:
            got = _native.hamming_distances(q, db, isa)
            assert got.dtype == np.int32 and got.shape == (q.shape[0], n)
            assert np.array_equal(got, ref), (native_isa_name(isa), words, n)
        # one query, and zero queries
        for isa in NATIVE_ISAS:
            assert np.array_equal(_native.hamming_distances(q[:1], db, isa), ref[:1])
            assert _native.hamming_distances(q[:0], db, isa).shape == (0, n)


@pytest.mark.parametrize("words", WORDS)
def test_range_equals_scalar_and_oracle(words, native_isa):
    for n in sizes_for(words):
        db, q = make_data(words, n, 2)
        ref = O.distances(q, db)
        for radius in radii_for(words):
            for row_base in (0, 1000003):
                exp = oracle_range(ref, radius, row_base)
                got = _native.hamming_range(q, db, radius, native_isa, row_base)
                assert got[0].dtype == np.int64 and got[1].dtype == np.int64
                assert got[2].dtype == np.int32
                assert np.array_equal(canon(*got), exp), (words, n, radius, row_base)
                if native_isa != 0 and row_base == 0:
                    scalar = _native.hamming_range(q, db, radius, 0, row_base)
                    assert np.array_equal(canon(*got), canon(*scalar))


@pytest.mark.parametrize("nq", [1, 5, 6, 7, 8, 9, 12, 13, 17])
def test_range_query_blocks_with_hits_everywhere(native_isa, nq):
    """Batches scanned several queries at a time (the AVX-512 OR-bound path for
    256-bit codes at r = 39..53): every query of a block, at every position in it,
    has hits at and around the radius, in full and partial groups and tiles."""
    rng = np.random.default_rng(nq)
    for n in (1, 9, 33, 1023, 1025, 2049):
        db = O.clustered_codes(rng, n, 4, family=4, max_flips=60)
        q = O.near_queries(rng, db, nq, 50)  # each query within 50 of a row
        ref = O.distances(q, db)
        for radius in (38, 39, 45, 52, 53, 54):
            got = canon(*_native.hamming_range(q, db, radius, native_isa))
            exp = oracle_range(ref, radius)
            assert np.array_equal(got, exp), (n, nq, radius)
            if radius >= 50:
                assert np.unique(exp[0]).size == nq  # every query has a hit


@pytest.mark.parametrize("words", WORDS)
def test_range_nontrivial_on_clustered_data(words, native_isa):
    """Sanity of the data generator: at a quarter of the bits the clustered data
    gives hits beyond the exact copies (else the range tests would be weak)."""
    db, q = make_data(words, 1025, 3)
    ref = O.distances(q, db)
    radius = 16 * words
    hits = _native.hamming_range(q, db, radius, native_isa)
    assert hits[0].size > q.shape[0]
    assert np.array_equal(canon(*hits), oracle_range(ref, radius))


@pytest.mark.parametrize("words", WORDS)
def test_knn_equals_scalar_and_oracle(words, native_isa):
    for n in sizes_for(words):
        db, q = make_data(words, n, 4)
        for k in sorted({1, 2, 10, max(n, 1), n + 5}):
            for row_base in (0, 77):
                ed, er = O.knn(q, db, k, row_base)
                gd, gr = _native.hamming_knn(q, db, k, native_isa, row_base)
                assert gd.dtype == np.int32 and gr.dtype == np.int64
                assert gd.shape == gr.shape == (q.shape[0], k)
                assert np.array_equal(gd, ed), (words, n, k, row_base)
                assert np.array_equal(gr, er), (words, n, k, row_base)


def test_knn_ties_resolved_by_row(native_isa):
    """Many rows at the same distance: the k kept are the k smallest rows, even
    when the tie spans tiles and the equal rows arrive after the heap is full."""
    rng = np.random.default_rng(5)
    for words in (1, 4, 5):
        base = O.random_codes(rng, 1, words)
        n = 3 * tile_rows(words) + 5
        db = np.repeat(base, n, axis=0)
        far = rng.integers(0, n, n // 3)
        db[far] = O.random_codes(rng, far.size, words)
        dup = np.setdiff1d(np.arange(n), far)
        for k in (1, 3, 17, dup.size, dup.size + 4):
            d, r = _native.hamming_knn(base, db, k, native_isa)
            ed, er = O.knn(base, db, k)
            assert np.array_equal(d, ed) and np.array_equal(r, er), (words, k)
            m = min(k, dup.size)
            assert np.array_equal(r[0, :m], dup[:m])


@pytest.mark.parametrize("words", [1, 3, 4, 8])
def test_no_phantom_rows_from_padding_or_previous_tile(words, native_isa):
    """The last tile's partial group is zero-padded in the planar buffer and the
    buffer is reused across tiles: neither padding (an all-zero code) nor stale
    rows of the previous tile may be reported."""
    rng = np.random.default_rng(6)
    t = tile_rows(words)
    for n in (3, t + 3, 2 * t + 5):
        db = O.random_codes(rng, n, words)
        db[db == 0] = 1  # no row is the all-zero code
        zero = np.zeros((1, words), np.uint64)
        assert _native.hamming_range(zero, db, 0, native_isa)[0].size == 0
        d, r = _native.hamming_knn(zero, db, n + 8, native_isa)
        assert (r[0, :n] >= 0).all() and (r[0, n:] == -1).all() and (d[0, n:] == -1).all()
        assert sorted(r[0, :n].tolist()) == list(range(n))
        # a query equal to row 5 of the first tile: the previous tile's data in the
        # planar buffer is at group 0, slot 5 -- only row 5 may match exactly
        q = db[5:6].copy() if n > 5 else db[:1].copy()
        qi, rows, dist = _native.hamming_range(q, db, 0, native_isa)
        exact = np.nonzero((db == q).all(1))[0]
        assert sorted(rows.tolist()) == exact.tolist()
        assert (dist == 0).all()


def test_many_queries_and_hit_buffer_flushes(native_isa):
    """More than 256 hits (the kernels' hit buffer) per call, from many queries,
    including radius = bits (every pair is a hit)."""
    rng = np.random.default_rng(7)
    db = O.clustered_codes(rng, 2000, 4, family=20, max_flips=10)
    q = O.near_queries(rng, db, 300, 10)
    ref = O.distances(q, db)
    for radius in (0, 9, 40, 256):
        got = _native.hamming_range(q, db, radius, native_isa, 5)
        assert np.array_equal(canon(*got), oracle_range(ref, radius, 5))
    d, r = _native.hamming_knn(q, db, 7, native_isa)
    ed, er = O.knn(q, db, 7)
    assert np.array_equal(d, ed) and np.array_equal(r, er)


def test_or_bound_queue_fills(native_isa):
    """256-bit codes at the OR-bound radii (39..53) with every block passing the bound:
    near-duplicates of a few codes, 600 queries near them, two tiles and a tail. The
    AVX-512 scan queues every block of every 6-query pass and resolves the queue many
    times per tile."""
    rng = np.random.default_rng(11)
    db = O.clustered_codes(rng, 1100, 4, family=400, max_flips=20)
    q = O.near_queries(rng, db, 600, 20)
    ref = O.distances(q, db)
    for radius in (39, 45, 52, 53):
        got = _native.hamming_range(q, db, radius, native_isa, 3)
        assert np.array_equal(canon(*got), oracle_range(ref, radius, 3))


def test_row_base_large(native_isa):
    rng = np.random.default_rng(8)
    db = O.clustered_codes(rng, 300, 4, family=5, max_flips=8)
    q = O.near_queries(rng, db, 4, 8)
    base = 2**40 + 3
    ref = O.distances(q, db)
    assert np.array_equal(canon(*_native.hamming_range(q, db, 30, native_isa, base)),
                          oracle_range(ref, 30, base))
    ed, er = O.knn(q, db, 12, base)
    gd, gr = _native.hamming_knn(q, db, 12, native_isa, base)
    assert np.array_equal(gd, ed) and np.array_equal(gr, er)


# ------------------------------------------------------------------ memory layout
def test_offset_buffers(native_isa):
    """A uint8 buffer at byte offset 8 viewed as uint64 (8-aligned, C-contiguous)
    gives exact results. Truly misaligned views (offsets 1..7; NumPy allows them)
    must give exact results or be refused with ValueError -- never wrong ones."""
    rng = np.random.default_rng(9)
    db = O.clustered_codes(rng, 1030, 4, family=5, max_flips=10)
    q = O.near_queries(rng, db, 5, 10)
    ref = O.distances(q, db)
    for off in range(0, 9):
        buf = np.zeros(db.nbytes + 16, np.uint8)
        v = buf[off:off + db.nbytes].view(np.uint64).reshape(db.shape)
        v[...] = db
        qbuf = np.zeros(q.nbytes + 16, np.uint8)
        qv = qbuf[off:off + q.nbytes].view(np.uint64).reshape(q.shape)
        qv[...] = q
        assert v.flags.c_contiguous and qv.flags.c_contiguous
        try:
            d = _native.hamming_distances(qv, v, native_isa)
            rg = _native.hamming_range(qv, v, 40, native_isa)
            kd, kr = _native.hamming_knn(qv, v, 9, native_isa)
        except ValueError:
            assert off % 8, "an 8-aligned contiguous view must be accepted"
            continue
        assert np.array_equal(d, ref), off
        assert np.array_equal(canon(*rg), oracle_range(ref, 40)), off
        ed, er = O.knn(q, db, 9)
        assert np.array_equal(kd, ed) and np.array_equal(kr, er), off


def _strided_variants(a):
    wide = np.zeros((a.shape[0], 2 * a.shape[1]), np.uint64)
    wide[:, ::2] = a
    rows2 = np.repeat(a, 2, axis=0)
    return {"columns": wide[:, ::2], "rows": rows2[::2], "fortran": np.asfortranarray(a)}


@pytest.mark.parametrize("which", ["q", "db"])
@pytest.mark.parametrize("kind", ["columns", "rows", "fortran"])
def test_non_contiguous_rejected(which, kind):
    rng = np.random.default_rng(10)
    db = O.random_codes(rng, 40, 4)
    q = O.random_codes(rng, 3, 4)
    if which == "q":
        q = _strided_variants(q)[kind]
    else:
        db = _strided_variants(db)[kind]
    assert not q.flags.c_contiguous or not db.flags.c_contiguous
    for isa in NATIVE_ISAS:
        with pytest.raises(ValueError):
            _native.hamming_distances(q, db, isa)
        with pytest.raises(ValueError):
            _native.hamming_range(q, db, 10, isa)
        with pytest.raises(ValueError):
            _native.hamming_knn(q, db, 3, isa)


def test_non_contiguous_mih_rejected():
    rng = np.random.default_rng(11)
    db = O.random_codes(rng, 40, 4)
    s, ln = [0, 16], [16, 16]
    off = np.empty((1 << 16) + 1, np.uint32)
    rows = np.empty(40, np.uint32)
    with pytest.raises(ValueError):
        _native.mih_build(np.asfortranarray(db), 0, 16, off, rows)
    with pytest.raises(ValueError):
        _native.mih_build(db, 0, 16, np.empty(2 * ((1 << 16) + 1), np.uint32)[::2], rows)
    offs, rws = _build(db, s, ln)
    with pytest.raises(ValueError):
        _native.mih_range(s, ln, offs, rws, db, np.asfortranarray(db[:3]), 3, 0)
    with pytest.raises(ValueError):
        _native.mih_range(s, ln, offs, rws, np.repeat(db, 2, 0)[::2], db[:3].copy(), 3, 0)


# ------------------------------------------------------------------ bad input
def test_bad_arguments(native_isa):
    rng = np.random.default_rng(12)
    db = O.random_codes(rng, 20, 4)
    q = O.random_codes(rng, 2, 4)
    with pytest.raises(ValueError):  # word counts differ
        _native.hamming_distances(q[:, :3].copy(), db, native_isa)
    with pytest.raises(ValueError):
        _native.hamming_range(q, db[:, :2].copy(), 3, native_isa)
    with pytest.raises(ValueError):
        _native.hamming_knn(q[:, :1].copy(), db, 3, native_isa)
    with pytest.raises(ValueError):
        _native.hamming_range(q, db, -1, native_isa)
    for k in (0, -1, -(2**31)):
        with pytest.raises(ValueError):
            _native.hamming_knn(q, db, k, native_isa)
    for zw in (np.zeros((2, 0), np.uint64), np.zeros((2, 65), np.uint64)):
        with pytest.raises(ValueError):
            _native.hamming_distances(zw, zw, native_isa)
        with pytest.raises(ValueError):
            _native.hamming_range(zw, zw, 1, native_isa)
        with pytest.raises(ValueError):
            _native.hamming_knn(zw, zw, 1, native_isa)
    with pytest.raises(ValueError):  # wrong dtype
        _native.hamming_distances(q.view(np.int64), db, native_isa)
    with pytest.raises(OverflowError):
        _native.hamming_range(q, db, 2**31, native_isa)
    # 0 queries / 0 rows: empty results of the right shapes and dtypes
    for qq, dd in ((q[:0], db), (q, db[:0]), (q[:0], db[:0])):
        r = _native.hamming_range(qq, dd, 5, native_isa)
        assert [a.size for a in r] == [0, 0, 0]
        assert [a.dtype for a in r] == [np.int64, np.int64, np.int32]
        d, rows = _native.hamming_knn(qq, dd, 4, native_isa)
        assert d.shape == rows.shape == (qq.shape[0], 4)
        assert (d == -1).all() and (rows == -1).all()
        assert _native.hamming_distances(qq, dd, native_isa).shape == (qq.shape[0], dd.shape[0])
    # max 64 words is accepted
    big = O.random_codes(rng, 9, 64)
    assert np.array_equal(_native.hamming_distances(big[:2], big, native_isa),
                          O.distances(big[:2], big))


def test_unknown_isa(unsupported_isa):
    z = np.zeros((1, 4), np.uint64)
    with pytest.raises(RuntimeError):
        _native.hamming_distances(z, z, unsupported_isa)
    with pytest.raises(RuntimeError):
        _native.hamming_range(z, z, 1, unsupported_isa)
    with pytest.raises(RuntimeError):
        _native.hamming_knn(z, z, 1, unsupported_isa)


# ------------------------------------------------------------------ MIH
def _build(db, starts, lengths):
    offs, rows = [], []
    for s, ln in zip(starts, lengths):
        off = np.empty((1 << ln) + 1, np.uint32)
        rw = np.empty(db.shape[0], np.uint32)
        _native.mih_build(db, s, ln, off, rw)
        offs.append(off)
        rows.append(rw)
    return offs, rows


def _even_split(bits, m):
    base, extra = divmod(bits, m)
    lengths = [base + (1 if i < extra else 0) for i in range(m)]
    return [sum(lengths[:i]) for i in range(m)], lengths


def layouts_for(bits, n):
    """mih_layout's choice plus hand-made covers: unequal lengths, substrings that
    cross 64-bit word boundaries, many 1-bit tables (m = 64), m = 1 when possible."""
    out = {tuple(map(tuple, mih_layout(bits, max(n, 2))))}
    out.add(tuple(map(tuple, _even_split(bits, -(-bits // 20)))))     # <= 20 bits each
    lens = []
    rest = bits
    for ln in [13, 20, 7, 19, 1, 17, 11, 20, 5, 3, 16]:
        if rest == 0:
            break
        lens.append(min(ln, rest))
        rest -= lens[-1]
    while rest:
        lens.append(min(20, rest))
        rest -= lens[-1]
    if len(lens) <= 64:
        out.add((tuple(sum(lens[:i]) for i in range(len(lens))), tuple(lens)))
    if bits == 64:
        out.add(tuple(map(tuple, _even_split(64, 64))))                # 64 one-bit tables
        out.add(tuple(map(tuple, _even_split(64, 4))))
    res = []
    for s, ln in sorted(out):
        assert sum(ln) == bits and s[0] == 0 and all(a + b == c for a, b, c in
                                                     zip(s, ln, s[1:]))
        if max(ln) <= 20:
            res.append((list(s), list(ln)))
    return res


MIH_RADII = [0, 8, 31, 52, 64]


@pytest.mark.parametrize("words,n", [(1, 0), (1, 1), (1, 9), (1, 3000), (2, 500), (2, 5000),
                                     (4, 1), (4, 33), (4, 2000), (4, 20000), (5, 3000)])
def test_mih_equals_flat(words, n):
    rng = np.random.default_rng(20 + words * 100 + n)
    bits = 64 * words
    clustered = O.clustered_codes(rng, n, words, family=8, max_flips=bits // 6)
    random = O.random_codes(rng, n, words)
    for db in (clustered, random):
        q = np.concatenate([O.near_queries(rng, db, 5, bits // 5), O.random_codes(rng, 1, words),
                            db[:1]])
        ref = O.distances(q, db)
        for starts, lengths in layouts_for(bits, n):
            offs, rows = _build(db, starts, lengths)
            # the tables are a CSR partition of the rows, each bucket ascending
            for off, rw in zip(offs, rows):
                assert off[0] == 0 and off[-1] == n and (np.diff(off.astype(np.int64)) >= 0).all()
                assert sorted(rw.tolist()) == list(range(n))
            # radius = bits probes every key of every table: only for short substrings
            radii = MIH_RADII + ([bits] if max(lengths) <= 12 else [])
            for radius in radii:
                exp = oracle_range(ref, radius)
                flat = canon(*_native.hamming_range(q, db, radius, 0))
                assert np.array_equal(flat, exp)
                for isa in NATIVE_ISAS:
                    got = _native.mih_range(starts, lengths, offs, rows, db, q, radius, isa)
                    assert got[2].dtype == np.int32
                    assert np.array_equal(canon(*got), exp), (lengths, radius, isa)


def test_mih_radius_above_bits():
    rng = np.random.default_rng(30)
    db = O.clustered_codes(rng, 300, 1, family=4, max_flips=8)
    q = db[:3].copy()
    s, ln = _even_split(64, 8)
    offs, rows = _build(db, s, ln)
    ref = O.distances(q, db)
    for radius in (64, 65, 1000):
        for isa in NATIVE_ISAS:
            got = _native.mih_range(s, ln, offs, rows, db, q, radius, isa)
            assert np.array_equal(canon(*got), oracle_range(ref, radius))


def test_mih_heavy_buckets():
    """Thousands of exact duplicates share every bucket (candidate chunks overflow)."""
    rng = np.random.default_rng(31)
    base = O.random_codes(rng, 3, 4)
    db = np.repeat(base, 3000, axis=0)
    db[::7] = O.clustered_codes(rng, db[::7].shape[0], 4, family=3, max_flips=6)
    s, ln = mih_layout(256, db.shape[0])
    offs, rows = _build(db, s, ln)
    q = np.concatenate([base, O.random_codes(rng, 1, 4)])
    ref = O.distances(q, db)
    for radius in (0, 8, 31):
        for isa in NATIVE_ISAS:
            got = _native.mih_range(s, ln, offs, rows, db, q, radius, isa)
            assert np.array_equal(canon(*got), oracle_range(ref, radius))


def test_mih_bad_arguments():
    rng = np.random.default_rng(32)
    db = O.random_codes(rng, 30, 2)
    q = O.random_codes(rng, 2, 2)
    s, ln = [0, 16, 32, 48, 64, 80, 96, 112], [16] * 8
    offs, rows = _build(db, s, ln)
    good = np.empty((1 << 16) + 1, np.uint32), np.empty(30, np.uint32)
    for start, length, off, rw in [
            (0, 0, np.empty(2, np.uint32), good[1]),            # length 0
            (0, 33, good[0], good[1]),                          # length 33
            (0, 16, np.empty(1 << 16, np.uint32), good[1]),     # offsets too short
            (0, 16, good[0], np.empty(29, np.uint32)),          # rows too short
            (120, 16, good[0], good[1]),                        # past the code
            (-1, 16, good[0], good[1])]:                        # negative start
        with pytest.raises(ValueError):
            _native.mih_build(db, start, length, off, rw)
    with pytest.raises(ValueError):
        _native.mih_build(db, 0, 16, good[0].astype(np.int64), good[1])
    for args in [
            ([], [], [], []),                                   # m = 0
            (s[:-1], ln, offs, rows),                           # ragged lists
            (s, ln, offs[:-1], rows),
            (s, ln, offs, rows[:-1]),
            (s[:1] * 65, ln[:1] * 65, offs[:1] * 65, rows[:1] * 65),  # m = 65 > 64
            ([0] + s[1:], [0] + ln[1:], offs, rows),            # length 0
            ([120] + s[1:], ln, offs, rows)]:                   # past the code
        with pytest.raises(ValueError):
            _native.mih_range(*args, db, q, 5, 0)
    with pytest.raises(ValueError):                             # table of another db
        _native.mih_range(s, ln, offs, rows, db[:20].copy(), q, 5, 0)
    with pytest.raises(ValueError):
        _native.mih_range(s, ln, offs, rows, db, q, -1, 0)
    with pytest.raises(ValueError):                             # word counts differ
        _native.mih_range(s, ln, offs, rows, db, q[:, :1].copy(), 5, 0)
    # zero queries and an empty database
    assert [a.size for a in _native.mih_range(s, ln, offs, rows, db, q[:0], 5, 0)] == [0, 0, 0]
    e = db[:0]
    eoffs, erows = _build(e, s, ln)
    assert all((o == 0).all() for o in eoffs)
    for isa in NATIVE_ISAS:
        assert [a.size for a in _native.mih_range(s, ln, eoffs, erows, e, q, 64, isa)] == [0] * 3


def test_mih_probes_counts():
    for length in (1, 7, 16, 20):
        for sub in (0, 1, 3, length, length + 3):
            exp = sum(math.comb(length, w) for w in range(min(sub, length) + 1))
            assert _native.mih_probes(length, sub) == pytest.approx(exp)
