"""Concurrent hashing gives exactly the single-threaded results.

The kernels run without the GIL (Pillow's decoders release it too), so 4 threads
really do hash at the same time; a shared scratch buffer, a static table written
lazily or a per-thread ISA leaking between threads would show up as a differing
hash here."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import tidehash

N_IMAGES = 50
THREADS = 4


def make_image(i: int) -> np.ndarray:
    """50 different images of different sizes and kinds (RGB, grey, RGBA)."""
    rng = np.random.default_rng(1000 + i)
    h, w = int(rng.integers(40, 900)), int(rng.integers(40, 900))
    small = rng.integers(0, 256, (max(2, h // 12), max(2, w // 12), 3), dtype=np.uint8)
    arr = np.asarray(Image.fromarray(small).resize((w, h), Image.BILINEAR))
    arr = np.clip(arr.astype(np.int16) + rng.integers(-5, 6, arr.shape), 0, 255).astype(np.uint8)
    if i % 5 == 1:
        return np.ascontiguousarray(arr[:, :, 0])
    if i % 5 == 2:
        return np.dstack([arr, rng.integers(0, 256, (h, w), dtype=np.uint8)])
    if i % 7 == 3:  # a few exactly 64x64 images (unfiltered path)
        return np.ascontiguousarray(arr[:64, :64]) if h >= 64 and w >= 64 else arr
    return arr


@pytest.fixture(scope="module")
def images():
    return [make_image(i) for i in range(N_IMAGES)]


@pytest.fixture(scope="module")
def files(tmp_path_factory, images):
    d = tmp_path_factory.mktemp("threads")
    paths = []
    for i, arr in enumerate(images):
        p = d / (f"{i:02d}.png" if i % 2 else f"{i:02d}.jpg")
        im = Image.fromarray(arr)
        if p.suffix == ".jpg" and im.mode == "RGBA":
            im = im.convert("RGB")
        im.save(p)
        paths.append(p)
    return paths


def test_arrays_concurrently(images):
    serial = [tidehash.pdq_hash(a) for a in images]
    serial_d = [tidehash.pdq_hash_dihedral(a) for a in images]
    assert len(set(serial)) == N_IMAGES  # they really are different images
    with ThreadPoolExecutor(THREADS) as pool:
        for round_ in range(3):
            assert list(pool.map(tidehash.pdq_hash, images)) == serial
            assert list(pool.map(tidehash.pdq_hash_dihedral, images)) == serial_d
            # a shuffled, interleaved mix of both entry points
            jobs = list(range(N_IMAGES)) * 2
            np.random.default_rng(round_).shuffle(jobs)
            futs = [(j, k % 2, pool.submit(tidehash.pdq_hash_dihedral if k % 2 else
                                           tidehash.pdq_hash, images[j]))
                    for k, j in enumerate(jobs)]
            for j, dihedral, fut in futs:
                assert fut.result() == (serial_d[j] if dihedral else serial[j])


def test_files_concurrently(files):
    serial = [tidehash.hash_file(p).pdq for p in files]
    assert len(set(serial)) == N_IMAGES
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(2):
            got = [r.pdq for r in pool.map(tidehash.hash_file, files)]
            assert got == serial
            got_bytes = [r.pdq for r in pool.map(tidehash.hash_file,
                                                 [p.read_bytes() for p in files])]
            assert got_bytes == serial
    assert [r.pdq for r in tidehash.hash_files(files, workers=THREADS)] == serial
    assert [r.pdq for r in tidehash.hash_files(files, workers=1)] == serial


def test_pillow_images_concurrently(files):
    # Pillow images (arrow path, read in place) hashed from several threads
    pil = []
    for p in files:
        with Image.open(p) as im:
            im.load()
            pil.append(im.copy())
    serial = [tidehash.pdq_hash(im) for im in pil]
    with ThreadPoolExecutor(THREADS) as pool:
        assert list(pool.map(tidehash.pdq_hash, pil)) == serial


def test_each_thread_its_own_isa(images):
    serial = [tidehash.pdq_hash(a) for a in images]
    isas = tidehash.available_isas()
    default = tidehash.cpu_info()["active_isa"]

    def job(args):
        i, isa = args
        with tidehash.use_isa(isa):
            h = tidehash.pdq_hash(images[i])
            assert tidehash.cpu_info()["active_isa"] == isa
        return h

    work = list(zip(range(N_IMAGES), itertools.cycle(isas)))
    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(2):
            assert list(pool.map(job, work)) == serial
    assert tidehash.cpu_info()["active_isa"] == default


def test_files_with_digests_and_fast_mode_concurrently(files, tmp_path):
    """Digests (hashlib releases the GIL too) and fast mode from several threads
    give exactly the serial records, in input order."""
    import hashlib

    big = tmp_path / "big.jpg"  # large enough for fast mode to scale it
    Image.fromarray(make_image(0)).resize((2200, 1700)).save(big, quality=90)
    paths = list(files) + [big] * 3
    algos = ("pdq", "md5", "sha256")
    for fast in (False, True):
        serial = [tidehash.hash_file(p, algorithms=algos, fast=fast) for p in paths]
        for p, rec in zip(paths, serial):
            data = p.read_bytes()
            assert rec.md5 == hashlib.md5(data).hexdigest()
            assert rec.sha256 == hashlib.sha256(data).hexdigest()
        for _ in range(2):
            assert list(tidehash.hash_files(paths, algorithms=algos, fast=fast,
                                            workers=THREADS)) == serial
        with ThreadPoolExecutor(THREADS) as pool:
            got = list(pool.map(lambda p, f=fast: tidehash.hash_file(p, algorithms=algos, fast=f),
                                paths))
        assert got == serial
