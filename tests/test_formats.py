"""tidehash.formats: hash lists read and written, against a slow pure-Python oracle.

* ``oracle_parse`` below is the line grammar of the plain hex, python-threatexchange and
  PDQ CSV formats written as directly as possible (one ``bytes.split`` per line); the C
  parser plus its chunked driver must give exactly its entries and bad lines, on
  random and hostile bytes, at every chunk size, and on a 1M-line file;
* every writable format reads back what it writes (Hypothesis lists with duplicates);
* each kind of bad line is reported with its line number, skipped, and raises in
  strict mode; nothing crashes on garbage;
* NCMEC XML and StopNCII pages: fixtures built from the element / field names that
  python-threatexchange's clients parse (threatexchange/exchanges/clients/ncmec/
  hash_api.py and tests/data.py; clients/stopncii/api.py and tests/test_api.py).
"""

from __future__ import annotations

import io
import json
import os
import re
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tidehash
from tidehash import _native
from tidehash.errors import HashFormatError
from tidehash.formats import (
    BadLineError,
    HashList,
    HashRecord,
    detect_format,
    iter_records,
    read_list,
    write_list,
)
from tidehash.formats.vpdq import vpdq_from_json, vpdq_to_json
from tidehash.hashes import VPDQFeature

HERE = os.path.dirname(__file__)
SAMPLE = os.path.join(HERE, "..", "examples", "sample.jpg")
WIDTH = {"pdq": 32, "md5": 16, "sha256": 32, "phash": 8}
PYTX_TAGS = {b"pdq": "pdq", b"video_md5": "md5", b"md5": "md5", b"video_sha256": "sha256",
             b"sha256": "sha256", b"phash": "phash"}
ROTATIONS = {b"ORIGINAL", b"ROTATE90", b"ROTATE180", b"ROTATE270", b"FLIPX", b"FLIPY",
             b"FLIPPLUS1", b"FLIPMINUS1"}
HEXCHARS = set(b"0123456789abcdefABCDEF")
# the words each kind of bad line's reason contains
KIND_WORDS = {"nonhex": "not hex", "length": "wrong length", "zero": "all-zero",
              "quality": "quality", "syntax": "expected", "tag": "type tag"}


# ----------------------------------------------------------------------------- oracle
def _hex_kind(field: bytes, width: int, zero_bad: bool) -> str | None:
    if any(c not in HEXCHARS for c in field):
        return "nonhex"
    if len(field) != 2 * width:
        return "length"
    if zero_bad and not any(bytes.fromhex(field.decode())):
        return "zero"
    return None


def _quality(field: bytes):
    if field == b"":
        return None
    if field.isdigit() and len(field) <= 3 and int(field) <= 100:
        return int(field)
    return "bad"


