"""tidehash match."""

from __future__ import annotations

import csv
import json
import os

import click

from ..files import hash_files
from ..pdq import DIHEDRAL_NAMES
from ._common import (
    READ_FORMATS,
    AtomicOutput,
    BadLines,
    FiniteFloatRange,
    OutputPath,
    Progress,
    StreamTable,
    err,
    expand_inputs,
    max_pixels_option,
    no_inputs,
    read_lists,
    stdout_is_terminal,
)

# files matched per batch (one PDQ search for all of them); 1 for a stream on stdin,
# so each answer comes as soon as its file is hashed
_BATCH = 256


def _matcher(path: str, fmt, options: dict):
    """(the Matcher over --against (a list file, an index file or a text list), the
    number of its bad lines, reported on stderr); the Matcher is None when the list
    cannot be read (reported)."""
    from ..formats import ListFileError
    from ..formats.detect import binary_kind
    from ..index import IndexFormatError
    from ..match import Matcher

    if fmt in (None, "tidehash") and binary_kind(path) is not None:
        try:
            return Matcher.load(path, **options), 0
        except (ListFileError, IndexFormatError) as exc:
            err(str(exc))
            return None, 1
    report = BadLines()
    hl = read_lists([path], fmt, False, report)
    return (None if hl is None else Matcher(hl, **options)), report.count


TABLE_COLUMNS = (("SIGNAL", 6, "left"), ("DIST", 5, "right"), ("QUAL", 4, "right"),
                 # 19: any int64 id (a registry entry id) fits, so the rows line up
                 ("ID", 19, "right"), ("LABEL", 24, "left"), ("SOURCE", 16, "left"),
                 ("QUERY", 0, "left"))
MATCH_FIELDS = ("query", "signal", "distance", "quality", "weak", "id", "source", "label",
                "row", "query_match_percent", "compared_match_percent")
# with --dihedral: the query's variant that matched (a DIHEDRAL_NAMES name), as a column
VARIANT_COLUMN = ("VARIANT", 8, "left")


class MatchWriter:
    def __init__(self, out, fmt: str, dihedral: bool = False):
        self.out, self.fmt = out, fmt
        self.fields = MATCH_FIELDS + (("variant",) if dihedral else ())
        self.columns = TABLE_COLUMNS[:2] + ((VARIANT_COLUMN,) if dihedral else ()) \
            + TABLE_COLUMNS[2:]
        self.dihedral = dihedral
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(self.fields)
        elif fmt == "table":
            self._table = StreamTable(out, self.columns)

    def no_match(self, query: str) -> None:
        """A query that matched nothing: said, so every query shows it ran (JSON lines:
        ``{"query": ..., "matches": []}``)."""
        if self.fmt == "jsonl":
            self.out.write(json.dumps({"query": query, "matches": []}) + "\n")
        elif self.fmt == "csv":
            self._csv.writerow([query] + [""] * (len(self.fields) - 1))
        else:
            self._table.row("-", "", *([""] if self.dihedral else []), "", "", "no match", "",
                            query)

    def write(self, rec: dict) -> None:
        if self.fmt == "jsonl":
            self.out.write(json.dumps(rec) + "\n")
        elif self.fmt == "csv":
            self._csv.writerow(["" if rec.get(k) is None else rec[k] for k in self.fields])
        else:
            dist = rec.get("distance")
            if dist is None:
                dist = f"{rec['query_match_percent']:.0f}%"
            qual = rec.get("quality")
            qual = "" if qual is None else f"{qual}{'!' if rec.get('weak') else ''}"
            variant = [rec.get("variant") or ""] if self.dihedral else []
            self._table.row(rec["signal"], dist, *variant, qual, rec["id"],
                            rec.get("label") or "", rec.get("source") or "", rec["query"])


def _write_matches(writer: MatchWriter, query: str, matches, quality=None) -> None:
    lines = [line for m in matches for line in _records(query, m, quality)]
    if not lines:
        writer.no_match(query)
    for line in lines:
        writer.write(line)


def _records(query: str, match, quality=None) -> list[dict]:
    """The output records of one Match: one per listed entry behind the hash."""
    base = {"query": query, "signal": match.signal}
    if match.signal == "vpdq":
        base["query_match_percent"] = round(match.query_match_percent, 2)
        base["compared_match_percent"] = round(match.compared_match_percent, 2)
    else:
        base["distance"] = match.distance
    if match.signal == "pdq":
        base["quality"] = quality
        base["weak"] = match.weak
    base["row"] = match.row
    if match.variant is not None:
        base["variant"] = DIHEDRAL_NAMES[match.variant]  # the name compare --dihedral prints
    out = []
    for entry in match.entries:
        rec = dict(base, id=entry.id)
        for key, value in (("source", entry.source), ("label", entry.label),
                           ("listed_quality", entry.quality), ("key", entry.key)):
            if value is not None:
                rec[key] = value
        out.append(rec)
    return out


