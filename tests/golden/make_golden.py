"""Regenerates the PDQ golden vectors: decoded pixels (tests/golden/*.npy) and
their expected hashes (tests/golden/expected.json), read by tests/test_golden.py.

    python tests/golden/make_golden.py        (needs pip pdqhash, numpy, Pillow)

Where the values come from: every expected hash, dihedral hash and quality is pip
`pdqhash`'s (Meta's C++ reference core, the `pdqhash` version is recorded in the
JSON); tidehash is not run here. pdqhash computes luma in float64 and casts it to
float32, where Meta's C++ file hasher (and tidehash) computes it in float32; on
images where that changes a DCT value that sits at the median, pdqhash's bit is not
the reference's. So each case is also hashed by the literal float32 NumPy oracle
(tests/oracles.py), and a case is kept only where the two agree on everything;
the ones where they do not are listed under "excluded" with their names and why,
and their pixels are not written. Synthetic images are mapped onto the safe palette
(pdq_helpers) only where the case says so; the photo crops are Pillow's decode of
examples/sample.jpg (a lossy decoder: kept apart as origin "decoded-jpeg").
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
sys.path.insert(0, str(TESTS))

import oracles  # noqa: E402
from images import make_image  # noqa: E402
from pdq_helpers import ref_pdqhash, ref_pdqhash_dihedral  # noqa: E402

SAMPLE = TESTS.parent / "examples" / "sample.jpg"

# name: (kind, height, width, channels, safe palette)
SYNTHETIC = {
    "noise_rgb_64x64": ("noise", 64, 64, 3, False),  # the single-hash entry skips the filter
    "noise_grey_64x64": ("noise", 64, 64, 1, False),
    "blobs_rgb_100x75": ("blobs", 100, 75, 3, False),
    "blobs_rgb_safe_257x130": ("blobs", 257, 130, 3, True),  # windows of 3, SIMD tails
    "text_grey_128x96": ("text", 128, 96, 1, False),
    "checker_rgba_65x129": ("checker", 65, 129, 4, False),  # the 4th byte is ignored
    "grad_diag_rgb_5x7": ("grad_diag", 5, 7, 3, False),  # the smallest hashable size
    "grad_h_rgb_33x31": ("grad_h", 33, 31, 3, False),
    "flat_rgb_safe_40x40": ("flat", 40, 40, 3, True),
    "noise_grey_600x9": ("noise", 600, 9, 1, False),  # a tall strip: long column windows
    "blobs_rgb_17x300": ("blobs", 17, 300, 3, False),
}
# name: (top, left, height, width, mode) of a crop of Pillow's decode of the sample photo
PHOTO_CROPS = {
    "photo_rgb_crop_180x160": (100, 200, 180, 160, "RGB"),
    "photo_grey_crop_150x200": (250, 300, 150, 200, "L"),
}


def cases():
    for name, (kind, h, w, ch, safe) in SYNTHETIC.items():
        yield name, "synthetic", make_image(kind, h, w, channels=ch, seed=len(name), safe=safe)
    with Image.open(SAMPLE) as im:
        im.load()
        for name, (top, left, h, w, mode) in PHOTO_CROPS.items():
            a = np.asarray(im.convert(mode))[top:top + h, left:left + w]
            yield name, "decoded-jpeg", np.ascontiguousarray(a)


def main() -> None:
    expected, excluded = {}, {}
    for name, origin, pixels in cases():
        hex_, quality = ref_pdqhash(pixels)
        dihedral, dihedral_quality = ref_pdqhash_dihedral(pixels)
        float32 = oracles.pdq(pixels)
        float32_dihedral = oracles.pdq(pixels, dihedral=True)
        if (hex_, quality) != float32 or (dihedral, dihedral_quality) != float32_dihedral:
            excluded[name] = ("pdqhash's float64 luma gives other bits than the float32 "
                              "reference arithmetic (a DCT value at the median)")
            continue
        np.save(HERE / f"{name}.npy", pixels, allow_pickle=False)
        expected[name] = {"origin": origin, "shape": list(pixels.shape), "pdq": hex_,
                          "quality": quality, "dihedral": dihedral,
                          "dihedral_quality": dihedral_quality}
    doc = {"source": f"pip pdqhash {importlib.metadata.version('pdqhash')} "
                     "(compute, compute_dihedral), checked against tests/oracles.py",
           "dihedral_order": ["original", "rot90", "rot180", "rot270", "flipx", "flipy",
                              "flipp", "flipm"],
           "cases": expected, "excluded": excluded}
    (HERE / "expected.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"{len(expected)} cases written, {len(excluded)} excluded: {sorted(excluded)}")


if __name__ == "__main__":
    main()
