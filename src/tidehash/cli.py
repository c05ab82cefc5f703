"""The tidehash command line, on click.

Every command returns its exit code: 0 all went well, 1 some inputs failed (each
reported on stderr, the rest still processed), 2 usage errors, 130 interrupted.
Machine-readable output (JSON lines) when stdout is not a terminal, an aligned
table when it is."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator

import click

from . import __version__
from .files import ALGORITHMS, check_algorithms, hash_files
from .image import DEFAULT_MAX_PIXELS

# more inputs than this (on a terminal) get a progress bar
PROGRESS_MIN_INPUTS = 4
HASH_FORMATS = ("jsonl", "csv", "pdq-csv", "hex", "pytx", "table")
CSV_FIELDS = ("path", "kind", "pdq", "quality", "phash", "md5", "sha256", "error")


def _err(message: str) -> None:
    click.echo(f"tidehash: {message}", err=True)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


# ----------------------------------------------------------------------------- output
class AtomicOutput:
    """Text output to a path, written to a temporary file in the same folder and
    renamed into place only when the command completes: Ctrl-C, a crash or an
    exception leaves neither a partial file nor the temporary one. ``-`` or None
    is stdout (written as it goes)."""

    def __init__(self, path: str | None):
        self.path = None if path in (None, "-") else os.fspath(path)
        self._tmp: str | None = None
        self.stream = None

    def __enter__(self):
        if self.path is None:
            self.stream = sys.stdout
            return self.stream
        directory = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        self.stream = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self.stream

    def __exit__(self, exc_type, exc, tb):
        if self.path is None:
            self.stream.flush()
            return False
        try:
            if exc_type is None:
                self.stream.flush()
                os.fsync(self.stream.fileno())
                self.stream.close()
                os.replace(self._tmp, self.path)
                self._tmp = None
        finally:
            if self._tmp is not None:
                try:
                    self.stream.close()
                finally:
                    try:
                        os.unlink(self._tmp)
                    except OSError:
                        pass
        return False


class Progress:
    """A one-line bar with rate and ETA on stderr, drawn only when stderr is a
    terminal and there are more than a few inputs (never when piped)."""

    def __init__(self, total: int | None, label: str = "hashing"):
        self.total = total
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self.enabled = (sys.stderr.isatty() and total is not None
                        and total >= PROGRESS_MIN_INPUTS)

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total} "
                         f"{rate:.1f}/s ETA {eta:.0f}s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


# ----------------------------------------------------------------------------- inputs
def _walk(folder: str) -> Iterator[str]:
    """Files under ``folder``, recursively, in sorted order; hidden files and folders
    (names starting with '.') are skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def _stdin_paths() -> Iterator[str]:
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        line = line.rstrip("\r\n")
        if line:
            yield line


def expand_inputs(paths) -> tuple[list[str] | None, Iterator[str]]:
    """The files named by ``paths`` (files, folders, ``-`` for a list on stdin).
    Returns (the list when known up front, an iterator over them)."""
    if "-" in paths:
        def gen():
            for p in paths:
                if p == "-":
                    yield from _stdin_paths()
                elif os.path.isdir(p):
                    yield from _walk(p)
                else:
                    yield p
        return None, gen()
    out: list[str] = []
    for p in paths:
        out.extend(_walk(p) if os.path.isdir(p) else [p])
    return out, iter(out)


