"""Dask as an executor: an existing cluster by its scheduler's address, or a
LocalCluster of worker processes on this machine. Dask brings the scheduling,
worker restarts and retries; the scan hands it plain functions of paths."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Executor


@contextlib.contextmanager
def dask_executor(address: str | None = None, local_workers: int | None = None,
                  ) -> Iterator[Executor]:
    """A concurrent.futures.Executor over a Dask cluster: the scheduler at
    ``address`` (``tcp://host:8786``), or a LocalCluster of ``local_workers``
    processes (one thread each, the scheduler on 127.0.0.1, no dashboard), closed
    when the block ends. The workers must reach the corpus, the scan folder and
    the list by the same paths (or URLs) as this process."""
    import dask
    from distributed import Client, LocalCluster

    if (address is None) == (local_workers is None):
        raise ValueError("give a scheduler address or a number of local workers, not both")
    if local_workers is not None and int(local_workers) < 1:
        raise ValueError(f"local_workers must be at least 1, got {local_workers!r}")
    # Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536, for workloads of many
    # small objects; decoding allocates and frees an image-sized buffer per file, which
    # that setting hands back to the kernel every time (measured: 1.3x slower hashing).
    # The setting is read whenever a nanny (re)starts a worker: kept for the whole block.
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", {}))
    environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        cluster = None
        if local_workers is not None:
            cluster = LocalCluster(n_workers=int(local_workers), threads_per_worker=1,
                                   processes=True, host="127.0.0.1", dashboard_address=None,
                                   worker_dashboard_address=None)
        try:
            client = Client(cluster if cluster is not None else address)
            try:
                yield client.get_executor(pure=False)
            finally:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
