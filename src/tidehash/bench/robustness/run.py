"""Making the altered copies, hashing them, and the distances the metrics work on.

Each altered copy is made in a worker process (``--workers``), written to the bytes of
its file, decoded from them once by the engine's decoding policy, and hashed there by
all four hashers; the parent gets back hashes only. Distances come from one batched
``tidehash.Index`` range search per hasher (every query against every listed hash:
exact, SIMD), with the 8 dihedral variants of each query for ``pdq-dihedral``.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

import tidehash
from tidehash.image import decode

from . import transforms as tf
from .sample import Photo

#: name -> (bits, what it is)
HASHERS = {
    "pdq": (256, "PDQ (tidehash.pdq_hash)"),
    "pdq-dihedral": (256, "PDQ, the query's 8 rotations / mirrors searched "
                          "(tidehash.pdq_hash_dihedral, Index dihedral=True)"),
    "phash": (64, "pHash 64 bits (tidehash.phash, hash_size=8; imagehash's)"),
    "phash-256": (256, "pHash 256 bits (tidehash.phash, hash_size=16)"),
}
#: PDQ's quality floor: below it a hash is flagged weak (Matcher.weak_quality)
MIN_QUALITY = 50


@dataclass
class Hashes:
    """The hashes of one decoded file."""
    pdq: bytes
    quality: int
    dihedral: bytes      # 8 x 32 bytes, DIHEDRAL_NAMES order
    phash: bytes         # 8
    phash256: bytes      # 32
    size: tuple[int, int]
    file_bytes: int


def hash_file_bytes(data: bytes) -> Hashes:
    """Decode ``data`` once (the engine's policy) and hash it four ways."""
    px = decode(data)
    img = px.image if px.image is not None else px.array
    variants = tidehash.pdq_hash_dihedral(px)
    plain = tidehash.pdq_hash(px)
    size = img.size if px.image is not None else (img.shape[1], img.shape[0])
    return Hashes(plain.bytes, plain.quality, b"".join(v.bytes for v in variants),
                  tidehash.phash(img, 8).bytes, tidehash.phash(img, 16).bytes,
                  tuple(size), len(data))


# ------------------------------------------------------------------------------ workers
_PHOTOS: Sequence[Photo] = ()


def _init_worker(photos: Sequence[Photo]) -> None:
    global _PHOTOS
    _PHOTOS = photos


def _task(photo_index: int, name: str, strengths: tuple) -> list[tuple[object, Hashes]]:
    photo = _PHOTOS[photo_index]
    im = photo.image
    return [(s, hash_file_bytes(tf.apply(name, im, s, photo.seed))) for s in strengths]


@dataclass
class Query:
    photo: int           # index of the photo it is a copy of (-1: a distractor file)
    transform: str       # "original" for the photo's own file, "distractor" for --distractors
    strength: object
    hashes: Hashes


@dataclass
class Corpus:
    photos: list[Photo]
    listed: list[Hashes]                       # the hash of each photo's own file
    queries: list[Query] = field(default_factory=list)
    distractor_files: list[str] = field(default_factory=list)


def build(photos: Sequence[Photo], chosen: Sequence[tuple[str, object]], workers: int,
          distractors: Sequence[tuple[str, bytes]] = (),
          log: Callable[[str], None] = lambda m: None) -> Corpus:
    """Hash every photo's file and every altered copy (and the distractor files)."""
    photos = list(photos)
    corpus = Corpus(photos, [hash_file_bytes(p.data) for p in photos])
    for i, h in enumerate(corpus.listed):
        corpus.queries.append(Query(i, "original", None, h))
    by_transform: dict[str, list] = {}
    for name, strength in chosen:
        by_transform.setdefault(name, []).append(strength)
    tasks = [(i, name, tuple(strengths)) for i in range(len(photos))
             for name, strengths in by_transform.items()]
    results: dict[tuple[int, str], list] = {}
    done = 0
    if workers <= 1:
        _init_worker(photos)
        for t in tasks:
            results[t[:2]] = _task(*t)
            done += 1
            if done % 50 == 0:
                log(f"  {done}/{len(tasks)} tasks")
    else:
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, initializer=_init_worker, initargs=(photos,)) as pool:
            futures = {pool.submit(_task, *t): t[:2] for t in tasks}
            for fut in concurrent.futures.as_completed(futures):
                results[futures[fut]] = fut.result()
                done += 1
                if done % 50 == 0:
                    log(f"  {done}/{len(tasks)} tasks")
    for i, name, _ in tasks:  # a fixed order, whatever order the workers finished in
        for strength, h in results[(i, name)]:
            corpus.queries.append(Query(i, name, strength, h))
    for label, data in distractors:
        corpus.distractor_files.append(label)
        corpus.queries.append(Query(-1, "distractor", label, hash_file_bytes(data)))
    return corpus


# ------------------------------------------------------------------------------ distances
def _codes(hs: Sequence[Hashes], hasher: str) -> np.ndarray:
    attr = {"pdq": "pdq", "pdq-dihedral": "dihedral", "phash": "phash",
            "phash-256": "phash256"}[hasher]
    raw = b"".join(getattr(h, attr) for h in hs)
    return np.frombuffer(raw, np.uint8).reshape(len(hs), -1)


def distance_matrix(corpus: Corpus, hasher: str) -> np.ndarray:
    """(queries, photos) int64: each query's distance to each listed hash; for
    pdq-dihedral the best of the query's 8 variants."""
    bits = HASHERS[hasher][0]
    listed = _codes(corpus.listed, "pdq" if hasher == "pdq-dihedral" else hasher)
    queries = _codes([q.hashes for q in corpus.queries], hasher)
    index = tidehash.Index(bits=bits, strategy="flat")
    index.add(listed, np.arange(len(listed), dtype=np.int64))
    if hasher == "pdq-dihedral":
        lims, ids, dist, _variant = index.search_range(queries.reshape(-1, 8, 32), bits,
                                                       dihedral=True)
    else:
        lims, ids, dist = index.search_range(queries, bits)
    out = np.full((len(corpus.queries), len(listed)), -1, dtype=np.int64)
    rows = np.repeat(np.arange(len(corpus.queries)), np.diff(lims))
    out[rows, ids] = dist
    if (out < 0).any():  # radius = bits: every pair is within it
        raise AssertionError("a pair missing from a full-radius search")
    return out
