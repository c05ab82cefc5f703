"""NCMEC hash-sharing XML (API v2, read only): the ``queryResult`` pages of
``GET /v2/entries``.

The element names are those python-threatexchange's NCMEC client parses
(threatexchange/exchanges/clients/ncmec/hash_api.py: NCMECEntryUpdate.from_xml,
GetEntriesResponse.from_xml) and its test pages (.../ncmec/tests/data.py)::

    <queryResult xmlns="https://hashsharing.ncmec.org/hashsharing/v2">
      <images count="2" maxTimestamp="2017-10-24T15:10:00Z">
        <image>
          <member id="42">Example Member</member>
          <id>image1</id>
          <classification>A1</classification>
          <fingerprints><md5>...</md5><sha1>...</sha1><pdq>...</pdq></fingerprints>
        </image>
        <deletedImage><member id="43">Other</member><id>image4</id></deletedImage>
      </images>
      <videos count="1"> <video>...</video> <deletedVideo>...</deletedVideo> </videos>
      <paging><next>/v2/entries?...</next></paging>
    </queryResult>

An entry is keyed by (member id, entry id), as python-threatexchange keys its fetch
(``f"{member_id}-{id}"``). Pages are applied in order: an entry replaces an earlier
one with its key (an update), and ``deletedImage`` / ``deletedVideo`` removes it,
whichever page or file it came from. Fingerprints: ``pdq`` (64 hex digits, not all
zero) and ``md5`` give entries with the member's name as source, the classification
as label, the entry id as key, and as id the entry id when it is an integer, else the
line of the entry; other types (SHA1, PhotoDNA, NetClean, TMK, ...) are counted in
``HashList.skipped``. A malformed fingerprint or entry is a bad line (the line of its
element); a malformed document stops at the error, keeping the entries before it.

Parsed as a stream with expat (the parser under ElementTree; its C XMLParser does not
expose line numbers or a DOCTYPE hook): memory holds the live entries, never the
document. A DOCTYPE (hence any DTD or entity declaration) is refused.
"""

from __future__ import annotations

from xml.parsers import expat

from .model import HASH_BYTES, ZERO_PDQ, HashRecord, hex_problem

NAME = "ncmec"
ENTRY_TAGS = {"image": False, "video": False, "deletedImage": True, "deletedVideo": True}
FINGERPRINTS = {"pdq": "pdq", "md5": "md5", "sha256": "sha256"}
MAX_TEXT = 4096
READ_BYTES = 1 << 20
_INT64_MAX = 2**63 - 1


class _Refused(Exception):
    pass


def _refuse_doctype(*_args):
    raise _Refused("DOCTYPE refused (a hash list needs no DTD; entities can explode)")


def _refuse_entity(*_args):
    raise _Refused("entity declaration refused")


