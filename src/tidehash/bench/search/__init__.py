"""Exact Hamming search benchmark: tidehash vs faiss vs NumPy, side by side in one run.

``python -m tidehash.bench search [--n 1000000,10000000] [--quick] [--threads 1,2] [--json OUT]``

Data, per N (default 1M and 10M 256-bit hashes, uint8 (N, 32), numpy's default_rng):

* ``random``: independent uniform hashes;
* ``clustered``: families of near-duplicates as real hash lists have them: N/20 base hashes,
  each with 20 members at 0-16 distinct random bit flips from the base (rows shuffled).

Queries: even positions are near-duplicates of listed hashes (1-8 bit flips), odd positions
are random, so every prefix of the query set is half and half.

Engines: ``tidehash.Index`` with strategy flat, mih and auto (MIH tables built by
``build_mih()`` during the build, so the build is measured and not the first search);
faiss ``IndexBinaryFlat`` and ``IndexBinaryMultiHash`` (only when ``import faiss`` works;
faiss is never a tidehash dependency); a NumPy baseline (``bitwise_count`` of the XOR, one
query at a time; only for N <= 1M and one thread, on a few queries since it is slow).

Measured, for each thread count (tidehash ``Index(threads=t)``, ``faiss.omp_set_num_threads(t)``):

* range search at r = 16, 31, 52 (hits at distance <= r; faiss's range_search keeps
  distance < radius, so it is called with r + 1), and k-NN for k = 1, 10;
* single-query latency: median and p99 over up to ``--single`` queries, one call per query;
* batched throughput: queries/s for one call on a batch of up to ``--queries`` queries; a
  slow configuration gets fewer queries (a time budget per measurement, ``--budget``), and
  the table says so (``nq`` column, ``*``);
* build time (add, then MIH tables) and bytes per hash in RAM: tidehash ``index.nbytes / N``,
  NumPy the array itself; faiss from the process RSS before and after the build
  (/proc/self/statm, or psutil), after returning freed heap to the OS (malloc_trim), so it
  is an estimate. An index whose estimated size exceeds 80% of MemAvailable is skipped (and
  the table says so): faiss's multi-hash index takes ~600 bytes per hash.

Indexes are built one at a time and freed before the next; 10M hashes peak at ~6.5 GB RSS,
the faiss multi-hash index being most of it.

Every result is checked: each range hit and k-NN neighbour against the distance recomputed
from the data, and every engine, thread count and single/batched call against every other
on the queries they share (range: the same (query, id, distance) sets; k-NN: the same
distances, ids may differ on ties). A disagreement is printed loudly and makes the exit
status 1. faiss's IndexBinaryMultiHash is exact for range search when ``nflip >= r // nhash``
(pigeonhole over its nhash substrings), which is how it is configured here; its k-NN only
looks in buckets within ``nflip`` bits, so it is approximate: it is shown for information,
with the fraction of queries it gets exactly right, and is left out of the ratios.

Ratios: for each row, the best tidehash strategy against the best exact faiss index, as a
speed-up (> 1 means tidehash is faster): faiss latency / tidehash latency, and tidehash
queries/s / faiss queries/s.
"""

from .runner import main, parser, run

__all__ = ["main", "parser", "run"]
