"""tidehash scan hash / match: a thin layer over tidehash.scan (imported inside the
commands only: ``tidehash --help`` needs none of the scan extra)."""

from __future__ import annotations

import contextlib

import click

from ._common import FiniteFloatRange, Progress, err, err_line, max_pixels_option

_EXTRA = "tidehash scan needs the scan extra: pip install 'tidehash[scan]'"


def _executor_options(f):
    f = click.option("--dask-local", "dask_local", type=click.IntRange(min=1), default=None,
                     metavar="N", help="run on a Dask LocalCluster of N worker processes")(f)
    f = click.option("--dask", "dask_address", default=None, metavar="ADDRESS",
                     help="run on the Dask cluster whose scheduler is at ADDRESS "
                          "(tcp://host:8786); its workers must reach the same paths")(f)
    f = click.option("--workers", type=click.IntRange(min=1), default=None,
                     help="local worker processes (default: the CPUs)")(f)
    return f


def _executor(workers, dask_address, dask_local):
    """(a context manager giving the executor or None for the local pool)."""
    chosen = [name for name, v in (("--workers", workers), ("--dask", dask_address),
                                   ("--dask-local", dask_local)) if v is not None]
    if len(chosen) > 1:
        raise click.UsageError(f"{' and '.join(chosen)} cannot be used together")
    if dask_address is None and dask_local is None:
        return contextlib.nullcontext(None)
    from ..scan import dask_executor

    return dask_executor(dask_address, dask_local)


def _imports():
    try:
        import fsspec  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        err(_EXTRA)
        return None
    from .. import scan

    return scan


@click.group("scan")
def scan_group():
    """Back-scan a corpus: hash it once into Parquet shards (scan hash), match the
    stored hashes against a list as often as it changes (scan match)."""


@scan_group.command("hash")
@click.argument("source")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="the scan's folder: plan.parquet, shard-NNNNNN.parquet")
@click.option("--resume", is_flag=True,
              help="go on with the scan in --out: keep finished shards, redo the rest")
@click.option("--shard-size", type=click.IntRange(min=1), default=1000, show_default=True,
              help="files per shard (the unit of work and of loss)")
@click.option("--dihedral", is_flag=True,
              help="also store the 8 dihedral PDQ variants (scan match --dihedral)")
@click.option("--seconds-per-hash", type=FiniteFloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="video: one vPDQ frame every this many seconds")
@max_pixels_option
@_executor_options
def hash_command(source, out, resume, shard_size, dihedral, seconds_per_hash, max_pixels,
                 workers, dask_address, dask_local):
    """Hash every file of SOURCE (a folder, an fsspec URL of a folder, or a manifest:
    one path or URL a line, optionally a tab, the size, a tab, the etag) into
    Parquet shards under --out: key, ok, error, reason, kind, pdq, quality, md5,
    sha256, vpdq, size, etag. A file that cannot be read or decoded is an error row
    and the scan goes on; a shard whose worker died is left for --resume. Prints a
    summary on stderr. Exit 0 when every file was hashed, 1 when some were error
    rows or some shards are left to resume."""
    scan = _imports()
    if scan is None:
        return 1
    from ..scan import ScanError

    with _executor(workers, dask_address, dask_local) as executor:
        progress = None
        try:
            def on_plan(files):
                nonlocal progress
                progress = Progress(files, "scanning")

            def on_shard(summary):
                for _ in range(summary["files"]):
                    progress.step()

            report = scan.hash_corpus(source, out, executor=executor, workers=workers,
                                      resume=resume, shard_size=shard_size,
                                      dihedral=dihedral, seconds_per_hash=seconds_per_hash,
                                      max_pixels=max_pixels, on_plan=on_plan,
                                      on_shard=on_shard)
        except ScanError as exc:
            err(str(exc))
            return 1
        finally:
            if progress is not None:
                progress.close()
    errors = ", ".join(f"{n} {reason}" for reason, n in report.errors.items()) or "none"
    err_line(f"scanned {report.files} files in {report.shards} shards "
             f"({report.shards_skipped} kept from before): {report.files_hashed} hashed "
             f"in {report.seconds:.1f} s ({report.files_per_second:.1f} files/s); "
             f"error rows: {errors}")
    for shard, why in sorted(report.failed_shards.items()):
        err(f"shard {shard} not written: {why} (run again with --resume)")
    return 0 if report.complete and not report.errors else 1