class _Page:
    """expat handlers for one document; entries go into the shared ``live`` dict."""

    def __init__(self, parser, ctx, live: dict):
        self.p = parser
        self.ctx = ctx
        self.live = live
        self.stack: list[str] = []
        self.entry: dict | None = None
        self.entry_depth = 0
        self.capture = None
        self.capture_depth = 0
        self.text: list[str] = []
        self.text_len = 0

    def start(self, name: str, attrs: dict) -> None:
        local = name.rpartition("}")[2]
        parent = self.stack[-1] if self.stack else None
        self.stack.append(local)
        line = self.p.CurrentLineNumber
        if parent is None and local != "queryResult":
            self.ctx.bad(line, f"root element <{local}> is not an NCMEC queryResult")
        if self.entry is None:
            if local in ENTRY_TAGS and parent in ("images", "videos"):
                self.entry = {"tag": local, "line": line, "member": None, "name": "",
                              "id": None, "classification": None, "fingerprints": []}
                self.entry_depth = len(self.stack)
            return
        if self.capture is not None:
            return
        rel = len(self.stack) - self.entry_depth
        if rel == 1 and local in ("member", "id", "classification"):
            if local == "member":
                self.entry["member"] = attrs.get("id")
            self._capture(local)
        elif rel == 2 and parent == "fingerprints":
            self._capture(("fingerprint", local, line))

    def _capture(self, what) -> None:
        self.capture = what
        self.capture_depth = len(self.stack)
        self.text = []
        self.text_len = 0

    def chars(self, data: str) -> None:
        if self.capture is not None:
            if self.text_len <= MAX_TEXT:
                self.text.append(data)
            self.text_len += len(data)

    def end(self, name: str) -> None:
        depth = len(self.stack)
        self.stack.pop()
        if self.capture is not None and depth == self.capture_depth:
            self._captured()
        if self.entry is not None and depth == self.entry_depth:
            entry, self.entry = self.entry, None
            self._entry_done(entry)

    def _captured(self) -> None:
        what, self.capture = self.capture, None
        text = "".join(self.text).strip()
        if self.text_len > MAX_TEXT:
            text = None
        entry = self.entry
        if what == "member":
            entry["name"] = text or ""
        elif what == "id":
            entry["id"] = text
        elif what == "classification":
            entry["classification"] = text or None
        else:
            entry["fingerprints"].append((what[1], text, what[2]))

    def _entry_done(self, e: dict) -> None:
        ctx = self.ctx
        member = e["member"]
        if member is None or not member.strip().isdigit():
            ctx.bad(e["line"], f"<{e['tag']}> without a numeric <member id>")
            return
        if not e["id"]:
            ctx.bad(e["line"], f"<{e['tag']}> without an <id>")
            return
        key = (int(member), e["id"])
        old = self.live.pop(key, None)
        if ENTRY_TAGS[e["tag"]]:
            if old is not None:
                ctx.builder.removed += 1
            return
        hashes, other = [], []
        for tag, value, line in e["fingerprints"]:
            signal = FINGERPRINTS.get(tag.lower())
            if signal is None:
                other.append(tag.lower())
                continue
            problem = "value longer than 4096 characters" if value is None else \
                hex_problem(value, HASH_BYTES[signal], signal)
            if problem is None and signal == "pdq" and not any(bytes.fromhex(value)):
                problem = ZERO_PDQ
            if problem is not None:
                ctx.bad(line, f"{tag} fingerprint of entry {e['id']}: {problem}", value or "")
                continue
            hashes.append((signal, value.lower()))
        eid = e["id"]
        id_ = int(eid) if eid.isdigit() and int(eid) <= _INT64_MAX else e["line"]
        source = e["name"] or f"member {key[0]}"
        self.live[key] = (hashes, other, id_, e["classification"], source, eid, e["line"])


def read(source, ctx):
    """Parse one page into the entries live so far; nothing is yielded until
    ``finish`` (a later page may delete an entry)."""
    live = ctx.state.setdefault(NAME, {})
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_entity
    page = _Page(parser, ctx, live)
    parser.StartElementHandler = page.start
    parser.EndElementHandler = page.end
    parser.CharacterDataHandler = page.chars
    buf = bytearray(READ_BYTES)
    try:
        with memoryview(buf) as mv:
            while True:
                n = source.readinto(mv)
                if not n:
                    break
                parser.Parse(bytes(mv[:n]), False)
        parser.Parse(b"", True)
    except _Refused as exc:
        ctx.bad(parser.CurrentLineNumber, str(exc))
    except expat.ExpatError as exc:
        ctx.bad(exc.lineno, f"not well-formed XML: {expat.ErrorString(exc.code)}")
    return iter(())


def finish(ctx):
    """The entries live after every page, in the order they were (last) written."""
    for hashes, other, id_, label, source, key, line in ctx.state.pop(NAME, {}).values():
        for name in other:
            ctx.skip(f"ncmec {name}")
        for signal, value in hashes:
            if not ctx.wants(signal):
                ctx.skip(signal)
                continue
            yield HashRecord(signal, value, id_, None, label, source, key, line=line)