def oracle_parse(data: bytes, fmt: str, signal: str = "pdq"):
    """(entries [(line, signal, hex, quality, label)], bad [(line, kind)]) per the
    documented grammar, one line at a time."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 text (Windows "Unicode")
        data = data.decode("utf-16", "replace").encode("utf-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    entries, bad = [], []
    for no, raw in enumerate(lines, 1):
        s = raw.lstrip(b" \t").rstrip(b" \t\r")
        if not s or s.startswith(b"#"):
            continue
        sig, quality, label, field = signal, None, None, s
        if fmt == "pytx":
            parts = re.split(rb"[ \t]+", s, maxsplit=1)
            if len(parts) == 2 and parts[0] in ROTATIONS:
                label = parts[0].decode()
                parts = re.split(rb"[ \t]+", parts[1], maxsplit=1)
            if len(parts) != 2:
                bad.append((no, "syntax"))
                continue
            sig = PYTX_TAGS.get(parts[0].lower())
            if sig is None:
                bad.append((no, "tag"))
                continue
            field = parts[1]
        elif fmt == "pdqcsv":
            if s.startswith(b"hash="):
                head, _, name = s.partition(b",filename=")
                fields = dict(f.partition(b"=")[::2] for f in head.split(b","))
                field = fields.get(b"hash", b"")
                quality = _quality(fields.get(b"quality", b"")) if fields.get(b"quality") \
                    else "bad"
                label = name.decode("utf-8", "surrogateescape") or None
            elif b"," not in s:
                bad.append((no, "syntax"))
                continue
            else:
                field, rest = s.split(b",", 1)
                q, comma, name = rest.partition(b",")
                quality = _quality(q)
                label = name.decode("utf-8", "surrogateescape") if comma and name else None
        kind = _hex_kind(field, WIDTH[sig], sig == "pdq")
        if kind is None and quality == "bad":
            kind = "quality"
        if kind is not None:
            bad.append((no, kind))
            continue
        entries.append((no, sig, field.decode().lower(), quality, label))
    return entries, bad


def actual_parse(data: bytes, fmt: str, signal: str | None = None, **kw):
    errors = []
    entries = [(r.line, r.signal, r.hash, r.quality, r.label)
               for r in iter_records(data, fmt, signal=signal, on_error=errors.append, **kw)]
    return entries, errors


def assert_same(data: bytes, fmt: str, signal: str = "pdq", **kw):
    want_entries, want_bad = oracle_parse(data, fmt, signal)
    got_entries, errors = actual_parse(data, fmt, signal if fmt == "hex" else None, **kw)
    assert got_entries == want_entries
    assert [e.line for e in errors] == [line for line, _ in want_bad]
    for err, (_, kind) in zip(errors, want_bad):
        assert KIND_WORDS[kind] in err.reason, (err, kind)


# ----------------------------------------------------------------------------- data
def rand_hex(rng, width: int = 32) -> str:
    return rng.bytes(width).hex()


def hash_lines(n: int, seed: int = 0, fmt: str = "hex") -> bytes:
    rng = np.random.default_rng(seed)
    hexes = rng.integers(0, 256, (n, 32), dtype=np.uint8).tobytes().hex()
    if fmt == "hex":
        return "".join(hexes[i:i + 64] + "\n" for i in range(0, 64 * n, 64)).encode()
    if fmt == "pytx":
        return "".join("pdq " + hexes[i:i + 64] + "\n" for i in range(0, 64 * n, 64)).encode()
    return "".join(f"{hexes[i:i + 64]},{i % 101},dir/img_{i}.jpg\n"
                   for i in range(0, 64 * n, 64)).encode()


HEX64 = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
HEX64B = "9def0b7dafa86a1c90f2abd78e79ceb25ec3d1a4b3d4bc7a4354baf7717ea038"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _piece(draw, fmt):
    """One line of a list: mostly plausible, sometimes broken, sometimes garbage."""
    h = draw(st.binary(min_size=32, max_size=32)).hex()
    kind = draw(st.sampled_from(
        ["ok", "ok", "ok", "upper", "short", "long", "nonhex", "zero", "blank", "comment",
         "garbage", "pad"]))
    if kind == "upper":
        h = h.upper()
    elif kind == "short":
        h = h[:draw(st.integers(0, 63))]
    elif kind == "long":
        h = h + h[:draw(st.integers(1, 10))]
    elif kind == "nonhex":
        i = draw(st.integers(0, 63))
        h = h[:i] + draw(st.sampled_from("gz -,#xX\x00é")) + h[i + 1:]
    elif kind == "zero":
        h = "0" * 64
    elif kind == "blank":
        return draw(st.sampled_from(["", " ", "\t", "\r", " \t \r"])).encode()
    elif kind == "comment":
        return ("#" + draw(st.text(max_size=20)).replace("\n", "")).encode(
            "utf-8", "surrogatepass")
    elif kind == "garbage":
        return draw(st.binary(max_size=80)).replace(b"\n", b"")
    if fmt == "pytx":
        tag = draw(st.sampled_from(["pdq", "pdq", "PDQ", "pdqx", "video_md5", "md5", "vpdq2",
                                    "ROTATE90 pdq", "phash", ""]))
        if tag in ("video_md5", "md5"):
            h = h[:32]
        elif tag == "phash":
            h = h[:16]
        sep = draw(st.sampled_from([" ", "  ", "\t", " \t "]))
        line = f"{tag}{sep}{h}" if tag else h
    elif fmt == "pdqcsv":
        q = draw(st.sampled_from(["100", "0", "7", "", "101", "-1", "abc", "1000", " 9"]))
        name = draw(st.sampled_from(["", "a.jpg", "dir/x,y.png", "é.jpg", " s p "]))
        form = draw(st.sampled_from(["full", "full", "noname", "nocomma", "details"]))
        if form == "full":
            line = f"{h},{q},{name}"
        elif form == "noname":
            line = f"{h},{q}"
        elif form == "nocomma":
            line = h
        else:
            line = f"hash={h},norm=128,delta=0,quality={q},filename={name}"
    else:
        line = h
    if kind == "pad":
        line = " \t" + line + "\t "
    return line.encode("utf-8")


@st.composite
def list_bytes(draw, fmt):
    n = draw(st.integers(0, 30))
    pieces = [_piece(draw, fmt) for _ in range(n)]
    ends = [draw(st.sampled_from([b"\n", b"\n", b"\r\n"])) for _ in range(n)]
    data = b"".join(p + e for p, e in zip(pieces, ends))
    if n and draw(st.booleans()):
        data = data[:-len(ends[-1])]  # no newline at the end
    if draw(st.integers(0, 9)) == 0:
        data = b"\xef\xbb\xbf" + data
    return data


# ----------------------------------------------------------------------------- oracle tests
@pytest.mark.parametrize("fmt", ["hex", "pytx", "pdqcsv"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_lists_match_oracle_at_any_chunk_size(fmt, data):
    blob = data.draw(list_bytes(fmt))
    chunk = data.draw(st.sampled_from([1, 2, 3, 7, 64, 65, 66, 100, 1 << 16]))
    assert_same(blob, fmt, chunk_size=chunk)


@pytest.mark.parametrize("fmt", ["hex", "pytx", "pdqcsv"])
@settings(max_examples=100, deadline=None)
@given(blob=st.binary(max_size=600), chunk=st.integers(1, 300))
def test_binary_garbage_matches_oracle(fmt, blob, chunk):
    assert_same(blob, fmt, chunk_size=chunk)


@pytest.mark.parametrize("fmt", ["hex", "pytx", "pdqcsv"])
def test_chunk_boundaries_every_split(fmt):
    """Lines cut at every byte: a hash split across chunks, CRLF split between chunks,
    no newline at the end, a BOM, blank and comment lines."""
    h = HEX64
    body = {"hex": [h, h.upper(), "#c", "", h[:-1]],
            "pytx": [f"pdq {h}", f"video_md5 {MD5}", "#c", "", f"pdqx {h}"],
            "pdqcsv": [f"{h},100,a,b.jpg", f"{h},,", "#c", "", f"{h},101,x"]}[fmt]
    blob = b"\xef\xbb\xbf" + "\r\n".join(body + [body[0]]).encode()
    for chunk in range(1, len(blob) + 2):
        assert_same(blob, fmt, chunk_size=chunk)
        assert_same(blob + b"\r\n", fmt, chunk_size=chunk)


@pytest.mark.parametrize("fmt", ["hex", "pytx", "pdqcsv"])
def test_utf16_cut_character_is_a_bad_line(fmt):
    """A UTF-16 input whose last character is cut (an odd last byte) reports the line
    it spoils; codecs' StreamReader used to drop the byte, and the line with it."""
    h = HEX64
    line = {"hex": h, "pytx": f"pdq {h}", "pdqcsv": f"{h},100,a.jpg"}[fmt]
    for bom, codec in ((b"\xfe\xff", "utf-16-be"), (b"\xff\xfe", "utf-16-le")):
        for tail in (b"\x00", (line + "\n").encode(codec) + b"\x41"):
            blob = bom + tail
            for chunk in (1, 2, 3, 64):
                assert_same(blob, fmt, chunk_size=chunk)
            errors = []
            list(iter_records(blob, fmt, signal="pdq" if fmt == "hex" else None,
                              on_error=errors.append))
            assert len(errors) == 1


def test_crlf_split_between_chunks():
    line = (HEX64 + "\r\n").encode()
    # chunk 65 ends each read on the '\r', the '\n' comes with the next read
    got = read_list(line * 3, "hex", chunk_size=65)
    assert len(got.pdq) == 1 and list(got.pdq.ids) == [1, 2, 3] and not got.errors


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=300), final=st.booleans(),
       mode=st.sampled_from(["plain", "pytx", "pdqcsv"]), cap=st.integers(1, 5))
def test_native_parser_resumes_at_line_starts(blob, final, mode, cap):
    """Direct calls: consumed always ends a line, nothing past `end` is read, a stop
    names a line inside the buffer, and output capacity is respected."""
    buf = np.frombuffer(blob, np.uint8)
    hashes = np.zeros((cap, 32), np.uint8)
    lines = np.zeros(cap, np.int64)
    q, ends, labels = np.zeros(cap, np.int16), np.zeros(cap, np.int64), np.zeros(4, np.uint8)
    status, parsed, consumed, nlines, nlabel, s0, s1, code = _native.parse_hex_lines(
        buf, 0, len(buf), final, _native.HEXLINES_MODES[mode], True, 1, hashes, lines,
        q, ends, labels)
    assert 0 <= parsed <= cap and 0 <= consumed <= len(blob) and nlabel <= 4
    assert consumed == 0 or blob[consumed - 1:consumed] == b"\n" or consumed == len(blob)
    assert blob[:consumed].count(b"\n") == nlines or (final and consumed == len(blob))
    if status == 2:
        assert consumed == s0 <= s1 <= len(blob) and 1 <= code <= 6
        assert b"\n" not in blob[s0:s1]
    if status == 0 and not final:
        assert b"\n" not in blob[consumed:]
    assert list(lines[:parsed]) == sorted(set(lines[:parsed].tolist()))


