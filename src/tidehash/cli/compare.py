"""tidehash compare."""

from __future__ import annotations

import os

import click

from ._common import (
    FiniteFloatRange,
    emit,
    err,
    max_pixels_option,
)


def _hash_arg(arg: str):
    """A literal hash argument: ("pdq", PDQHash) for 64 hex digits, ("phash", PHash)
    for 16 (or either tagged, as ``pdq <hex>``); None when ``arg`` is not one."""
    from ..errors import HashFormatError
    from ..hashes import PDQHash, parse_hash
    from ..phash import PHash

    try:
        signal, text = parse_hash(arg)
    except HashFormatError:
        return None
    if signal == "pdq":
        return "pdq", PDQHash.from_hex(text)
    if signal == "phash":
        return "phash", PHash.from_hex(text)
    return None


@click.command("compare")
@click.argument("a")
@click.argument("b")
@click.option("--dihedral", is_flag=True,
              help="two images: the best distance over B's 8 dihedral variants")
@click.option("--seconds-per-hash", type=FiniteFloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="two videos: one frame hashed every S seconds")
@max_pixels_option
@click.option("--format", "fmt", type=click.Choice(("jsonl", "table")), default=None,
              help="default: jsonl when stdout is not a terminal, table when it is")
def compare_command(a, b, dihedral, seconds_per_hash, max_pixels, fmt):
    """Distance between A and B, each a file or a hash (64 hex digits: PDQ; 16: pHash).
    Two files: their PDQ distance; two videos: the vPDQ match percentages. JSON when
    stdout is not a terminal."""
    from ..errors import DecodeError
    from ..files import hash_file
    from ..hashes import hamming
    from ..match import vpdq_match
    from ..pdq import DIHEDRAL_NAMES
    from ..phash import PHash

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
                            seconds_per_hash=seconds_per_hash, max_pixels=max_pixels)
        except DecodeError as exc:
            err(f"{exc.source}: {exc.reason}")
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
        emit(obj, f"vpdq: {obj['query_match_percent']}% of A's frames match B, "
                   f"{obj['compared_match_percent']}% of B's match A"
                   f" ({'match' if obj['match'] else 'no match'})", fmt)
        return 0
    if any(videos):
        err("cannot compare a video with an image or a single hash")
        return 1
    obj = {"a": a, "b": b, "signal": signal}
    text_variant = ""
    if signal == "phash":
        obj["distance"] = int(values[0] - values[1])
    else:
        pdqs = [v.pdq if hasattr(v, "pdq") else v for v in values]
        if dihedral and hasattr(values[1], "pdq_dihedral") and values[1].pdq_dihedral:
            distances = [int(hamming(pdqs[0], v)) for v in values[1].pdq_dihedral]
            best = distances.index(min(distances))  # the first variant at the best distance
            obj["distance"] = distances[best]
            obj["variant"] = DIHEDRAL_NAMES[best]
            text_variant = f" (B's {DIHEDRAL_NAMES[best]} variant)"
        else:
            obj["distance"] = int(hamming(pdqs[0], pdqs[1]))
        for key, h in zip(("quality_a", "quality_b"), pdqs):
            if h.quality is not None:
                obj[key] = h.quality
    emit(obj, f"{signal} distance {obj['distance']}{text_variant}", fmt)
    return 0