def _parse_algorithms(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    try:
        check_algorithms(names)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return names


# ----------------------------------------------------------------------------- writers
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
            out.write(f"{'KIND':<5}  {'QUAL':>4}  {'PDQ / vPDQ':<64}  PATH\n")

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
            self.out.write(f"{'error':<5}  {'':>4}  {rec.error:<64}  {rec.path}\n")
            return
        extra = "  ".join(f"{k}={getattr(rec, k)}" for k in ("phash", "md5", "sha256")
                          if getattr(rec, k) is not None)
        if rec.pdq is not None:
            value, qual = rec.pdq.hex, str(rec.pdq.quality)
        elif rec.vpdq is not None:
            value, qual = f"{len(rec.vpdq)} frames", ""
        else:
            value, qual = "", ""
        kind = rec.kind or ""
        line = f"{kind:<5}  {qual:>4}  {value:<64}  {rec.path}"
        if extra:
            line += "  " + extra
        if rec.warning:
            line += f"  (warning: {rec.warning})"
        self.out.write(line + "\n")


# ----------------------------------------------------------------------------- commands
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tidehash", message="%(prog)s %(version)s")
def cli():
    """tidehash: perceptual hashes (PDQ, pHash, vPDQ, MD5, SHA-256) of images and
    videos, hash lists and matching. Exit codes: 0 ok, 1 some inputs failed,
    2 usage error, 130 interrupted."""


@cli.command("hash")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--algo", "algorithms", default="pdq", show_default=True,
              callback=lambda ctx, p, v: _parse_algorithms(v),
              help=f"comma-separated, of {','.join(ALGORITHMS)}")