def test_native_parser_rejects_bad_arguments():
    buf = np.zeros(10, np.uint8)
    h, ln = np.zeros((2, 32), np.uint8), np.zeros(2, np.int64)
    with pytest.raises(ValueError):
        _native.parse_hex_lines(buf, 5, 3, True, 0, True, 1, h, ln)
    with pytest.raises(ValueError):
        _native.parse_hex_lines(buf, 0, 11, True, 0, True, 1, h, ln)
    with pytest.raises(ValueError):
        _native.parse_hex_lines(buf, 0, 10, True, 0, True, 1, np.zeros((0, 32), np.uint8), ln)
    with pytest.raises(ValueError):  # CSV without its label buffers
        _native.parse_hex_lines(buf, 0, 10, True, 2, True, 1, h, ln)
    with pytest.raises(ValueError):  # pytx / CSV are PDQ only
        _native.parse_hex_lines(buf, 0, 10, True, 1, True, 1, np.zeros((2, 16), np.uint8), ln)


def test_hex_table_every_byte():
    """Every byte value in every position of a hash: hex digits decode, others refuse."""
    base = bytearray(b"0" * 63 + b"1")
    for c in range(256):
        if c == ord("\n"):
            continue
        line = bytes(base[:10]) + bytes([c]) + bytes(base[11:])
        entries, bad = actual_parse(line, "hex")
        ok = chr(c) in "0123456789abcdefABCDEF"
        if ok:
            assert entries[0][2] == line.decode().lower()
        elif c in (ord(" "), ord("\t")):
            assert bad and "not hex" in bad[0].reason
        else:
            assert not entries and len(bad) == 1


# ----------------------------------------------------------------------------- 1M lines
def _mixed_lines(n: int, seed: int):
    """n hex lines with every kind of oddity sprinkled in, and some duplicates."""
    rng = np.random.default_rng(seed)
    hexes = rng.integers(0, 256, (n, 32), dtype=np.uint8).tobytes().hex()
    lines = [hexes[i:i + 64] for i in range(0, 64 * n, 64)]
    for i in range(0, n, 997):
        lines[i] = lines[i].upper()
    for i in range(5, n, 4999):
        lines[i] = lines[i - 5]  # duplicate
    odd = ["", "# comment", "0" * 64, "abc", lines[0] + "0", "xyz" + lines[0][3:],
           "  " + lines[1] + " \t", "pdq " + lines[2]]
    for j, i in enumerate(range(13, n, 1009)):
        lines[i] = odd[j % len(odd)]
    eols = np.where(rng.random(n) < 0.1, "\r\n", "\n")
    return "".join(a + b for a, b in zip(lines, eols)).encode()


def test_million_lines_equal_oracle(tmp_path):
    blob = _mixed_lines(1_000_000, 7)
    path = tmp_path / "list.txt"
    path.write_bytes(blob)
    want, want_bad = oracle_parse(blob, "hex")
    errors = []
    hl = read_list(path, on_error=errors.append, chunk_size=1 << 20)
    group = hl.pdq
    got_hashes = group.hashes[group.entry_row]
    want_hashes = np.frombuffer(bytes.fromhex("".join(e[2] for e in want)), np.uint8)
    assert np.array_equal(got_hashes.reshape(-1), want_hashes)
    assert group.ids.tolist() == [e[0] for e in want]
    assert [e.line for e in errors] == [b[0] for b in want_bad]
    assert hl.error_count == len(want_bad) and len(group) < group.n_entries
    # the default chunk size and iter_records agree
    again = read_list(path, "hex")
    assert np.array_equal(again.pdq.hashes, group.hashes)


@pytest.mark.parametrize("fmt", ["pytx", "pdqcsv"])
def test_large_tagged_and_csv_lists_equal_oracle(tmp_path, fmt):
    blob = hash_lines(200_000, 3, fmt)
    blob = blob.replace(b"\n", b"\r\n", 1000)
    path = tmp_path / "list"
    path.write_bytes(blob)
    want, _ = oracle_parse(blob, fmt)
    hl = read_list(path, chunk_size=1 << 16)
    assert hl.format == fmt and not hl.errors
    got = [(r.hash, r.quality, r.label) for r in hl.pdq.records()]
    assert got == [(e[2], e[3], e[4]) for e in want]


# ----------------------------------------------------------------------------- bad lines
BAD_CASES = [
    # (format, bad line, kind, signal)
    ("hex", HEX64[:-1], "length", None),
    ("hex", HEX64 + "a", "length", None),
    ("hex", HEX64[:-1] + "g", "nonhex", None),
    ("hex", "0" * 64, "zero", None),
    ("hex", MD5, "length", "pdq"),
    ("pytx", f"pdqx {HEX64}", "tag", None),
    ("pytx", f"video_md5 {MD5}", "tag", "pdq"),
    ("pytx", f"pdq {HEX64[:-2]}", "length", None),
    ("pytx", "pdq " + "0" * 64, "zero", None),
    ("pytx", HEX64, "syntax", None),
    ("pdqcsv", f"{HEX64},101,a.jpg", "quality", None),
    ("pdqcsv", f"{HEX64},-1,a.jpg", "quality", None),
    ("pdqcsv", f"{HEX64},x", "quality", None),
    ("pdqcsv", HEX64, "syntax", None),
    ("pdqcsv", f"{HEX64[1:]},90,a.jpg", "length", None),
    ("pdqcsv", "0" * 64 + ",100,black.png", "zero", None),
    ("jsonl", '{"pdq": "' + HEX64[:-1] + '"}', "length", None),
    ("jsonl", '{"pdq": "' + "0" * 64 + '"}', "zero", None),
    ("jsonl", '{"pdq": "' + HEX64 + '", "quality": 101}', "quality", None),
    ("jsonl", '{"md5": "' + MD5 + '"}', "no hash", "pdq"),
    ("jsonl", '{"pdq": ', "not JSON", None),
    ("jsonl", '{"path": "x.jpg", "error": "not an image"}', "could not be hashed", None),
    ("vpdq", f"3,101,{HEX64},0.100", "quality", None),
    ("vpdq", f"3,100,{HEX64[2:]},0.100", "not a 256-bit hash", None),
]
GOOD = {"hex": HEX64B, "pytx": f"pdq {HEX64B}", "pdqcsv": f"{HEX64B},100,ok.jpg",
        "jsonl": '{"pdq": "' + HEX64B + '"}', "vpdq": f"0,100,{HEX64B},0.000"}


