"""tidehash match."""

from __future__ import annotations

import csv
import json
import os

import click

from ..files import hash_files
from ._common import (
    _HEX_ONLY,
    _READ_FORMATS,
    AtomicOutput,
    Progress,
    _BadLines,
    _err,
    _read_lists,
    _stdout_is_terminal,
    expand_inputs,
)
from .index import _meta_path, _read_meta, _row_entries


class _Target:
    """What `match` searches: an index file (PDQ, entries from its sidecar) or a
    list read into memory (PDQ index, MD5 / SHA-256 sets, vPDQ video index)."""

    def __init__(self, path: str, fmt, video_quality: int, video_distance: int):
        import numpy as np

        from ..index import _MAGIC, Index
        from ..match import VPDQIndex

        self.digests: dict[str, dict[str, int]] = {}
        self.videos = None
        self.group = None
        self.meta_rows = None
        self.failed = False
        with open(path, "rb") as f:
            magic = f.read(len(_MAGIC))
        if magic == _MAGIC:
            self.index = Index.load(path)
            self.meta_rows = _read_meta(path)
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
            return self.meta_rows.entries(row)
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


@click.command("match")
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

    from ..index import IndexFormatError

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
