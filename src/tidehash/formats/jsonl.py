"""JSON lines: one object a line, as ``tidehash hash`` prints them.

    {"pdq": "f8f8f0ce...9b22", "quality": 100, "id": 7, "label": "case 12", "source": "x"}
    {"path": "photos/a.jpg", "pdq": "f8f8f0ce...9b22", "quality": 100}

Hash fields: ``pdq``, ``md5``, ``sha256``, ``phash`` (hex, either case) and ``vpdq`` (a
list of frame objects ``{"frame", "quality", "pdq", "timestamp"}``, the wire shape
``tidehash hash`` and every tidehash writer use (VPDQFeature.to_json); also read: a list
of ``"frame,quality,hex,timestamp"`` lines, or python-threatexchange's
``"hex,quality,timestamp"``). An object with several hash fields gives one entry per
hash, sharing ``id``, ``label`` (``path`` when there is no label), ``source`` and
``key``; ``quality`` belongs to the PDQ hash. Other fields are ignored; ``id`` defaults
to the line number, ``source`` to the file's name. Blank lines are skipped; there are
no comments. A ``{"path", "error"}`` object (a file ``tidehash hash`` could not hash)
is reported as a bad line. A bad hash field is reported and the object's other hashes
kept. Written one entry a line, types in the order pdq, md5, sha256, phash, vpdq.
"""

from __future__ import annotations

import json

from ..errors import HashFormatError
from ..hashes import VPDQFeature
from ._lines import WRITE_ROWS, hex_strings
from ._stream import ChunkReader
from .model import HASH_BYTES, SIGNAL_TYPES, ZERO_PDQ, HashRecord, hex_problem
from .vpdq import iter_vpdq, vpdq_from_json

NAME = "jsonl"
_INT64_MAX = 2**63 - 1
_DECODER = json.JSONDecoder()


def read(source, ctx):
    reader = ChunkReader(source, ctx.chunk_size, ctx.max_line)
    scan = _DECODER.scan_once  # the C scanner: no per-call wrapper
    for line, raw in reader.lines(ctx.too_long):
        try:
            text = raw.decode("utf-8").strip(" \t\r")
            if not text:
                continue
            obj, end = scan(text, 0)
            if end != len(text):
                raise ValueError(f"extra data at column {end + 1}")
        except StopIteration as exc:
            ctx.bad(line, f"not JSON (no value at column {exc.value + 1})", raw)
            continue
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            ctx.bad(line, f"not JSON ({exc})" if isinstance(exc, ValueError)
                    else "not JSON (nested too deeply)", raw)
            continue
        yield from records_of(obj, line, raw, ctx)


def records_of(obj, line: int, raw, ctx) -> list[HashRecord]:
    """The entries of one object (one per hash field), reporting what is wrong."""
    if type(obj) is not dict:
        ctx.bad(line, "not a JSON object", raw)
        return []
    signals = [s for s in SIGNAL_TYPES if s in obj]
    if ctx.signal is not None:
        signals = [s for s in signals if s == ctx.signal]
    if not signals:
        if "error" in obj:
            ctx.bad(line, f"no hash: {obj.get('path', 'the file')} could not be hashed "
                          f"({obj['error']})", raw)
        else:
            wanted = ctx.signal or ", ".join(SIGNAL_TYPES)
            ctx.bad(line, f"no hash field ({wanted})", raw)
        return []
    id_ = obj.get("id", line)
    if type(id_) is not int or not 0 <= id_ <= _INT64_MAX:
        ctx.bad(line, f"id must be an integer in 0..2**63-1, got {id_!r:.40}", raw)
        return []
    label = obj.get("label", obj.get("path"))
    source = obj.get("source", ctx.name)
    key = obj.get("key")
    for name, value in (("label", label), ("source", source), ("key", key)):
        if value is not None and type(value) is not str:
            ctx.bad(line, f"{name} must be a string, got {type(value).__name__}", raw)
            return []
    out = []
    for signal in signals:
        value = obj[signal]
        if signal == "vpdq":
            features = _features(value, line, raw, ctx)
            if features is not None:
                out.append(HashRecord("vpdq", None, id_, None, label, source, key, features,
                                      line))
            continue
        q = obj.get("quality") if signal == "pdq" else None
        problem = _hash_problem(signal, value)
        if problem is None and q is not None and (type(q) is not int or not 0 <= q <= 100):
            problem = f"quality must be an integer in 0..100, got {q!r:.40}"
        if problem is not None:
            ctx.bad(line, f"{signal}: {problem}", raw)
            continue
        out.append(HashRecord(signal, value.lower(), id_, q, label, source, key, None, line))
    return out


def _hash_problem(signal: str, value) -> str | None:
    if not isinstance(value, str):
        return f"expected a hex string, got {type(value).__name__}"
    problem = hex_problem(value, HASH_BYTES[signal], signal)
    if problem is None and signal == "pdq" and not any(bytes.fromhex(value)):
        problem = ZERO_PDQ
    return problem


def _features(value, line: int, raw, ctx):
    where = f"{ctx.name}:{line} vpdq"
    if isinstance(value, list) and all(type(v) is dict for v in value):
        try:  # the wire shape (VPDQFeature.to_json): what every tidehash writer writes
            return tuple(VPDQFeature.from_json(v, f"{where} frame {i}")
                         for i, v in enumerate(value))
        except HashFormatError as exc:
            ctx.bad(line, f"vpdq: {exc}", raw)
            return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        ctx.bad(line, "vpdq: expected a list of frame objects "
                      '({"frame", "quality", "pdq", "timestamp"}) or of feature strings', raw)
        return None
    try:
        if all(v.count(",") == 3 for v in value):  # "frame,quality,hex,timestamp"
            return tuple(iter_vpdq(value, where))
        return tuple(vpdq_from_json(json.dumps(value)))
    except HashFormatError as exc:
        ctx.bad(line, f"vpdq: {exc}", raw)
        return None


def write(hash_list, out, signal: str | None = None) -> int:
    written = 0
    dumps = json.dumps
    for name in hash_list.signals if signal is None else (signal,):
        group = hash_list[name]
        n = group.n_entries
        for i in range(0, n, WRITE_ROWS):
            j = min(n, i + WRITE_ROWS)
            if group.hashes is not None:
                hexes = hex_strings(group.hashes[group.entry_row[i:j]])
            lines = []
            for k, entry in enumerate(range(i, j)):
                obj: dict = {}
                if group.hashes is None:
                    row = int(group.entry_row[entry])
                    obj["vpdq"] = [f.to_json() for f in group.features[row]]
                else:
                    obj[name] = hexes[k]
                    q = group.quality_of(entry)
                    if q is not None:
                        obj["quality"] = q
                obj["id"] = int(group.ids[entry])
                for field, value in (("label", group.label(entry)),
                                     ("source", group.source(entry)),
                                     ("key", group.key(entry))):
                    if value is not None:
                        obj[field] = value
                lines.append(dumps(obj))
            out.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
            written += j - i
    return written