@pytest.mark.parametrize("fmt,line,kind,signal", BAD_CASES)
def test_bad_line_reported_with_line_number_and_skipped(fmt, line, kind, signal, tmp_path):
    good = GOOD[fmt]
    blob = f"{good}\n{good}\n{line}\n{good}\n".encode()
    path = tmp_path / "list.txt"
    path.write_bytes(blob)
    seen = []
    hl = read_list(path, fmt, signal=signal, on_error=seen.append)
    assert seen == hl.errors and len(seen) == 1
    bad = seen[0]
    assert bad.line == 3 and bad.source == str(path)
    assert KIND_WORDS.get(kind, kind) in bad.reason
    assert str(bad).startswith(f"{path}:3: ")
    kept = hl.vpdq.features[0] if fmt == "vpdq" else hl.pdq.ids
    assert len(kept) == 3  # the other lines were read
    with pytest.raises(BadLineError, match=re.escape(f"{path}:3:")) as exc:
        read_list(path, fmt, signal=signal, strict=True)
    assert isinstance(exc.value, HashFormatError) and exc.value.bad_line == bad


def test_errors_are_counted_past_the_stored_limit():
    blob = b"zz\n" * 12_000
    hl = read_list(blob, "hex")
    assert hl.error_count == 12_000 and len(hl.errors) == 10_000
    assert hl.errors[-1].line == 10_000