@scan_group.command("match")
@click.argument("folder", type=click.Path(exists=True, file_okay=False))
@click.argument("list_path", metavar="LIST", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="the matches, as one Parquet file (written atomically)")
@click.option("--since", type=click.Path(exists=True, dir_okay=False), default=None,
              metavar="OLD_LIST", help="match only LIST's entries that are not in OLD_LIST "
                                       "(the list as it was when last matched)")
@click.option("--radius", type=click.IntRange(0, 256), default=31, show_default=True,
              help="PDQ match when the Hamming distance is at most this")
@click.option("--dihedral", is_flag=True,
              help="search the 8 rotations / mirrors (a scan hashed with --dihedral)")
@click.option("--min-quality", type=click.IntRange(0, 100), default=None,
              help="leave out stored hashes whose PDQ quality is below this")
@click.option("--video-quality", type=click.IntRange(0, 101), default=50, show_default=True,
              help="video rule: frames of lower quality are dropped")
@click.option("--video-distance", type=click.IntRange(0, 256), default=31, show_default=True,
              help="video rule: a frame matches within this distance")
@click.option("--video-match", type=FiniteFloatRange(0, 100), default=80.0, show_default=True,
              help="video rule: percent of the query's frames that must match")
@click.option("--index", "index", type=click.Choice(["auto", "list", "stored"]),
              default="auto", show_default=True,
              help="which side's PDQ hashes to index, the other streaming past them "
                   "(auto: the smaller; the matches are the same)")
@_executor_options
def match_command(folder, list_path, out, since, radius, dihedral, min_quality, video_quality,
                  video_distance, video_match, index, workers, dask_address, dask_local):
    """Match the hashes stored in FOLDER (scan hash) against LIST (any list format, a
    list file from `tidehash index build`, an index file) without decoding anything
    again. Writes one row per listed entry behind each match: key, signal,
    distance, quality, weak, variant, id, label, source, entry_key, row and the
    video percentages. Exit 0 whether or not anything matched, 1 when some shards
    of the scan are unfinished or could not be matched, or the list had bad lines
    (reported, skipped)."""
    scan = _imports()
    if scan is None:
        return 1
    from ..errors import HashFormatError
    from ..scan import ScanError

    with _executor(workers, dask_address, dask_local) as executor:
        try:
            report = scan.match_hashes(folder, list_path, out, radius=radius,
                                       dihedral=dihedral, min_quality=min_quality,
                                       video_quality=video_quality,
                                       video_distance=video_distance,
                                       video_match=video_match, since=since,
                                       executor=executor, workers=workers, index=index)
        except (ScanError, HashFormatError) as exc:
            err(str(exc))
            return 1
    err_line(f"matched {report.hashes} stored hashes ({report.shards} shards) against "
             f"{report.list_entries} list entries in {report.seconds:.1f} s: "
             f"{report.matches} matches, {report.keys} files matched; indexed: "
             + ("the list's" if report.indexed == "list" else "the stored")
             + f" PDQ hashes ({report.stored_pdq} stored, {report.list_pdq} listed)")
    if report.list_bad_lines:
        err(f"{report.list_bad_lines} bad lines in the list were skipped")
    if report.missing_shards:
        err(f"{len(report.missing_shards)} shards of the scan are unfinished and were not "
            "matched (scan hash --resume)")
    for shard, why in sorted(report.failed_shards.items()):
        err(f"{shard}: not matched: {why}")
    return 0 if report.complete and not report.list_bad_lines else 1
