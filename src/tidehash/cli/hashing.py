"""tidehash hash."""

from __future__ import annotations

import csv
import json

import click

from ..files import ALGORITHMS, check_algorithms, hash_files
from ..formats import hashcsv, pdqcsv, pytx
from ..formats.vpdq import vpdq_to_json
from ._common import (
    AtomicOutput,
    FiniteFloatRange,
    OutputPath,
    Progress,
    StreamTable,
    err,
    expand_inputs,
    max_pixels_option,
    no_inputs,
    stdout_is_terminal,
)

HASH_FORMATS = ("jsonl", "csv", "pdq-csv", "hex", "pytx", "table")
TABLE_COLUMNS = (("KIND", 5, "left"), ("QUAL", 4, "right"), ("PDQ / vPDQ", 64, "left"),
                 ("PATH", 0, "left"))
def _value(rec, algorithm: str):
    """The record's hash for ``algorithm`` as written (hex; the features for vpdq)."""
    if algorithm == "pdq":
        return rec.pdq.hex if rec.pdq is not None else None
    if algorithm == "vpdq":
        return rec.vpdq if rec.vpdq else None
    return getattr(rec, algorithm)


CSV_FIELDS = hashcsv.HEADER  # what the csv list reader reads back


def _parse_algorithms(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    try:
        check_algorithms(names)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return names


#: the hash types each line format holds; hex holds one of them (the first asked for)
_LINE_FORMAT_SIGNALS = {"hex": ("pdq", "phash", "md5", "sha256"),
                        "pytx": ("pdq", "md5", "sha256", "phash", "vpdq"),
                        "pdq-csv": ("pdq",), "csv": ("pdq", "phash", "md5", "sha256")}
#: the formats that hold the 8 dihedral PDQ variants (pytx: as python-threatexchange's
#: rotation-prefixed lines, ``ROTATE90 pdq <hex>``)
_DIHEDRAL_FORMATS = ("jsonl", "pytx")


class HashWriter:
    """Writes FileHashes records in one of HASH_FORMATS. ``write`` returns whether
    something was written for the record (a hash, not only its path); what a
    format cannot hold is said on stderr, never dropped silently."""

    def __init__(self, out, fmt: str, algorithms=("pdq",), dihedral: bool = False):
        self.out = out
        self.fmt = fmt
        self.algorithms = tuple(algorithms)
        self._csv = None
        self.signals = _LINE_FORMAT_SIGNALS.get(fmt, ALGORITHMS)
        if fmt == "hex":
            chosen = [a for a in self.signals if a in self.algorithms]
            self.signals = tuple(chosen[:1])
        left_out = [a for a in self.algorithms if a not in self.signals
                    and not (a == "vpdq" and fmt == "csv")]
        if left_out:
            holds = (f"one hash type; writing {self.signals[0]}" if fmt == "hex" and
                     self.signals else f"{', '.join(self.signals)}")
            err(f"note: --format {fmt} holds {holds}: {', '.join(left_out)} left out "
                "(--format jsonl holds every hash)")
        if dihedral and fmt not in _DIHEDRAL_FORMATS:
            err(f"note: --format {fmt} holds no dihedral variants: the 8 --dihedral PDQ "
                "hashes are left out (--format jsonl or pytx holds them)")
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(CSV_FIELDS)
        elif fmt == "table":
            self._table = StreamTable(out, TABLE_COLUMNS)

    def write(self, rec) -> bool:
        fmt, out = self.fmt, self.out
        if rec.error is not None:  # reported on stderr already
            if fmt in ("jsonl", "csv", "table"):
                self._write_record(rec)
            return False
        absent = self._absent(rec)
        if fmt in ("hex", "pytx", "pdq-csv"):
            lines = self._lines(rec)
            out.write("".join(lines))
            wrote = bool(lines)
        else:
            self._write_record(rec)
            present = [a for a in ALGORITHMS if _value(rec, a) is not None]
            if fmt == "csv" and rec.vpdq is not None:
                absent.append("vpdq (--format csv has no vPDQ column; use jsonl)")
                present = [a for a in present if a != "vpdq"]
            wrote = bool(present)
        if absent:
            err(f"{rec.path}: left out: {'; '.join(absent)}")
        if not wrote:
            err(f"{rec.path}: no hash written for this {rec.kind or 'file'}")
        return wrote

    def _absent(self, rec) -> list[str]:
        """Why hashes asked for are not in ``rec`` (or cannot be in this format)."""
        out = []
        kind = rec.kind
        for a in self.algorithms:
            if _value(rec, a) is not None:
                continue  # in the record (a type the format cannot hold is noted once)
            if a == "vpdq" and kind == "image":
                out.append("vpdq (an image has no vPDQ; pdq hashes images)")
            elif a == "pdq" and kind == "video" and self.fmt in ("hex", "pdq-csv"):
                out.append(f"pdq (a video has no single PDQ and --format {self.fmt} holds "
                           "no vPDQ; use jsonl or pytx)")
            elif a == "phash" and kind == "video":
                out.append("phash (a video has no pHash)")
        return out

    def _lines(self, rec) -> list[str]:
        out = []
        for a in self.signals:
            value = _value(rec, a)
            if value is None:
                continue
            if self.fmt == "hex":
                out.append(value + "\n")
            elif self.fmt == "pdq-csv":
                out.append(pdqcsv.line(value, rec.pdq.quality, rec.path))
            elif a == "vpdq":
                out.append(f"vpdq {vpdq_to_json(rec.vpdq)}\n")
            else:
                out.append(f"{pytx.WRITE_TAGS[a]} {value}\n")
                if a == "pdq" and rec.pdq_dihedral:
                    out.extend(pytx.rotation_lines(h.hex for h in rec.pdq_dihedral))
        return out

    def _write_record(self, rec) -> None:
        fmt, out = self.fmt, self.out
        if fmt == "jsonl":
            out.write(json.dumps(rec.to_dict()) + "\n")
        elif fmt == "csv":
            d = rec.to_dict()
            if rec.kind == "video" and rec.vpdq is not None:
                d["pdq"] = ""
            self._csv.writerow(["" if d.get(k) is None else d.get(k) for k in CSV_FIELDS])
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
@max_pixels_option
@click.option("--format", "fmt", type=click.Choice(HASH_FORMATS), default=None,
              help="default: jsonl when stdout is not a terminal (or with -o), "
                   "table when it is")
@click.option("-o", "--output", type=OutputPath(), default=None,
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
            writer = HashWriter(progress.rows(out), fmt, algorithms, dihedral)
            inputs = 0
            for rec in hash_files(sources, algorithms=algorithms, workers=workers,
                                  dihedral=dihedral, fast=fast,
                                  seconds_per_hash=seconds_per_hash, max_pixels=max_pixels):
                progress.step()
                inputs += 1
                if rec.error is not None:
                    failed += 1
                    err(f"{rec.path}: {rec.error}")
                elif rec.warning:
                    err(f"{rec.path}: warning: {rec.warning}")
                if not writer.write(rec) and rec.error is None:
                    failed += 1  # nothing useful written for this input
            if not inputs:  # an empty folder or stdin list: most likely a mistake
                err(no_inputs(paths))
                failed = 1
    finally:
        progress.close()
    return 1 if failed else 0