def test_huge_single_line_is_reported_not_held(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as f:
        f.write((HEX64 + "\n").encode())
        f.write(b"a" * (24 << 20))  # one 24 MB line
        f.write(("\n" + HEX64B + "\n").encode())
    # a file object: no size hint, so no presized result arrays (address space that
    # tracemalloc would count) -- only buffers
    tracemalloc.start()
    try:
        with open(path, "rb") as f:
            hl = read_list(f, "hex", chunk_size=1 << 16, max_line_bytes=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert hl.pdq.ids.tolist() == [1, 3]
    assert [e.line for e in hl.errors] == [2] and "longer than" in hl.errors[0].reason
    assert peak < 8 << 20, peak  # never the whole line (24 MB)
    assert read_list(path, "hex", max_line_bytes=1 << 20).pdq.ids.tolist() == [1, 3]
    # the same line at the end of the file, without a newline
    path.write_bytes((HEX64 + "\n").encode() + b"b" * (3 << 20))
    hl = read_list(path, "hex", chunk_size=1 << 16, max_line_bytes=1 << 20)
    assert hl.pdq.ids.tolist() == [1] and hl.errors[0].line == 2
    for fmt in ("jsonl", "vpdq", "pytx"):
        errors = read_list(path, fmt, chunk_size=1 << 16, max_line_bytes=1 << 20).errors
        assert [e.line for e in errors if "longer than" in e.reason] == [2]


@pytest.mark.parametrize("content", [b"", b"\n\n", b"   \r\n", b"\xef\xbb\xbf", b"# only\n"])
def test_empty_lists(content, tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(content)
    hl = read_list(path)
    assert len(hl) == 0 and hl.n_entries == 0 and not hl.errors
    for fmt in ("hex", "pytx", "pdqcsv", "jsonl", "vpdq"):
        assert len(read_list(path, fmt)) == 0


@pytest.mark.parametrize("fmt", ["hex", "pytx", "pdqcsv", "jsonl", "vpdq", "vpdq-json",
                                 "ncmec", "stopncii"])
@settings(max_examples=60, deadline=None)
@given(blob=st.binary(max_size=400))
def test_garbage_never_crashes(fmt, blob):
    hl = read_list(blob, fmt)
    assert isinstance(hl, HashList)
    try:
        read_list(blob, fmt, strict=True)
    except BadLineError:
        pass
    try:
        read_list(blob)
    except HashFormatError:
        pass


def test_unknown_content_needs_a_format():
    with pytest.raises(HashFormatError, match="pass format="):
        read_list(b"\x00\x01\x02 hello world\n" * 3)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_lists_are_read(encoding, tmp_path):
    text = "\ufeff" if encoding != "utf-16" else ""
    text += f"{HEX64}\r\nzz\r\n{HEX64B},90,é.jpg\r\n"
    path = tmp_path / "notepad.txt"
    path.write_bytes(text.encode(encoding))
    hl = read_list(path, "pdqcsv")
    assert [(r.hash, r.label) for r in hl.pdq.records()] == [(HEX64B, "é.jpg")]
    assert [e.line for e in hl.errors] == [1, 2]
    assert read_list(path.read_bytes()[:-1], "pdqcsv").pdq.n_entries == 1  # odd byte


# ----------------------------------------------------------------------------- duplicates
def test_duplicates_merged_keeping_every_id():
    blob = "\n".join([HEX64, HEX64B, HEX64.upper(), "#", HEX64B, HEX64]).encode()
    hl = read_list(blob, "hex")
    group = hl.pdq
    assert len(group) == 2 and group.n_entries == 5
    assert group.hex(0) == HEX64 and group.hex(1) == HEX64B
    assert group.ids_of(0).tolist() == [1, 3, 6] and group.ids_of(1).tolist() == [2, 5]
    assert group.entry_row.tolist() == [0, 1, 0, 1, 0]


def test_duplicates_across_files_keep_ids_sources_labels(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.jsonl"
    a.write_text(f"{HEX64},90,one.jpg\n{HEX64B},80,two.jpg\n")
    b.write_text(json.dumps({"pdq": HEX64, "id": 77, "label": "case 9"}) + "\n")
    hl = read_list([a, b])
    group = hl.pdq
    assert len(group) == 2 and hl.format is None
    recs = list(group.records(0))
    assert [(r.id, r.source, r.label, r.quality) for r in recs] == [
        (1, str(a), "one.jpg", 90), (77, str(b), "case 9", None)]
    merged = HashList.merge(read_list(a), read_list(b))
    assert [(r.id, r.source, r.label) for r in merged.pdq.records(0)] == \
        [(r.id, r.source, r.label) for r in recs]


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.binary(min_size=3, max_size=3), max_size=300),
       width=st.sampled_from([1, 3, 8, 16, 32, 33, 64]))
def test_group_rows_against_numpy(rows, width):
    """Few distinct rows (alphabet of 3-byte seeds) -> many equal rows and collisions."""
    arr = np.array([np.resize(np.frombuffer(r, np.uint8), width) for r in rows],
                   np.uint8).reshape(-1, width)
    n, group, first = _native.group_rows(np.ascontiguousarray(arr))
    assert _native.count_groups(np.ascontiguousarray(arr)) == n
    if len(arr):
        _, idx, inv = np.unique(arr, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(idx)  # unique rows by first occurrence
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        assert n == len(idx)
        assert np.array_equal(group, rank[inv.reshape(-1)])
        assert np.array_equal(first, np.sort(idx))
    offsets, order = _native.group_order(group, n)
    assert np.array_equal(order, np.argsort(group, kind="stable"))
    assert np.array_equal(np.diff(offsets), np.bincount(group, minlength=n))
    if n:
        with pytest.raises(ValueError):  # a group number out of range
            _native.group_order(group, n - 1)


# ----------------------------------------------------------------------------- round trips
hash_hex = {s: st.binary(min_size=w, max_size=w).filter(any).map(bytes.hex)
            for s, w in WIDTH.items()}
labels = st.one_of(st.none(), st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12).map(lambda t: t.rstrip(" \t") or None))
features = st.lists(
    st.builds(lambda n, q, h, t: VPDQFeature(n, q, h, t / 1000), st.integers(0, 10**6),
              st.integers(0, 100), st.binary(min_size=32, max_size=32).map(bytes.hex),
              st.integers(0, 10**7)),
    min_size=1, max_size=6).map(tuple)


@st.composite
def record_lists(draw, signals=("pdq",), meta=True, videos=False):
    """Records drawn from a small pool of hashes, so duplicates are common."""
    pool = {s: draw(st.lists(hash_hex[s], min_size=1, max_size=5)) for s in signals}
    out = []
    for _ in range(draw(st.integers(0, 25))):
        signal = draw(st.sampled_from(signals + (("vpdq",) if videos else ())))
        kw = {}
        if meta:
            kw = dict(id=draw(st.integers(0, 2**63 - 1)), label=draw(labels),
                      source=draw(st.sampled_from(["a.txt", "NCMEC member 4", "é"])),
                      key=draw(st.one_of(st.none(), st.text(max_size=6))) or None)
        if signal == "vpdq":
            out.append(HashRecord("vpdq", None, features=draw(features), **kw))
            continue
        quality = draw(st.one_of(st.none(), st.integers(0, 100))) if signal == "pdq" else None
        out.append(HashRecord(signal, draw(st.sampled_from(pool[signal])), quality=quality,
                              **kw))
    return out


def _roundtrip(hl: HashList, fmt: str, how: str, tmp_path, **kw) -> HashList:
    if how == "path":
        path = tmp_path / f"out.{fmt}"
        write_list(hl, path, fmt, **kw)
        return read_list(path, fmt if fmt != "hex" else None)
    if how == "text":
        buf = io.StringIO()
        write_list(hl, buf, fmt, **kw)
        return read_list(io.StringIO(buf.getvalue()))
    buf = io.BytesIO()
    write_list(hl, buf, fmt, **kw)
    return read_list(buf.getvalue(), fmt)


HOWS = ["bytes", "text", "path"]


@pytest.mark.parametrize("how", HOWS)
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(recs=record_lists(meta=False))
def test_roundtrip_hex(recs, how, tmp_path):
    hl = HashList.from_records(recs)
    back = _roundtrip(hl, "hex", how, tmp_path)
    assert np.array_equal(back.pdq.hashes, hl.pdq.hashes)


@pytest.mark.parametrize("how", HOWS)
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(recs=record_lists(signals=("pdq", "md5", "sha256", "phash"), meta=False, videos=True))
def test_roundtrip_pytx(recs, how, tmp_path):
    hl = HashList.from_records(recs)
    back = _roundtrip(hl, "pytx", how, tmp_path)
    assert back.signals == hl.signals
    for s in ("pdq", "md5", "sha256", "phash"):
        assert np.array_equal(back[s].hashes, hl[s].hashes)
    # pytx's vPDQ JSON has no frame numbers and 3-digit timestamps: compare through it
    # (videos that differ only in those become one)
    want = []
    for feats in hl.vpdq.features:
        if (seen := vpdq_from_json(vpdq_to_json(feats))) not in want:
            want.append(seen)
    assert back.vpdq.features == want


@pytest.mark.parametrize("how", HOWS)
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(recs=record_lists())
def test_roundtrip_pdqcsv(recs, how, tmp_path):
    hl = HashList.from_records(recs)
    back = _roundtrip(hl, "pdqcsv", how, tmp_path)
    assert [(r.hash, r.quality, r.label) for r in back.pdq.records()] == \
        [(r.hash, r.quality, r.label) for r in hl.pdq.records()]
    assert back.pdq.ids.tolist() == list(range(1, hl.pdq.n_entries + 1))  # line numbers


@pytest.mark.parametrize("how", HOWS)
@settings(max_examples=40, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(recs=record_lists(signals=("pdq", "md5", "sha256", "phash"), videos=True))
def test_roundtrip_jsonl_keeps_everything(recs, how, tmp_path):
    hl = HashList.from_records(recs)
    back = _roundtrip(hl, "jsonl", how, tmp_path)
    assert list(back.records()) == list(hl.records())
    for s in hl.signals:
        assert back[s].n_entries == hl[s].n_entries and len(back[s]) == len(hl[s])


@pytest.mark.parametrize("fmt", ["vpdq", "vpdq-json"])
@pytest.mark.parametrize("how", HOWS)
@settings(max_examples=30, deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(feats=features)
def test_roundtrip_vpdq(feats, fmt, how, tmp_path):
    hl = HashList.from_records([HashRecord("vpdq", None, features=feats)])
    back = _roundtrip(hl, fmt, how, tmp_path)
    want = list(feats) if fmt == "vpdq" else vpdq_from_json(vpdq_to_json(feats))
    assert back.vpdq.features == [want]


def test_write_refuses_what_a_format_cannot_hold(tmp_path):
    both = HashList.from_records([HashRecord("pdq", HEX64), HashRecord("md5", MD5)])
    with pytest.raises(ValueError, match="pass signal= \\(one of pdq, md5, sha256, phash\\)"):
        write_list(both, io.BytesIO(), "hex")
    out = io.BytesIO()
    assert write_list(both, out, "hex", signal="md5") == 1 and out.getvalue() == \
        (MD5 + "\n").encode()
    with pytest.raises(ValueError):
        write_list(both, io.BytesIO(), "pdqcsv")
    with pytest.raises(ValueError):
        write_list(both, io.BytesIO(), "vpdq")
    with pytest.raises(HashFormatError):
        write_list([HashRecord("pdq", "0" * 64)], io.BytesIO(), "hex")
    with pytest.raises(ValueError):
        write_list([HashRecord("pdq", HEX64)], io.BytesIO(), "ncmec")
    # a failed write to a path leaves no file behind
    target = tmp_path / "out.csv"
    with pytest.raises(ValueError):
        write_list(both, target, "pdqcsv")
    assert not target.exists() and not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- formats
def test_detect_format():
    feats = [VPDQFeature(0, 100, HEX64, 0.0)]
    cases = {
        "hex": HEX64 + "\n", "pytx": f"ROTATE90 pdq {HEX64}\n",
        "pdqcsv": f"{HEX64},100,a.jpg\n", "jsonl": json.dumps({"pdq": HEX64}) + "\n",
        "vpdq": feats[0].to_line() + "\n", "vpdq-json": vpdq_to_json(feats),
        "ncmec": "<?xml version='1.0'?><queryResult/>",
        "stopncii": json.dumps({"count": 0, "hashRecords": []}),
    }
    for fmt, text in cases.items():
        assert detect_format(text.encode()) == fmt
        assert detect_format(b"\xef\xbb\xbf\n  " + text.encode()) == fmt
        if fmt in ("hex", "pytx", "pdqcsv", "vpdq"):
            assert detect_format(b"# a comment\n\n" + text.encode()) == fmt
    assert detect_format(b"") is None
    assert detect_format(b"zz\n" + (MD5 + "\n").encode()) == "hex"
    assert read_list((MD5 + "\n").encode()).signals == ("md5",)
    assert read_list(("ab" * 8 + "\n").encode()).signals == ("phash",)
    assert read_list((HEX64 + "\n").encode(), signal="sha256").signals == ("sha256",)


def test_pytx_lines():
    blob = "\n".join([
        f"pdq {HEX64}", f"video_md5 {MD5}", f"video_sha256 {HEX64B}", f"phash {'ab' * 8}",
        f"ROTATE90 pdq {HEX64B}", f"PDQ\t{HEX64B.upper()}",
        "vpdq " + vpdq_to_json([VPDQFeature(0, 90, HEX64, 0.0)]),
    ]).encode()
    hl = read_list(blob)
    assert hl.format == "pytx" and not hl.errors
    assert hl.signals == ("pdq", "md5", "sha256", "phash", "vpdq")
    assert hl.pdq.label(1) == "ROTATE90" and hl.pdq.ids_of(1).tolist() == [5, 6]
    only = read_list(blob, signal="md5")
    assert only.signals == ("md5",) and only.error_count == 6


def test_pdqcsv_details_form_and_filenames_with_commas():
    blob = (f"{HEX64},100,photos/a,b c.jpg\n"
            f"hash={HEX64B},norm=128,delta=0,quality=77,filename=x,y.png\n").encode()
    recs = list(read_list(blob).pdq.records())
    assert [(r.hash, r.quality, r.label) for r in recs] == [
        (HEX64, 100, "photos/a,b c.jpg"), (HEX64B, 77, "x,y.png")]


def test_reads_tidehash_hash_output(tmp_path):
    rec = tidehash.hash_file(SAMPLE)
    path = tmp_path / "hashes.jsonl"
    path.write_text(json.dumps(rec.to_dict()) + "\n" +
                    json.dumps({"path": "broken.jpg", "error": "not an image"}) + "\n")
    hl = read_list(path)
    assert hl.format == "jsonl" and hl.pdq.hex(0) == rec.pdq.hex
    (entry,) = hl.pdq.records()
    assert (entry.label, entry.quality, entry.id, entry.source) == (
        SAMPLE, rec.pdq.quality, 1, str(path))
    assert hl.errors[0].line == 2 and "broken.jpg" in hl.errors[0].reason


def test_match_output_keeps_entry_metadata():
    """Index rows are the list's rows; every hit leads back to its entries."""
    blob = "\n".join(json.dumps(d) for d in [
        {"pdq": HEX64, "id": 11, "label": "case A", "source": "ncmec"},
        {"pdq": HEX64B, "id": 12, "label": "case B", "source": "stopncii"},
        {"pdq": HEX64, "id": 13, "label": "case C", "source": "stopncii"},
    ]).encode()
    hl = read_list(blob)
    index = tidehash.Index()
    index.add(hl.pdq.hashes, np.arange(len(hl.pdq)))
    lims, rows, _ = index.search_range(hl.pdq.hashes[:1], 0)
    hits = [r for row in rows for r in hl.pdq.records(int(row))]
    assert [(r.id, r.label, r.source) for r in hits] == [
        (11, "case A", "ncmec"), (13, "case C", "stopncii")]


def test_iter_records_streams(tmp_path):
    """The first record arrives after one chunk, not after the whole file."""
    class Counting(io.BytesIO):
        read_bytes = 0

        def readinto(self, b):
            n = super().readinto(b)
            Counting.read_bytes += n
            return n

        def read(self, n=-1):
            data = super().read(n)
            Counting.read_bytes += len(data)
            return data

    blob = hash_lines(50_000)  # 3.25 MB
    it = iter_records(Counting(blob), "hex", chunk_size=1 << 12)
    first = next(it)
    assert first.line == 1 and Counting.read_bytes < 128 << 10
    assert sum(1 for _ in it) == 49_999


def test_columns_are_arrays_not_objects():
    hl = read_list(hash_lines(1000, 1, "pdqcsv"))
    g = hl.pdq
    assert g.hashes.dtype == np.uint8 and g.hashes.shape == (1000, 32)
    assert g.ids.dtype == np.int64 and g.quality.dtype == np.int16
    assert g.source_codes.dtype == np.int32 and g.labels.data.dtype == np.uint8
    assert g.offsets is None and len(hl.sources) == 1
    assert g.label(999) == "dir/img_63936.jpg"


# ----------------------------------------------------------------------------- NCMEC
NCMEC_NS = "https://hashsharing.ncmec.org/hashsharing/v2"
PDQ_A, PDQ_B, PDQ_C = HEX64, HEX64B, "ab" * 32


def ncmec_page(*entries: str, videos: str = "") -> bytes:
    """A GET /v2/entries page as python-threatexchange's tests/data.py shapes it."""
    return f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<queryResult xmlns="{NCMEC_NS}">
    <images count="{len(entries)}" maxTimestamp="2017-10-24T15:10:00Z">
{''.join(entries)}    </images>
    <videos count="1" maxTimestamp="2017-10-24T15:20:00Z">{videos}</videos>
    <paging><next>/v2/entries?from=2017&amp;start=2001&amp;size=1000&amp;max=3000</next></paging>
</queryResult>
""".encode()


def ncmec_image(eid, member=42, classification="A1", pdq=None, md5=None, deleted=False,
                name="Example Member"):
    if deleted:
        return (f"        <deletedImage>\n            <member id=\"{member}\">{name}</member>\n"
                f"            <id>{eid}</id>\n"
                f"            <timestamp>2017-10-24T15:10:00Z</timestamp>\n"
                f"        </deletedImage>\n")
    fps = "".join(f"<{t}>{v}</{t}>" for t, v in (("md5", md5), ("sha1", "a1" * 20),
                                                   ("pdq", pdq), ("pdna", "a1" * 40)) if v)
    return (f"        <image>\n            <member id=\"{member}\">{name}</member>\n"
            f"            <timestamp>2017-10-24T15:00:00Z</timestamp>\n"
            f"            <id>{eid}</id>\n"
            f"            <classification>{classification}</classification>\n"
            f"            <fingerprints>{fps}</fingerprints>\n"
            f"            <feedback><affirmativeFeedback type=\"Md5\"><members>"
            f"<member id=\"7\">Someone Else</member></members></affirmativeFeedback>"
            f"</feedback>\n        </image>\n")


def test_ncmec_entries_and_tombstones_across_pages(tmp_path):
    video = ("<video><member id=\"42\">Example Member</member><id>video1</id>"
             f"<fingerprints><md5>{'b1' * 16}</md5><tmk_pdqf>x</tmk_pdqf></fingerprints>"
             "</video>")
    page1 = ncmec_page(ncmec_image(101, pdq=PDQ_A, md5="a1" * 16),
                       ncmec_image(102, pdq=PDQ_B, classification="B1"),
                       ncmec_image("img-x", member=43, pdq=PDQ_C, name="Other"),
                       ncmec_image(104, pdq=PDQ_C, deleted=True),  # never seen: nothing
                       videos=video)
    page2 = ncmec_page(ncmec_image(102, deleted=True),            # deletes page 1's 102
                       ncmec_image(101, pdq=PDQ_A, classification="A2"),  # update
                       ncmec_image(102, member=43, pdq=PDQ_B, name="Other"))  # other member
    p1, p2 = tmp_path / "p1.xml", tmp_path / "p2.xml"
    p1.write_bytes(page1)
    p2.write_bytes(page2)
    assert detect_format(p1) == "ncmec"
    hl = read_list([p1, p2])
    assert not hl.errors and hl.removed == 1
    lines = page1.decode().split("\n")
    img_x_line = lines.index("            <id>img-x</id>") - 2  # its <image> line, 1-based
    assert lines[img_x_line - 1].strip() == "<image>"
    pdq = [(r.hash, r.id, r.label, r.source, r.key) for r in hl.pdq.records()]
    assert pdq == [
        (PDQ_C, img_x_line, "A1", "Other", "img-x"),      # id not an integer: its line
        (PDQ_A, 101, "A2", "Example Member", "101"),      # updated on page 2
        (PDQ_B, 102, "A1", "Other", "102"),               # member 43's entry 102
    ]
    assert [r.hash for r in hl.md5.records()] == ["b1" * 16]  # 101's update has no md5
    assert hl.skipped == {"ncmec sha1": 3, "ncmec pdna": 3, "ncmec tmk_pdqf": 1}
    # reading page 1 alone keeps 102; page 2 then deleting it works across calls too
    assert {r.id for r in read_list(p1).pdq.records()} >= {101, 102}
    # a deletion in a later file removes the entry; re-adding brings it back
    page3 = ncmec_page(ncmec_image(101, deleted=True))
    page4 = ncmec_page(ncmec_image(101, pdq=PDQ_A, classification="A3"))
    hl = read_list([page1, page2, page3])
    assert PDQ_A not in [r.hash for r in hl.pdq.records()] and hl.removed == 2
    hl = read_list([page1, page2, page3, page4])
    assert [r.label for r in hl.pdq.records() if r.hash == PDQ_A] == ["A3"]


def test_ncmec_bad_fingerprints_and_entries_reported_with_lines():
    page = ncmec_page(ncmec_image(1, pdq="0" * 64), ncmec_image(2, pdq=PDQ_A[:-1]),
                      ncmec_image(3, pdq=PDQ_B, md5="zz"),
                      "<image><id>4</id><fingerprints><pdq>" + PDQ_C + "</pdq></fingerprints>"
                      "</image>\n")
    hl = read_list(page)
    assert [r.id for r in hl.pdq.records()] == [3] and len(hl.md5) == 0
    reasons = [(e.line, e.reason) for e in hl.errors]
    assert len(reasons) == 4
    lines = page.decode().split("\n")
    for line, reason in reasons:
        assert line >= 1
        if "fingerprint" in reason:
            assert "<fingerprints>" in lines[line - 1]
    assert "all-zero" in reasons[0][1] and "wrong length" in reasons[1][1]
    assert "not hex" in reasons[2][1] and "member id" in reasons[3][1]
    with pytest.raises(BadLineError, match=r"<bytes>:\d+: pdq fingerprint of entry 1"):
        read_list(page, strict=True)
    assert read_list(page, signal="md5").skipped["pdq"] == 1


def test_ncmec_refuses_dtd_and_reports_broken_xml():
    bomb = (b'<?xml version="1.0"?>\n<!DOCTYPE q [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
            b"<queryResult><images><image><member id=\"1\">&b;</member><id>1</id>"
            b"<fingerprints><pdq>" + PDQ_A.encode() + b"</pdq></fingerprints></image>"
            b"</images></queryResult>")
    hl = read_list(bomb)
    assert len(hl) == 0 and "DOCTYPE refused" in hl.errors[0].reason
    with pytest.raises(BadLineError, match="DOCTYPE"):
        read_list(bomb, strict=True)
    external = b'<!DOCTYPE q SYSTEM "file:///etc/passwd"><queryResult>&x;</queryResult>'
    assert "DOCTYPE" in read_list(external, "ncmec").errors[0].reason
    page = ncmec_page(ncmec_image(1, pdq=PDQ_A), ncmec_image(2, pdq=PDQ_B))
    cut = page[:page.index(b"<id>2</id>")]
    hl = read_list(cut, "ncmec")
    assert [r.id for r in hl.pdq.records()] == [1]  # entries before the break are kept
    assert "not well-formed" in hl.errors[0].reason and hl.errors[0].line > 1


def test_ncmec_namespace_prefix_and_utf16():
    page = ncmec_page(ncmec_image(5, pdq=PDQ_A)).decode()
    prefixed = page.replace("<queryResult xmlns=", "<h:queryResult xmlns:h=") \
        .replace("</queryResult>", "</h:queryResult>")
    assert [r.id for r in read_list(prefixed.encode(), "ncmec").pdq.records()] == [5]
    utf16 = page.replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")
    assert [r.id for r in read_list(utf16).pdq.records()] == [5]


# ----------------------------------------------------------------------------- StopNCII
def stopncii_record(value, status="Active", kind="ImagePDQ", cases=None):
    """A hashRecords item as python-threatexchange's StopNCIIHashRecord reads it."""
    return {"lastModtimestamp": 1625167804, "signalType": kind, "hashValue": value,
            "hashStatus": status, "caseNumbers": cases if cases is not None else {},
            "CSPFeedbacks": [{"source": "Facebook", "feedbackValue": "Blocked",
                              "tags": ["Nude"]}]}


def stopncii_page(*records, more=False):
    return {"count": len(records), "nextPageToken": "W3siY29tcG9zaXRlVG9rZW4i" if more
            else None, "nextSetTimestamp": 1625175071, "hasMoreRecords": more,
            "hashRecords": list(records)}


def test_stopncii_statuses_across_pages(tmp_path):
    page1 = stopncii_page(
        stopncii_record(PDQ_A, "Received", cases={"c1": "Received", "c2": "Active"}),
        stopncii_record(PDQ_B, "Active", cases={"c3": "Active", "c4": "Withdrawn"}),
        stopncii_record(PDQ_C, "Active", cases={"c5": "Active"}),
        stopncii_record(MD5, "Active", kind="VideoMD5"),
        stopncii_record("tmk-bytes", "Active", kind="VideoTMK"),
        stopncii_record(HEX64B[::-1], "Withdrawn"),                # withdrawn on arrival
        stopncii_record(HEX64B[1:] + "f", "Active", cases={"c6": "Withdrawn",
                                                         "c7": "Deleted"}),  # all withdrawn
        more=True)
    page2 = stopncii_page(
        stopncii_record(PDQ_C, "Withdrawn", cases={"c5": "Withdrawn"}),  # removes page 1's
        stopncii_record(PDQ_A.upper(), "Active", cases={"c1": "Active"}),  # replaces
        stopncii_record(MD5, "Deleted", kind="VideoMD5"))
    p1, p2 = tmp_path / "p1.json", tmp_path / "p2.json"
    p1.write_text(json.dumps(page1, indent=2))
    p2.write_text(json.dumps(page2))
    assert detect_format(p1) == "stopncii"
    hl = read_list([p1, p2])
    assert not hl.errors and hl.removed == 2
    assert [(r.hash, r.label, r.source) for r in hl.pdq.records()] == [
        (PDQ_B, "c3", "StopNCII"), (PDQ_A, "c1", "StopNCII")]
    assert len(hl.md5) == 0 and hl.skipped == {"stopncii VideoTMK": 1}
    # one file: an array of pages, or pages one a line, give the same list
    for blob in (json.dumps([page1, page2]), json.dumps(page1) + "\n" + json.dumps(page2)):
        same = read_list(blob.encode())
        assert [r.label for r in same.pdq.records()] == ["c3", "c1"]


def test_stopncii_bad_records():
    page = stopncii_page(stopncii_record(PDQ_A, "Reviewed"), stopncii_record("0" * 64),
                         stopncii_record(PDQ_B[:-2]), stopncii_record(PDQ_C), "junk",
                         {"signalType": "ImagePDQ"})
    blob = (json.dumps(stopncii_page()) + "\n" + json.dumps(page)).encode()
    hl = read_list(blob)
    assert [r.hash for r in hl.pdq.records()] == [PDQ_C]
    assert [e.line for e in hl.errors] == [2] * 5
    assert ["unknown hashStatus", "all-zero", "wrong length", "not an object",
            "must be strings"] == [next(w for w in ("unknown hashStatus", "all-zero",
                                                     "wrong length", "not an object",
                                                     "must be strings") if w in e.reason)
                                   for e in hl.errors]
    assert "not JSON" in read_list(b'{"hashRecords": [', "stopncii").errors[0].reason
    assert "no hashRecords" in read_list(b'{"count": 1}', "stopncii").errors[0].reason


def test_ids_are_line_numbers_where_the_format_has_none():
    for blob in (hash_lines(3), hash_lines(3, fmt="pytx"), hash_lines(3, fmt="pdqcsv")):
        assert read_list(blob).pdq.ids.tolist() == [1, 2, 3]


HOSTILE_NAMES = ("plain.jpg", "a,b.jpg", "a, b ,c", 'say "cheese".jpg', '"quoted"', '"',
                 '""', "line\nbreak.jpg", "cr\rhere", "crlf\r\n", "\nstarts", "ends\n",
                 "  leading", "trailing  ", "\ttab", "back\\slash\\n", "C:\\photos\\a.jpg",
                 "é-unicode-日本.png", "emoji-🙂", ",", ",,", "x,", "\\", '\\"', "a\"\"b",
                 "\udcff-not-utf8")


def test_pdqcsv_round_trips_hostile_file_names():
    """Regression (fixed): `hash --format pdq-csv` quoted file names with commas or line
    breaks CSV-style while the reader took the rest of the line literally (labels came
    back with their quotes, a line break made a bad line), and `convert --to pdqcsv`
    refused line breaks. One rule now (pdqcsv's docstring), written and read."""
    records = [HashRecord("pdq", HEX64, id=i + 1, quality=90, label=name)
               for i, name in enumerate(HOSTILE_NAMES)]
    records.append(HashRecord("pdq", HEX64B, quality=80, label=""))  # empty: no name
    out = io.BytesIO()
    assert write_list(records, out, "pdqcsv") == len(records)
    text = out.getvalue()
    assert text.count(b"\n") == len(records)  # one line per entry, whatever the name
    back = read_list(text, "pdqcsv", strict=True)
    got = [back.pdq.label(e) for e in range(back.pdq.n_entries)]
    assert sorted(got, key=str) == sorted([*HOSTILE_NAMES, None], key=str)
    # names the reference tool writes raw are still written raw
    assert f"{HEX64},90,a,b.jpg\n".encode() in text
    assert f"{HEX64},90,C:\\photos\\a.jpg\n".encode() in text
    assert text.endswith(f"{HEX64B},80\n".encode())


def test_pdqcsv_reads_the_reference_tools_unquoted_lines():
    text = (f"{HEX64},100,photos/a,b.jpg\n{HEX64B},99,it's a \"name\"\n"
            f"{HEX64},7,\"unclosed\n").encode()
    bad = []
    back = read_list(text, "pdqcsv", on_error=bad.append)
    assert [back.pdq.label(e) for e in range(back.pdq.n_entries)] == \
        ["photos/a,b.jpg", 'it\'s a "name"']
    assert len(bad) == 1 and "quote" in bad[0].reason and bad[0].line == 3
