"""What the HMA-compatible routes share with HMA 2.0 (ThreatExchange's
``hasher-matcher-actioner/src/OpenMediaMatch/blueprints/``): its signal type names, its
checks of a signal (python-threatexchange's ``validate_signal_str``), its comparison
answers, its error body ``{"message": STR}`` and multipart uploads (one file, under a
field named after its content type: ``photo`` or ``video``).

HMA's shapes, for the record (pinned by the tests):

* ``GET /m/raw_lookup`` -> ``{"matches": [CONTENT_ID, ...]}``, with
  ``include_distance=true`` ``{"matches": [{"bank_content_id": INT, "distance": STR}]}``
  (``distance``: pytx's ``pretty_str``, the PDQ distance as a string, "-" for an exact
  hash type);
* ``GET /m/lookup`` with ``signal_type`` -> ``{BANK: [{"bank_content_id", "distance"}]}``;
  ``POST /m/lookup`` (a file) -> ``{SIGNAL_TYPE: {BANK: [...]}}``;
* ``POST /h/hash`` -> ``{SIGNAL_TYPE: HASH}`` (a PDQ of quality below 50 is "", as
  pytx's ``PdqSignal.hash_from_bytes`` answers);
* ``POST /m/compare`` ``{"pdq": [H1, H2]}`` -> ``{"pdq": [MATCH, {"distance": D}]}``;
* an error: ``{"message": "..."}`` with a 4xx (``No such SignalType 'x'``, ``invalid
  signal: invalid PDQ hash``, ``index not yet ready`` (503), ...)."""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import HTTP

#: HMA's PDQ match threshold (pytx PDQ_CONFIDENT_MATCH_THRESHOLD)
PDQ_THRESHOLD = 31
#: below this PDQ quality pytx's PdqSignal.hash_from_bytes returns ""
PDQ_HASH_QUALITY = 50
#: signal type -> (the lookup query's field, the exact match's distance string or None)
SIGNAL_TYPES = {"pdq": "pdq", "video_md5": "md5", "md5": "md5", "sha256": "sha256"}
CONTENT_TYPES = ("photo", "video")
_PDQ = re.compile(r"^[0-9a-f]{64}$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class HMAError(Exception):
    """An HMA-style error: ``{"message": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def signal_type(name) -> str:
    if not isinstance(name, str) or name not in SIGNAL_TYPES:
        raise HMAError(400, f"No such SignalType '{name}'")
    return name


def validate_signal(name: str, value) -> str:
    """pytx's validate_signal_str of each type (PDQ: 64 lower-case hex digits exactly;
    MD5: stripped and lower-cased first); HMA answers a bad one 400 ``invalid signal:``."""
    if not isinstance(value, str):
        raise HMAError(400, "invalid signal: not a string")
    if name == "pdq":
        if not _PDQ.match(value) or len(value) != 64:
            raise HMAError(400, "invalid signal: invalid PDQ hash")
        return value
    normalized = value.strip().lower()
    pattern = _MD5 if SIGNAL_TYPES[name] == "md5" else _SHA256
    if not pattern.match(normalized) or normalized != normalized.strip():
        raise HMAError(400, f"invalid signal: {value!r} is not a valid "
                            f"{'MD5' if pattern is _MD5 else 'SHA-256'} hash")
    return normalized


def query_of(name: str, value: str, quality: int | None = None) -> dict:
    """The registry lookup query of a signal (radius: each bank's own)."""
    field = SIGNAL_TYPES[name]
    if field == "pdq":
        q = {"pdq": value, "radius": 63}
        if quality is not None:
            q["quality"] = quality
        return q
    return {field: value}


def distance_str(match: dict) -> str:
    return str(match["distance"]) if "distance" in match else "-"


def banks_param(value) -> set | None:
    return set(value.split(",")) if value else None


def bool_param(value, name: str) -> bool:
    """A query flag as pydantic reads one (HMA's request models)."""
    if value is None:
        return False
    v = value.strip().lower()
    if v in ("1", "true", "t", "yes", "y", "on"):
        return True
    if v in ("0", "false", "f", "no", "n", "off"):
        return False
    raise HMAError(400, f"{name}: invalid boolean parameter - prefer true/false")


def compare(body) -> dict:
    """``POST /m/compare``: each signal type's pair -> [match, {"distance": d}] (PDQ)
    or [match, {}] (an exact type), as HMA answers; 400 for everything HMA refuses."""
    if not isinstance(body, dict):
        raise HMAError(400, "Request input was not a dict")
    out = {}
    for name, pair in body.items():
        if not isinstance(pair, list):
            raise HMAError(400, f"Comparison hashes for {name} was not a list")
        if len(pair) != 2:
            raise HMAError(400, "Comparison hash list length must be exactly 2")
        signal_type(name)
        try:
            left = validate_signal(name, pair[0])
            right = validate_signal(name, pair[1])
        except HMAError as exc:
            raise HMAError(400, f"Invalid {name} hash: {exc.message.split(': ', 1)[-1]}") \
                from None
        if name == "pdq":
            d = bin(int(left, 16) ^ int(right, 16)).count("1")
            out[name] = [d <= PDQ_THRESHOLD, {"distance": d}]
        else:
            out[name] = [left == right, {}]
    return out


def one_upload(content_type: str, body: bytes) -> tuple[str, bytes]:
    """(content type field name, the file's bytes) of a multipart/form-data body with
    exactly one file, under a field ``photo`` or ``video`` (HMA's rule); HMAError
    otherwise. The file's name is never read."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise HMAError(400, "Missing multipart/form-data file upload")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1", "replace") + b"\r\n\r\n" + body)
    if not message.is_multipart():
        raise HMAError(400, "Missing multipart/form-data file upload")
    files = []
    for part in message.iter_parts():
        disposition = part.get("Content-Disposition", "")
        if "filename" not in disposition and part.get_content_type() in ("text/plain",):
            continue  # a plain form field, not a file
        files.append((part.get_param("name", header="content-disposition"),
                      part.get_payload(decode=True) or b""))
    if not files:
        raise HMAError(400, "Missing multipart/form-data file upload")
    if len(files) > 1:
        raise HMAError(400, "Only one file allowed per request")
    field, data = files[0]
    if field not in CONTENT_TYPES:
        raise HMAError(400, f"no such content_type: '{field}'")
    return field, data