def _literal_query(arg: str):
    """(hash types to look it up as, hex) for a literal hash argument that is not a
    file, else None. 64 bare hex digits are PDQ, and SHA-256 when the list has it."""
    from ..errors import HashFormatError
    from ..hashes import parse_hash

    if os.path.exists(arg):
        return None
    try:
        signal, text = parse_hash(arg)
    except HashFormatError:
        return None
    if signal == "pdq" and len(arg.split()) == 1:
        return ("pdq", "sha256"), text
    return ((signal,), text) if signal in ("pdq", "md5", "sha256") else None


@click.command("match")
@click.argument("queries", nargs=-1, required=True, metavar="PATH_OR_HASH...")
@click.option("--against", required=True, type=click.Path(exists=True, dir_okay=False),
              help="a hash list (any format read_list reads), a list file from "
                   "`tidehash index build`, or an index file from `Index.save`")
@click.option("--from", "from_format", type=click.Choice(READ_FORMATS), default=None,
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
@click.option("--video-match", type=FiniteFloatRange(0, 100), default=80.0, show_default=True,
              help="video rule: percent of the query's frames that must match")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="hashing threads")
@max_pixels_option
@click.option("--format", "fmt", type=click.Choice(("jsonl", "csv", "table")), default=None,
              help="default: jsonl when stdout is not a terminal (or with -o), table when it is")
@click.option("-o", "--output", type=OutputPath(), default=None,
              help="write here (atomically)")
def match_command(queries, against, from_format, radius, dihedral, min_quality,
                  video_quality, video_distance, video_match, workers, max_pixels, fmt,
                  output):
    """Match files, folders or literal hashes (64 hex: PDQ, and SHA-256 when the list
    has SHA-256; 32 hex: MD5) against a list. Prints every match with the
    query, the distance, and the listed entry's id, source and label; PDQ quality
    below 50 is flagged weak. Videos are matched with the vPDQ rule against the
    list's vPDQ entries; MD5 / SHA-256 of files match exactly when the list has them.
    A query that matches nothing prints a "no match" row (JSON lines: {"query": ...,
    "matches": []}). Exit 0 whether or not anything matched (an empty list is warned
    about), 1 if some inputs failed, the paths named no file, or the list had bad lines
    (reported, skipped)."""
    if fmt is None:
        fmt = "table" if output in (None, "-") and stdout_is_terminal() else "jsonl"
    literals, paths = [], []
    for q in queries:
        lit = _literal_query(q)
        if lit is not None:
            literals.append(lit)
        else:
            paths.append(q)
    known, sources = expand_inputs(paths) if paths else ([], iter(()))
    searches = None if known is None else (len(known) + len(literals)) * (8 if dihedral else 1)
    options = dict(radius=radius, min_quality=min_quality, dihedral=dihedral,
                   video_quality=video_quality, video_distance=video_distance,
                   video_match=video_match, expected_queries=searches)
    matcher, bad_lines = _matcher(against, from_format, options)
    if matcher is None:
        return 1
    if not len(matcher.hash_list):  # valid, so not an error, but nothing can match
        err(f"warning: {against}: the list is empty (no query can match)")
    failed = 0
    progress = Progress(len(known) if paths and known is not None else None, "matching")
    try:
        failed = _run(matcher, literals, paths, sources, known, progress, writer_of=lambda out:
                      MatchWriter(progress.rows(out), fmt, dihedral), output=output,
                      workers=workers, dihedral=dihedral, max_pixels=max_pixels)
    finally:
        progress.close()
    # bad lines of --against were skipped and reported: exit 1, as index build does
    return 1 if failed or bad_lines else 0


def _run(matcher, literals, paths, sources, known, progress, *, writer_of, output, workers,
         dihedral, max_pixels) -> int:
    """Match the literal hashes, then the files; returns how many inputs failed."""
    import numpy as np

    failed = 0
    with AtomicOutput(output) as out:
        writer = writer_of(out)
        found: list[list] = [[] for _ in literals]
        for kind in ("pdq", "sha256", "md5"):
            at = [i for i, (kinds, _) in enumerate(literals) if kind in kinds]
            texts = [literals[i][1] for i in at]
            if not at:
                continue
            if kind == "pdq":
                codes = np.frombuffer(bytes.fromhex("".join(texts)), np.uint8)
                results = matcher.match_pdq_batch(codes.reshape(-1, 32))
            elif len(matcher.hash_list[kind]):
                results = matcher.match_digest_batch(kind, texts)
            else:
                continue
            for i, ms in zip(at, results):
                found[i] += ms
        for (_, text), ms in zip(literals, found):
            _write_matches(writer, text, ms)
        if paths:
            batch = _BATCH if known is not None else 1
            pending = []

            def flush():
                for rec, ms in zip(pending, matcher.match_records(pending)):
                    quality = rec.pdq.quality if rec.pdq is not None else None
                    _write_matches(writer, rec.path, ms, quality)
                pending.clear()

            inputs = 0
            for rec in hash_files(sources, algorithms=matcher.wanted_algorithms,
                                  workers=workers, dihedral=dihedral, max_pixels=max_pixels):
                progress.step()
                inputs += 1
                if rec.error is not None:
                    failed += 1
                    err(f"{rec.path}: {rec.error}")
                    continue
                pending.append(rec)
                if len(pending) >= batch:
                    flush()
            flush()
            if not inputs:  # path arguments that named no file: most likely a mistake
                err(no_inputs(paths))
                failed += 1
    return failed