@click.option("--dihedral", is_flag=True, help="also the 8 dihedral PDQ hashes")
@click.option("--fast", is_flag=True, help="decode large JPEGs scaled down (a few bits off)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="threads (default: CPUs)")
@click.option("--seconds-per-hash", type=click.FloatRange(min=0, min_open=True), default=1.0,
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
        fmt = "table" if output in (None, "-") and _stdout_is_terminal() else "jsonl"
    known, sources = expand_inputs(paths)
    progress = Progress(len(known) if known is not None else None)
    failed = 0
    try:
        with AtomicOutput(output) as out:
            writer = HashWriter(out, fmt)
            for rec in hash_files(sources, algorithms=algorithms, workers=workers,
                                  dihedral=dihedral, fast=fast,
                                  seconds_per_hash=seconds_per_hash, max_pixels=max_pixels):
                progress.step()
                if rec.error is not None:
                    failed += 1
                    _err(f"{rec.path}: {rec.error}")
                elif rec.warning:
                    _err(f"{rec.path}: warning: {rec.warning}")
                writer.write(rec)
    finally:
        progress.close()
    return 1 if failed else 0


@cli.command("info")
@click.option("--json", "as_json", is_flag=True, help="JSON even on a terminal")
def info_command(as_json):
    """Version, CPU features, the SIMD level in use, the available ones, build flags."""
    from .cpu import cpu_info

    info = {"version": __version__, **cpu_info()}
    try:
        import sysconfig
        # the flags Python's own build passes to extensions; the per-ISA kernel flags
        # are fixed in setup.py
        info["build"] = {"python": sys.version.split()[0],
                         "python_cflags": sysconfig.get_config_var("CFLAGS") or ""}
    except Exception:  # noqa: BLE001 - informational only
        pass
    if as_json or not _stdout_is_terminal():
        click.echo(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        elif isinstance(value, dict):
            value = "; ".join(f"{k} {v}" for k, v in value.items())
        click.echo(f"{key + ':':<16} {value if value is not None else '-'}")
    return 0


def _emit(obj: dict, text: str) -> None:
    """JSON when stdout is not a terminal, ``text`` when it is."""
    click.echo(json.dumps(obj) if not _stdout_is_terminal() else text)


_HEX_ONLY = re.compile(r"[0-9a-fA-F]+")


def _hash_arg(arg: str):
    """A literal hash argument: ("pdq", PDQHash) for 64 hex digits, ("phash", PHash)
    for 16; None when ``arg`` is not one."""
    from .hashes import PDQHash
    from .phash import PHash

    text = arg.strip()
    if _HEX_ONLY.fullmatch(text) is None:
        return None
    if len(text) == 64:
        return "pdq", PDQHash.from_hex(text)
    if len(text) == 16:
        return "phash", PHash.from_hex(text)
    return None


@cli.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--dihedral", is_flag=True,
              help="two images: the best distance over B's 8 dihedral variants")
@click.option("--seconds-per-hash", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="two videos: one frame hashed every S seconds")
def compare_command(a, b, dihedral, seconds_per_hash):
    """Distance between A and B, each a file or a hash (64 hex digits: PDQ; 16: pHash).
    Two files: their PDQ distance; two videos: the vPDQ match percentages. JSON when
    stdout is not a terminal."""
    from .errors import DecodeError
    from .files import hash_file
    from .hashes import hamming
    from .match import vpdq_match
    from .phash import PHash

    items = []
    for arg in (a, b):
        if os.path.exists(arg):
            items.append(("file", arg))
            continue
        parsed = _hash_arg(arg)
        if parsed is None:
            raise click.BadParameter(
                f"{arg!r} is neither a file nor a hash (64 hex digits PDQ, 16 pHash)")
        items.append(parsed)
    signals = {kind for kind, _ in items if kind != "file"}
    if len(signals) > 1:
        raise click.UsageError("cannot compare a PDQ hash with a pHash")
    signal = signals.pop() if signals else "pdq"
    algorithms = ("phash",) if signal == "phash" else ("pdq",)
    values = []
    for kind, value in items:
        if kind != "file":
            values.append(value)
            continue
        try:
            rec = hash_file(value, algorithms=algorithms, dihedral=dihedral and signal == "pdq",
                            seconds_per_hash=seconds_per_hash)
        except DecodeError as exc:
            _err(f"{exc.source}: {exc.reason}")
            return 1
        if rec.kind == "video":
            values.append(rec.vpdq)
        elif signal == "phash":
            values.append(PHash.from_hex(rec.phash))
        else:
            values.append(rec)
    videos = [isinstance(v, list) for v in values]
    if all(videos):
        res = vpdq_match(values[0], values[1])
        obj = {"a": a, "b": b, "signal": "vpdq",
               "query_match_percent": round(res.query_match_percent, 2),
               "compared_match_percent": round(res.compared_match_percent, 2),
               "match": res.is_match()}
        _emit(obj, f"vpdq: {obj['query_match_percent']}% of A's frames match B, "
                   f"{obj['compared_match_percent']}% of B's match A"
                   f" ({'match' if obj['match'] else 'no match'})")
        return 0
    if any(videos):
        _err("cannot compare a video with an image or a single hash")
        return 1
    obj = {"a": a, "b": b, "signal": signal}
    if signal == "phash":
        obj["distance"] = int(values[0] - values[1])
    else:
        pdqs = [v.pdq if hasattr(v, "pdq") else v for v in values]
        if dihedral and hasattr(values[1], "pdq_dihedral") and values[1].pdq_dihedral:
            obj["distance"] = min(hamming(pdqs[0], v) for v in values[1].pdq_dihedral)
        else:
            obj["distance"] = int(hamming(pdqs[0], pdqs[1]))
        for key, h in zip(("quality_a", "quality_b"), pdqs):
            if h.quality is not None:
                obj[key] = h.quality
    _emit(obj, f"{signal} distance {obj['distance']}")
    return 0


# ----------------------------------------------------------------------------- lists
class _BadLines:
    """Prints each bad line of a list on stderr as ``file:line: reason``."""

    def __init__(self):
        self.count = 0

    def __call__(self, bad) -> None:
        self.count += 1
        click.echo(str(bad), err=True)


def _read_lists(sources, fmt, strict, report: _BadLines, signal=None):
    """read_list with bad lines on stderr; None after a --strict stop or a list whose
    format cannot be told (reported)."""
    from .errors import HashFormatError
    from .formats import BadLineError, read_list

    sources = [sys.stdin.buffer if s == "-" else s for s in sources]
    try:
        return read_list(sources if len(sources) > 1 else sources[0], fmt, signal=signal,
                         strict=strict, on_error=report)
    except BadLineError as exc:
        if not report.count:
            click.echo(str(exc.bad_line), err=True)
        report.count += 1
        return None
    except HashFormatError as exc:
        _err(str(exc))
        report.count += 1
        return None


def _list_notes(hl) -> None:
    for name, n in sorted(hl.skipped.items()):
        _err(f"note: {n} entries of type {name} skipped (not a hash tidehash uses)")
    if hl.error_count > len(hl.errors):
        _err(f"note: {hl.error_count} bad lines in all")


_READ_FORMATS = ("hex", "pytx", "pdqcsv", "jsonl", "vpdq", "vpdq-json", "ncmec", "stopncii")
_WRITE_FORMATS = ("hex", "pytx", "pdqcsv", "jsonl", "vpdq", "vpdq-json")
_SIGNALS = ("pdq", "md5", "sha256", "phash", "vpdq")


@cli.command("convert")
@click.argument("source", metavar="IN")
@click.option("-o", "--output", required=True, help="the converted list ('-': stdout)")
@click.option("--to", "to_format", type=click.Choice(_WRITE_FORMATS), required=True)
@click.option("--from", "from_format", type=click.Choice(_READ_FORMATS), default=None,
              help="default: told from the content")
@click.option("--signal", type=click.Choice(_SIGNALS), default=None,
              help="keep only this hash type (needed for a one-type format when IN has several)")
@click.option("--strict", is_flag=True, help="stop at the first bad line (nothing is written)")
def convert_command(source, output, to_format, from_format, signal, strict):
    """Convert a hash list between formats (ncmec and stopncii are read only). Bad
    lines are reported on stderr as file:line: reason and skipped (exit 1); with
    --strict the first one stops the run. IN may be '-' (stdin)."""
    from .formats import write_list

    report = _BadLines()
    hl = _read_lists([source], from_format, strict, report, signal=signal)
    if hl is None:
        return 1
    _list_notes(hl)
    dest = sys.stdout.buffer if output == "-" else output
    try:
        write_list(hl, dest, to_format, signal=signal)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    return 1 if report.count else 0


# ----------------------------------------------------------------------------- index
def _meta_path(index_path: str) -> str:
    return os.fspath(index_path) + ".meta.jsonl"


def _row_entries(group, row: int) -> list[dict]:
    out = []
    for rec in group.records(row):
        entry = {"id": rec.id}
        for key in ("source", "label", "quality"):
            value = getattr(rec, key)
            if value is not None:
                entry[key] = value
        out.append(entry)
    return out


@cli.group("index")
def index_group():
    """Build and inspect tidehash index files (PDQ, exact Hamming search)."""


@index_group.command("build")
@click.argument("lists", nargs=-1, required=True, metavar="LIST...")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="the index file; its entries go to OUTPUT.meta.jsonl")
@click.option("--from", "from_format", type=click.Choice(_READ_FORMATS), default=None,
              help="format of every LIST (default: told from each one's content)")
@click.option("--strict", is_flag=True, help="stop at the first bad line (nothing is written)")
def index_build_command(lists, output, from_format, strict):
    """Index the PDQ hashes of LIST... (merged; equal hashes are one row). Index ids
    are the row numbers; OUTPUT.meta.jsonl holds, per row, the entries' id, source,
    label and quality, so `tidehash match` can show them. Both files are written
    atomically."""
    import numpy as np

    from .index import Index

    report = _BadLines()
    hl = _read_lists(list(lists), from_format, strict, report)
    if hl is None:
        return 1
    _list_notes(hl)
    group = hl.pdq
    for other in hl.signals:
        if other != "pdq":
            _err(f"note: {hl[other].n_entries} {other} entries not indexed "
                 f"(an index holds PDQ; match against the list itself for them)")
    index = Index()
    index.add(group.hashes, ids=np.arange(len(group), dtype=np.int64))
    with AtomicOutput(_meta_path(output)) as meta:
        meta.write(json.dumps({"tidehash_index_meta": 1, "rows": len(group),
                               "entries": group.n_entries, "lists": list(lists),
                               "sources": [s for s in hl.sources if s]}) + "\n")
        for row in range(len(group)):
            meta.write(json.dumps({"row": row, "pdq": group.hex(row),
                                   "entries": _row_entries(group, row)}) + "\n")
        index.save(output)
    if sys.stderr.isatty():
        _err(f"{output}: {len(group)} PDQ hashes ({group.n_entries} entries)")
    return 1 if report.count else 0


def _read_meta(index_path: str):
    """(header, [entries per row]) from the sidecar, or (None, None) without one."""
    path = _meta_path(index_path)
    if not os.path.exists(path):
        return None, None
    with open(path, encoding="utf-8") as f:
        header = json.loads(f.readline())
        rows = [json.loads(line)["entries"] for line in f]
    return header, rows


@index_group.command("info")
@click.argument("index_path", metavar="INDEX", type=click.Path(exists=True, dir_okay=False))
def index_info_command(index_path):
    """Count, bits, search strategy, file size and the lists an index was built from."""
    from .index import Index, IndexFormatError

    try:
        index = Index.load(index_path)
    except IndexFormatError as exc:
        _err(str(exc))
        return 1
    info = {"path": index_path, "count": len(index), "bits": index.bits,
            "strategy": index.strategy,
            "file_bytes": os.path.getsize(index_path)}
    header, _ = _read_meta(index_path)
    if header is not None:
        info.update(entries=header.get("entries"), lists=header.get("lists"),
                    sources=header.get("sources"), meta=_meta_path(index_path))
    else:
        info["meta"] = None
    _emit(info, "\n".join(f"{k + ':':<12} {v}" for k, v in info.items()))
    return 0


# ----------------------------------------------------------------------------- match
class _Target:
    """What `match` searches: an index file (PDQ, entries from its sidecar) or a
    list read into memory (PDQ index, MD5 / SHA-256 sets, vPDQ video index)."""

    def __init__(self, path: str, fmt, video_quality: int, video_distance: int):
        import numpy as np

        from .index import _MAGIC, Index
        from .match import VPDQIndex

        self.digests: dict[str, dict[str, int]] = {}
        self.videos = None
        self.group = None
        self.meta_rows = None
        self.failed = False
        with open(path, "rb") as f:
            magic = f.read(len(_MAGIC))
        if magic == _MAGIC:
            self.index = Index.load(path)
            _, self.meta_rows = _read_meta(path)
            if self.meta_rows is None:
                _err(f"note: {_meta_path(path)} not found: matches show index ids only")
            return
        report = _BadLines()
        hl = _read_lists([path], fmt, False, report)
        if hl is None:
            self.failed = True
            return
        self.hl = hl
        self.group = hl.pdq
        self.index = Index()
        self.index.add(self.group.hashes, ids=np.arange(len(self.group), dtype=np.int64))
        for signal in ("md5", "sha256"):
            g = hl[signal]
            if len(g):
                self.digests[signal] = {g.hex(r): r for r in range(len(g))}
        if len(hl.vpdq):
            self.videos = VPDQIndex(quality_threshold=video_quality,
                                    distance_threshold=video_distance)
            for row, feats in enumerate(hl.vpdq.features):
                self.videos.add(row, feats)

    def entries(self, signal: str, row: int) -> list[dict]:
        if self.group is None:  # an index file
            if self.meta_rows is None or row >= len(self.meta_rows):
                return [{"id": row}]
            return self.meta_rows[row]
        return _row_entries(self.hl[signal], row)


MATCH_FIELDS = ("query", "signal", "distance", "quality", "weak", "id", "source", "label",
                "row", "query_match_percent", "compared_match_percent")


class MatchWriter:
    def __init__(self, out, fmt: str):
        self.out, self.fmt = out, fmt
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(MATCH_FIELDS)
        elif fmt == "table":
            out.write(f"{'SIGNAL':<6}  {'DIST':>5}  {'QUAL':>4}  {'ID':>8}  "
                      f"{'LABEL':<24}  {'SOURCE':<16}  QUERY\n")

    def write(self, rec: dict) -> None:
        if self.fmt == "jsonl":
            self.out.write(json.dumps(rec) + "\n")
        elif self.fmt == "csv":
            self._csv.writerow(["" if rec.get(k) is None else rec[k] for k in MATCH_FIELDS])
        else:
            dist = rec.get("distance")
            if dist is None:
                dist = f"{rec['query_match_percent']:.0f}%"
            qual = rec.get("quality")
            qual = "" if qual is None else f"{qual}{'!' if rec.get('weak') else ''}"
            self.out.write(f"{rec['signal']:<6}  {dist!s:>5}  {qual:>4}  {rec['id']!s:>8}  "
                           f"{rec.get('label') or '':<24}  {rec.get('source') or '':<16}  "
                           f"{rec['query']}\n")


def _listed(entry: dict) -> dict:
    """A listed entry's fields in a match record (its quality is ``listed_quality``;
    ``quality`` is the query's)."""
    out = dict(entry)
    if "quality" in out:
        out["listed_quality"] = out.pop("quality")
    return out


def _literal_query(arg: str):
    """(signal, hex) for a literal hash argument that is not a file, else None."""
    text = arg.strip().lower()
    if os.path.exists(arg) or _HEX_ONLY.fullmatch(text) is None:
        return None
    return {64: "pdq", 32: "md5"}.get(len(text)), text


@cli.command("match")
@click.argument("queries", nargs=-1, required=True, metavar="PATH_OR_HASH...")
@click.option("--against", required=True, type=click.Path(exists=True, dir_okay=False),
              help="a hash list (any format read_list reads) or an index file "
                   "from `tidehash index build`")
@click.option("--from", "from_format", type=click.Choice(_READ_FORMATS), default=None,
              help="format of the --against list (default: told from its content)")
@click.option("--radius", type=click.IntRange(0, 256), default=31, show_default=True,
              help="PDQ match when the Hamming distance is at most this")
@click.option("--dihedral", is_flag=True, help="also search the 8 rotations / mirrors of files")
@click.option("--min-quality", type=click.IntRange(0, 100), default=None,
              help="leave out queries whose PDQ quality is below this "
                   "(below 50 is flagged weak either way)")
@click.option("--video-quality", type=click.IntRange(0, 101), default=50, show_default=True,
              help="video rule: frames of lower quality are dropped")
@click.option("--video-distance", type=click.IntRange(0, 256), default=31, show_default=True,
              help="video rule: a frame matches within this distance")
@click.option("--video-match", type=click.FloatRange(0, 100), default=80.0, show_default=True,
              help="video rule: percent of the query's frames that must match")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="hashing threads")
