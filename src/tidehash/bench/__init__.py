"""Benchmarks that ship with tidehash, so they run on an integrator's own machine.

``python -m tidehash.bench hash [--quick] [--sizes 0.25,1,12] [--json OUT]`` times PDQ
(hash only, and file to hash next to Pillow's decode alone) against pip pdqhash and pHash
against imagehash, one thread, on synthetic photo-like images, checking the hashes as it
goes. See ``tidehash.bench.hash``.

``python -m tidehash.bench search [--quick] [--n 1000000,10000000] [--threads 1,2] [--json OUT]``
times exact Hamming search (``tidehash.Index``) against faiss (when installed) and a NumPy
baseline, checks that every engine returns exactly the same results, and writes the figures
with the CPU model, instruction set and versions to a JSON file. See
``tidehash.bench.search`` for what is measured.

``python -m tidehash.bench registry [--entries 1000000] [--bare] [--json OUT]`` runs a real
registry server over N PDQ entries under a load generator on the same machine (lookups,
snapshot, sync, changes, submissions) and prints the figures against the registry issue's
targets. See ``tidehash.bench.registry``.

``python -m tidehash.bench matcher [--entries 1000000] [--target NAME=URL] [--ceiling]
[--json OUT]`` starts tidehash's matcher over a random PDQ bank and drives it, and any other
lookup URL (HMA's ``/m/raw_lookup``), with the same lookups at 1 / 8 / 32 connections:
lookups/s, latency percentiles, errors, memory per server process, new entry to first match.
See ``tidehash.bench.matcher``.

``python -m tidehash.bench robustness [--photos DIR] [--distractors DIR] [--json OUT]
[--plot OUT.png]`` alters photos (JPEG, resize, crops, rotations, overlays, ...), hashes the
copies with PDQ, PDQ dihedral and pHash 64 / 256, and reports recall per transform, the
false-positive rate over unrelated pairs with a confidence bound, and which threshold meets
a target rate. See ``tidehash.bench.robustness``.

``python -m tidehash.bench scan [--quick] [--files 2000] [--stored 1000000]`` hashes a
generated corpus with the back-scan's process pool and a Dask LocalCluster (files/s against
hash_files on one thread) and matches synthetic stored hashes against a list and its new
entries. See ``tidehash.bench.scan``; needs the ``scan`` extra.

``fast``, ``digest``, ``formats`` and ``phash`` (``tidehash.bench.fast`` / ``.digest`` /
``.formats`` / ``.phash``) measure fast mode, the MD5 / SHA-256 of the decoding read, the
hash-list formats and pHash on its own (cache states, every ISA);
``benchmarks/bench_*.py`` are thin wrappers over these, run from a checkout.

Nothing here is imported by ``import tidehash``; faiss, psutil, pdqhash and
imagehash are optional; ``robustness`` needs matplotlib (for ``--plot``) and scikit-image
(for its default photos), the ``bench`` extra.
"""

COMMANDS = {
    "hash": "PDQ and pHash per image: tidehash vs pdqhash / imagehash / Pillow decode alone",
    "search": "exact Hamming search: tidehash flat / MIH / auto vs faiss vs NumPy",
    "video": "vPDQ: x realtime vs PyAV decode alone and pip vpdq (when installed)",
    "fast": "fast mode (JPEG DCT-domain scaling) vs exact mode and pdqhash + Pillow draft",
    "digest": "MD5 + SHA-256 in the decoding read vs a second read of the file",
    "formats": "hash-list reading / writing speed and memory, list files, NumPy anchors",
    "phash": "pHash: tidehash.phash vs imagehash.phash, warm or cold cache, every ISA",
    "registry": "the registry under load: lookups, snapshot, sync, changes, submissions",
    "matcher": "a platform's matcher under lookup load: tidehash vs any lookup URL (HMA)",
    "robustness": "matching quality: recall per transform, false positives, threshold guidance",
    "scan": "back-scan: files/s of the pool and a Dask LocalCluster, matching stored hashes",
}
