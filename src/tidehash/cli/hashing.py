"""tidehash hash."""

from __future__ import annotations

import csv
import io
import json

import click

from ..files import ALGORITHMS, check_algorithms, hash_files
from ..image import DEFAULT_MAX_PIXELS
from ._common import (
    AtomicOutput,
    FiniteFloatRange,
    Progress,
    StreamTable,
    err,
    expand_inputs,
    stdout_is_terminal,
)

HASH_FORMATS = ("jsonl", "csv", "pdq-csv", "hex", "pytx", "table")
TABLE_COLUMNS = (("KIND", 5, "left"), ("QUAL", 4, "right"), ("PDQ / vPDQ", 64, "left"),
                 ("PATH", 0, "left"))
CSV_FIELDS = ("path", "kind", "pdq", "quality", "phash", "md5", "sha256", "error")


def _parse_algorithms(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    try:
        check_algorithms(names)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return names


class HashWriter:
    """Writes FileHashes records in one of HASH_FORMATS."""

    def __init__(self, out, fmt: str):
        self.out = out
        self.fmt = fmt
        self._csv = None
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(CSV_FIELDS)
        elif fmt == "table":
            self._table = StreamTable(out, TABLE_COLUMNS)

    def write(self, rec) -> None:
        fmt, out = self.fmt, self.out
        if fmt == "jsonl":
            out.write(json.dumps(rec.to_dict()) + "\n")
        elif fmt == "csv":
            d = rec.to_dict()
            if rec.kind == "video" and rec.vpdq is not None:
                d["pdq"] = ""
            self._csv.writerow(["" if d.get(k) is None else d.get(k) for k in CSV_FIELDS])
        elif fmt in ("hex", "pytx", "pdq-csv"):
            if rec.pdq is None:
                return  # errors are on stderr; videos have no single PDQ
            if fmt == "hex":
                out.write(rec.pdq.hex + "\n")
            elif fmt == "pytx":
                out.write(f"pdq {rec.pdq.hex}\n")
            else:
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(
                    [rec.pdq.hex, rec.pdq.quality, rec.path])
                out.write(buf.getvalue())
        else:
            self._table_row(rec)

    def _table_row(self, rec) -> None:
        if rec.error is not None:
            self._table.row("error", "", rec.error, rec.path)
            return
        extra = "  ".join(f"{k}={getattr(rec, k)}" for k in ("phash", "md5", "sha256")
                          if getattr(rec, k) is not None)
        if rec.pdq is not None:
            value, qual = rec.pdq.hex, str(rec.pdq.quality)
        elif rec.vpdq is not None:
            value, qual = f"{len(rec.vpdq)} frames", ""
        else:
            value, qual = "", ""
        last = rec.path
        if extra:
            last += "  " + extra
        if rec.warning:
            last += f"  (warning: {rec.warning})"
        self._table.row(rec.kind or "", qual, value, last)


@click.command("hash")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--algo", "algorithms", default="pdq", show_default=True,
              callback=lambda ctx, p, v: _parse_algorithms(v),
              help=f"comma-separated, of {','.join(ALGORITHMS)}")
@click.option("--dihedral", is_flag=True, help="also the 8 dihedral PDQ hashes")
@click.option("--fast", is_flag=True, help="decode large JPEGs scaled down (a few bits off)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="threads (default: CPUs)")
@click.option("--seconds-per-hash", type=FiniteFloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="video: one frame hashed every S seconds")
@click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS,
              show_default=True, help="refuse larger images")
@click.option("--format", "fmt", type=click.Choice(HASH_FORMATS), default=None,
              help="default: jsonl when stdout is not a terminal (or with -o), "
                   "table when it is")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="write here (atomically: complete or not at all)")
def hash_command(paths, algorithms, dihedral, fast, workers, seconds_per_hash, max_pixels,
                 fmt, output):
    """Hash files, folders (recursive, sorted; hidden names skipped) and, for '-',
    the paths listed one a line on stdin. Images and videos are told apart by
    content. One record per input, in input order."""
    if dihedral and "pdq" not in algorithms:
        raise click.UsageError("--dihedral needs pdq in --algo")
    if fmt is None:
        fmt = "table" if output in (None, "-") and stdout_is_terminal() else "jsonl"
    known, sources = expand_inputs(paths)
    progress = Progress(len(known) if known is not None else None)
    failed = 0
    try:
        with AtomicOutput(output) as out:
            writer = HashWriter(progress.rows(out), fmt)
            for rec in hash_files(sources, algorithms=algorithms, workers=workers,
                                  dihedral=dihedral, fast=fast,
                                  seconds_per_hash=seconds_per_hash, max_pixels=max_pixels):
                progress.step()
                if rec.error is not None:
                    failed += 1
                    err(f"{rec.path}: {rec.error}")
                elif rec.warning:
                    err(f"{rec.path}: warning: {rec.warning}")
                writer.write(rec)
    finally:
        progress.close()
    return 1 if failed else 0
