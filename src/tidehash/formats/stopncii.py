"""StopNCII.org FetchHashes pages (JSON, read only).

Field names from python-threatexchange's client
(threatexchange/exchanges/clients/stopncii/api.py: FetchHashesResponse,
StopNCIIHashRecord, StopNCIISignalType, StopNCIICaseStatus) and its tests::

    {"count": 2, "nextPageToken": "W3si...", "nextSetTimestamp": 1625175071,
     "hasMoreRecords": true,
     "hashRecords": [
       {"lastModtimestamp": 1625167804, "signalType": "ImagePDQ",
        "hashValue": "2afc4a5c...daa82", "hashStatus": "Active",
        "caseNumbers": {"27664732-76e1-4a17-8099-455798e67022": "Active"},
        "CSPFeedbacks": [{"source": "Facebook", "feedbackValue": "Blocked", "tags": []}]}]}

A file holds one page, a JSON array of pages, or pages one after another (one a line
as a fetch loop appends them). Records are applied in order, keyed by (signalType,
hashValue): a later record replaces an earlier one ("records represent the current
snapshot", api.py), and a ``Withdrawn`` or ``Deleted`` hashStatus removes the hash, as
does a record all of whose cases are withdrawn or deleted (a person withdrew it).
``Received``, ``Active`` and ``Unknown`` keep it. ``ImagePDQ`` gives PDQ entries,
``VideoMD5`` MD5 ones, one entry per live case with the case number as label (one
unlabelled entry when there is none), source ``StopNCII``, id the record's position
among those read (1, 2, ...); ``VideoTMK``, ``Text``, ``URL`` and ``Unknown`` types are
counted in ``HashList.skipped``. Bad records are reported with the line where their
page starts. Pages are read whole (each is a few hundred records).
"""

from __future__ import annotations

import json

from .model import HASH_BYTES, ZERO_PDQ, HashRecord, hex_problem

NAME = "stopncii"
SOURCE = "StopNCII"
SIGNALS = {"ImagePDQ": "pdq", "VideoMD5": "md5"}
KEEP = frozenset({"Received", "Active", "Unknown"})
REMOVE = frozenset({"Withdrawn", "Deleted"})
MAX_FILE_BYTES = 1 << 30


def _pages(text: str, ctx):
    """(line, page) for each JSON value in the text: a page or a list of pages."""
    decoder = json.JSONDecoder()
    pos = 0
    while True:
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        if pos >= len(text):
            return
        line = text.count("\n", 0, pos) + 1
        try:
            value, pos = decoder.raw_decode(text, pos)
        except (ValueError, RecursionError) as exc:
            ctx.bad(line, f"not JSON ({exc})", text[pos:pos + 80])
            return
        for page in value if isinstance(value, list) else [value]:
            yield line, page


def read(source, ctx):
    live = ctx.state.setdefault(NAME, {"records": {}, "count": 0})
    try:
        text = source.read_all(MAX_FILE_BYTES).decode("utf-8-sig")
    except (ValueError, UnicodeDecodeError) as exc:
        ctx.bad(1, f"not a StopNCII page ({exc})")
        return iter(())
    for line, page in _pages(text, ctx):
        records = page.get("hashRecords") if isinstance(page, dict) else None
        if not isinstance(records, list):
            ctx.bad(line, "not a FetchHashes page (no hashRecords list)", json.dumps(page)[:80])
            continue
        for i, rec in enumerate(records):
            _apply(rec, i, line, live, ctx)
    return iter(())


def _apply(rec, i: int, line: int, live: dict, ctx) -> None:
    where = f"hashRecords[{i}]"
    if not isinstance(rec, dict):
        ctx.bad(line, f"{where} is not an object", repr(rec))
        return
    kind, value, status = rec.get("signalType"), rec.get("hashValue"), rec.get("hashStatus")
    if not (isinstance(kind, str) and isinstance(value, str) and isinstance(status, str)):
        ctx.bad(line, f"{where}: signalType, hashValue and hashStatus must be strings",
                json.dumps(rec)[:80])
        return
    cases = rec.get("caseNumbers") or {}
    if not isinstance(cases, dict) or not all(isinstance(s, str) for s in cases.values()):
        ctx.bad(line, f"{where}: caseNumbers must map case numbers to statuses", value)
        return
    if status not in KEEP and status not in REMOVE:
        ctx.bad(line, f"{where}: unknown hashStatus {status!r}", value)
        return
    key = (kind, value.lower())
    live["count"] += 1
    withdrawn = status in REMOVE or (cases and all(s in REMOVE for s in cases.values()))
    if withdrawn:  # even a malformed value: withdrawing never needs a valid hash
        if live["records"].pop(key, None) is not None:
            ctx.builder.removed += 1
        return
    signal = SIGNALS.get(kind)
    if signal is not None:
        problem = hex_problem(value, HASH_BYTES[signal], signal)
        if problem is None and signal == "pdq" and not any(bytes.fromhex(value)):
            problem = ZERO_PDQ
        if problem is not None:
            ctx.bad(line, f"{where} ({kind}): {problem}", value)
            return
    live["records"].pop(key, None)
    labels = [case for case, s in cases.items() if s not in REMOVE] or [None]
    live["records"][key] = (signal, kind, labels, live["count"], line)


def finish(ctx):
    live = ctx.state.pop(NAME, {"records": {}})
    for (_, value), (signal, kind, labels, id_, line) in live["records"].items():
        if signal is None:
            ctx.skip(f"stopncii {kind}")
            continue
        if not ctx.wants(signal):
            ctx.skip(signal)
            continue
        for label in labels:
            yield HashRecord(signal, value, id_, None, label, SOURCE, line=line)
