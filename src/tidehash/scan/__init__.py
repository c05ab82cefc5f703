"""Back-scan: a platform's whole corpus hashed once into Parquet shards, and matched
against the list as often as the list changes (extra ``tidehash[scan]``: pyarrow,
fsspec, and dask[distributed] for a cluster).

``hash_corpus(SOURCE, DIR)`` hashes a folder, an fsspec URL of a folder or a
manifest into ``DIR/shard-NNNNNN.parquet`` (tidehash.scan.shards says the
columns); ``match_hashes(DIR, LIST, OUT)`` matches the stored hashes against a
list into one Parquet file. Both run on any concurrent.futures.Executor: a local
process pool by default, ``dask_executor(...)`` for a Dask cluster, a thread pool.
The engine never imports this package."""

from .cluster import dask_executor
from .matching import MatchReport, match_hashes, new_entries
from .plan import DEFAULT_SHARD_SIZE, ScanError, read_manifest
from .run import HashReport, hash_corpus, local_pool
from .shards import REASONS, hash_schema, match_schema

__all__ = ["DEFAULT_SHARD_SIZE", "HashReport", "MatchReport", "REASONS", "ScanError",
           "dask_executor", "hash_corpus", "hash_schema", "local_pool", "match_hashes",
           "match_schema", "new_entries", "read_manifest"]