@click.option("--format", "fmt", type=click.Choice(("jsonl", "csv", "table")), default=None,
              help="default: jsonl when stdout is not a terminal (or with -o), table when it is")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="write here (atomically)")
def match_command(queries, against, from_format, radius, dihedral, min_quality,
                  video_quality, video_distance, video_match, workers, fmt, output):
    """Match files, folders or literal hashes (64 hex: PDQ, and SHA-256 when the list
    has SHA-256; 32 hex: MD5) against a list or an index. Prints every match with the
    query, the distance, and the listed entry's id, source and label; PDQ quality
    below 50 is flagged weak. Videos are matched with the vPDQ rule against the
    list's vPDQ entries; MD5 / SHA-256 of files match exactly when the list has them.
    Exit 0 whether or not anything matched, 1 if some inputs failed."""
    import numpy as np

    from .index import IndexFormatError

    if fmt is None:
        fmt = "table" if output in (None, "-") and _stdout_is_terminal() else "jsonl"
    try:
        target = _Target(against, from_format, video_quality, video_distance)
    except IndexFormatError as exc:
        _err(str(exc))
        return 1
    if target.failed:
        return 1
    literals, paths = [], []
    for q in queries:
        lit = _literal_query(q)
        if lit is not None and lit[0] is not None:
            literals.append(lit)
        else:
            paths.append(q)
    failed = 0

    def pdq_matches(name, hash_bytes, quality, variants=None):
        if quality is not None and min_quality is not None and quality < min_quality:
            return
        weak = quality is not None and quality < 50
        if variants is not None:
            q = np.frombuffer(b"".join(variants), np.uint8).reshape(1, 8, 32)
            lims, rows, dist, which = target.index.search_range(q, radius, dihedral=True)
        else:
            q = np.frombuffer(hash_bytes, np.uint8).reshape(1, 32)
            lims, rows, dist = target.index.search_range(q, radius)
            which = None
        for k in range(int(lims[1])):
            for entry in target.entries("pdq", int(rows[k])):
                rec = {"query": name, "signal": "pdq", "distance": int(dist[k]),
                       "quality": quality, "weak": weak, "row": int(rows[k]),
                       **_listed(entry)}
                if which is not None:
                    rec["variant"] = int(which[k])
                yield rec

    def digest_matches(name, signal, value):
        row = target.digests.get(signal, {}).get(value)
        if row is None:
            return
        for entry in target.entries(signal, row):
            yield {"query": name, "signal": signal, "distance": 0, "row": row,
                   **_listed(entry)}

    with AtomicOutput(output) as out:
        writer = MatchWriter(out, fmt)
        for signal, text in literals:
            found = []
            if signal == "pdq":
                found += list(pdq_matches(text, bytes.fromhex(text), None))
                found += list(digest_matches(text, "sha256", text))
            else:
                found += list(digest_matches(text, "md5", text))
            for rec in found:
                writer.write(rec)
        if paths:
            algorithms = ["pdq"] + [s for s in ("md5", "sha256") if s in target.digests]
            known, sources = expand_inputs(paths)
            progress = Progress(len(known) if known is not None else None, "matching")
            try:
                for rec in hash_files(sources, algorithms=algorithms, workers=workers,
                                      dihedral=dihedral):
                    progress.step()
                    if rec.error is not None:
                        failed += 1
                        _err(f"{rec.path}: {rec.error}")
                        continue
                    for signal in ("md5", "sha256"):
                        value = getattr(rec, signal)
                        if value is not None:
                            for m in digest_matches(rec.path, signal, value):
                                writer.write(m)
                    if rec.pdq is not None:
                        variants = [h.bytes for h in rec.pdq_dihedral] if dihedral else None
                        for m in pdq_matches(rec.path, rec.pdq.bytes, rec.pdq.quality,
                                             variants):
                            writer.write(m)
                    elif rec.vpdq is not None and target.videos is not None:
                        for vm in target.videos.search(rec.vpdq,
                                                       query_match_threshold=video_match):
                            for entry in target.entries("vpdq", vm.video_id):
                                writer.write({
                                    "query": rec.path, "signal": "vpdq", "row": vm.video_id,
                                    "query_match_percent": round(vm.query_match_percent, 2),
                                    "compared_match_percent":
                                        round(vm.compared_match_percent, 2),
                                    **_listed(entry)})
            finally:
                progress.close()
    return 1 if failed else 0


@cli.command("bench", context_settings={"ignore_unknown_options": True,
                                        "allow_extra_args": True,
                                        "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_command(args):
    """Benchmarks on this hardware: tidehash bench search|video [--help]."""
    from .bench.__main__ import main as bench_main

    return bench_main(list(args))


def main(argv=None) -> int:
    """Run the CLI; returns the exit code (does not exit)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args=args, prog_name="tidehash", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        if isinstance(exc, click.UsageError) and exc.ctx is None:
            # errors found while parsing a subcommand's options carry no context
            name = args[0] if args and args[0] in cli.commands else "COMMAND"
            click.echo(f"Usage: tidehash {name} [OPTIONS] ...\n"
                       f"Try 'tidehash {name} --help' for help.\n", err=True)
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        try:
            sys.stderr.write("\ntidehash: interrupted\n")
        except OSError:
            pass
        return 130
    except BrokenPipeError:
        # the reader went away (| head): silence the flush at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 1
    except OSError as exc:  # an output that cannot be written, a list that cannot be read
        name = f"{exc.filename}: " if exc.filename else ""
        _err(f"{name}{exc.strerror or exc}")
        return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
