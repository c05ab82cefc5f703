"""Helpers of the back-scan tests: a corpus with every kind of bad file, the
oracles (tidehash.hash_file per file, a NumPy brute-force matcher), and the
means to kill a worker mid-shard for real."""

from __future__ import annotations

import glob
import os
import signal
import time

import av
import numpy as np
from PIL import Image
from videos import make_video

import tidehash

NOBODY = 65534


# ----------------------------------------------------------------------------- corpus
def _image(rng, kind: str, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    if kind == "noise":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == "smooth":  # a soft gradient: a low PDQ quality
        base = (xx * 0.3 + yy * 0.2 + rng.integers(0, 40)).astype(np.uint8)
        return np.stack([base, base, base], -1)
    blocks = ((xx // int(rng.integers(4, 16)) + yy // int(rng.integers(4, 16))) % 2) * 200
    img = np.stack([blocks, (xx * 2) % 256, (yy * 3) % 256], -1)
    return np.clip(img + rng.integers(0, 30, img.shape), 0, 255).astype(np.uint8)


def zero_frame_video(path: str) -> str:
    """An AVI with a video stream and not one frame."""
    with av.open(path, "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        out.start_encoding()
    return path


def make_corpus(folder: str, n_images: int = 22, seed: int = 7) -> dict:
    """Images (noise, blocks, smooth; PNG and JPEG; near-duplicates), two videos and
    the bad files; returns {"good": [...], "corrupt": path, "no_frames": path}."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    good = []
    for i in range(n_images):
        kind = ("noise", "blocks", "smooth")[i % 3]
        arr = _image(rng, kind, int(rng.integers(40, 120)), int(rng.integers(40, 120)))
        ext = "jpg" if i % 4 == 1 else "png"
        path = os.path.join(folder, f"img{i:03d}.{ext}")
        Image.fromarray(arr).save(path)
        good.append(path)
        if i % 5 == 0:  # a near-duplicate: a few pixels changed
            arr = arr.copy()
            arr[:4, :4] = 255 - arr[:4, :4]
            dup = os.path.join(folder, f"img{i:03d}-dup.png")
            Image.fromarray(arr).save(dup)
            good.append(dup)
    for i in range(2):
        good.append(make_video(os.path.join(folder, f"clip{i}.mkv"), frames=30 + 20 * i,
                               seed=i))
    corrupt = os.path.join(folder, "corrupt.jpg")
    with open(corrupt, "wb") as f:
        f.write(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 3)
    no_frames = zero_frame_video(os.path.join(folder, "empty.avi"))
    return {"good": sorted(good), "corrupt": corrupt, "no_frames": no_frames}


def write_manifest(path: str, keys, sizes: dict | None = None,
                   etags: dict | None = None) -> str:
    with open(path, "w", encoding="utf-8") as f:
        f.write("# a manifest: key, size, etag\n")
        for key in keys:
            parts = [key]
            if sizes and key in sizes:
                parts.append(str(sizes[key]))
                if etags and key in etags:
                    parts.append(etags[key])
            f.write("\t".join(parts) + "\n")
    return path


# ----------------------------------------------------------------------------- oracles
def read_rows(folder: str) -> list[dict]:
    import pyarrow.parquet as pq

    paths = sorted(glob.glob(os.path.join(folder, "shard-*.parquet")))
    return [row for p in paths for row in pq.read_table(p).to_pylist()]


def expected_row(key: str, dihedral: bool) -> dict:
    """What hash_file says of one file, in the shard's columns (ok rows)."""
    rec = tidehash.hash_file(key, algorithms=("pdq", "md5", "sha256"), dihedral=dihedral)
    return {"kind": rec.kind, "pdq": None if rec.pdq is None else rec.pdq.hex,
            "quality": None if rec.pdq is None else rec.pdq.quality,
            "pdq_dihedral": None if rec.pdq_dihedral is None
            else [h.hex for h in rec.pdq_dihedral],
            "md5": rec.md5, "sha256": rec.sha256,
            "vpdq": None if rec.vpdq is None else
            [{"frame_number": f.frame_number, "quality": f.quality, "pdq": f.hex,
              "timestamp": f.timestamp} for f in rec.vpdq]}


def _bits(hexes) -> np.ndarray:
    raw = np.frombuffer(bytes.fromhex("".join(hexes)), np.uint8).reshape(-1, 32)
    return np.unpackbits(raw, axis=1).astype(bool)


def brute_force(rows, listed, *, radius=31, dihedral=False, min_quality=None,
                video_quality=50, video_distance=31, video_match=80.0) -> set:
    """The matches, by brute force: every stored PDQ (its 8 variants with
    ``dihedral``: the smallest distance, then the smallest variant) against every
    listed PDQ by NumPy XOR and count; MD5 / SHA-256 by equality; videos by
    tidehash.vpdq_match on every pair. ``listed`` are HashRecords."""
    out = set()
    pdq = [r for r in listed if r.signal == "pdq"]
    if pdq:
        lbits = _bits([r.hash for r in pdq])
    for row in rows:
        if not row["ok"]:
            continue
        if row["pdq"] is not None and pdq and (min_quality is None
                                               or row["quality"] >= min_quality):
            variants = row["pdq_dihedral"] if dihedral else [row["pdq"]]
            d = (_bits(variants)[:, None, :] != lbits[None, :, :]).sum(-1)  # (V, L)
            best = d.min(0)
            which = d.argmin(0)
            for j in np.flatnonzero(best <= radius).tolist():
                variant = tidehash.DIHEDRAL_NAMES[int(which[j])] if dihedral else None
                out.add((row["key"], "pdq", int(best[j]), row["quality"] < 50, variant,
                         pdq[j].id, pdq[j].label, None, None))
        for digest in ("md5", "sha256"):
            for r in listed:
                if r.signal == digest and r.hash == row[digest]:
                    out.add((row["key"], digest, 0, None, None, r.id, r.label, None, None))
        if row["vpdq"] is not None:
            feats = [tidehash.VPDQFeature(f["frame_number"], f["quality"], f["pdq"],
                                          f["timestamp"]) for f in row["vpdq"]]
            for r in listed:
                if r.signal != "vpdq":
                    continue
                m = tidehash.vpdq_match(feats, r.features, quality_threshold=video_quality,
                                        distance_threshold=video_distance)
                if m.query_match_percent >= video_match:
                    out.add((row["key"], "vpdq", None, None, None, r.id, r.label,
                             m.query_match_percent, m.compared_match_percent))
    return out


def match_set(path: str) -> set:
    """A match file's rows, in brute_force's shape."""
    import pyarrow.parquet as pq

    return {(r["key"], r["signal"], r["distance"], r["weak"], r["variant"], r["id"],
             r["label"], r["query_match_percent"], r["compared_match_percent"])
            for r in pq.read_table(path).to_pylist()}


# ----------------------------------------------------------------------------- killing
def holders(path: str) -> list[int]:
    """The processes (other than this one) with ``path`` open: from /proc, or from
    lsof where there is no /proc (macOS)."""
    target = os.path.realpath(path)
    if not os.path.isdir("/proc/self/fd"):
        import subprocess

        found = subprocess.run(["lsof", "-t", "--", target], capture_output=True, text=True)
        return [int(p) for p in found.stdout.split() if int(p) != os.getpid()]
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    out.append(int(pid))
                    break
            except OSError:
                continue
    return out


def kill_holders_until(path: str, done, limit_s: float = 90.0) -> int:
    """SIGKILL every process that opens ``path`` (a FIFO the worker blocks on,
    mid-shard) until ``done()``; returns how many were killed."""
    killed = 0
    deadline = time.monotonic() + limit_s
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"the scan did not end within {limit_s} s")
        for pid in holders(path):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        time.sleep(0.05)
    return killed


def drop_privileges() -> None:
    """A pool's initializer: the worker runs as nobody (a permission error root's
    own worker would not get), its imports done first."""
    import pyarrow.parquet  # noqa: F401

    import tidehash.scan.work  # noqa: F401

    os.setgid(NOBODY)
    os.setuid(NOBODY)
