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
  signal: invalid PDQ hash``, ``index not yet ready`` (503), ...), except a query its
  request models (``schemas/matching.py``) refuse (``signal`` missing, ``include_distance``
  not a boolean): 422 with pydantic's error list, flask-openapi3's answer;
* JSON objects with their keys sorted (Flask's ``jsonify``); a repeated query parameter's
  first value counts (werkzeug's ``args.get``)."""

from __future__ import annotations

import re
from email.parser import BytesParser
from email.policy import HTTP

from pydantic import BaseModel, ValidationError

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


class InvalidQuery(Exception):
    """A query HMA's request model refuses: 422, ``body`` pydantic's error list (JSON)."""

    def __init__(self, body: str):
        super().__init__(body)
        self.body = body


class RawLookupQuery(BaseModel):
    """``GET /m/raw_lookup``'s query as HMA's ``RawLookupRequest`` types it."""

    signal: str
    signal_type: str
    banks: str | None = None
    include_distance: bool = False


class LookupQuery(BaseModel):
    """``GET /m/lookup``'s query as HMA's ``LookupRequest`` types it (``url``,
    ``content_type``, ``types``, ``seed`` and ``bypass_coinflip`` are read, not used)."""

    url: str | None = None
    content_type: str | None = None
    types: str | None = None
    signal: str | None = None
    signal_type: str | None = None
    banks: str | None = None
    seed: str | None = None
    bypass_coinflip: bool = False


def first(params, key: str):
    """A query parameter's first value (werkzeug's ``args.get``; Starlette's ``get``
    would give the last), None if absent."""
    values = params.getlist(key)
    return values[0] if values else None


def parse_query(model: type[BaseModel], params):
    """``params`` (Starlette's query) validated as flask-openapi3 validates HMA's: the
    model's fields (first values) then every other key (its first value) in one dict;
    InvalidQuery with pydantic's errors if the model refuses it."""
    data = {}
    for key in model.model_fields:
        value = first(params, key)
        if value is not None:
            data[key] = value
    for key, value in params.multi_items():
        data.setdefault(key, value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidQuery(exc.json()) from None


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
    """A query flag as pydantic reads one (HMA's request models: any case, no space
    around); HMAError for another (the route answers it as HMA: ``parse_query``)."""
    if value is None:
        return False
    v = value.lower()
    if v in ("1", "true", "t", "yes", "y", "on"):
        return True
    if v in ("0", "false", "f", "no", "n", "off"):
        return False
    raise HMAError(422, f"{name}: Input should be a valid boolean")


def is_json(content_type: str | None) -> bool:
    """werkzeug's ``Request.is_json``: ``application/json`` or ``application/*+json``
    (HMA's ``/m/compare`` answers anything else 415: ``NOT_JSON``)."""
    mimetype = (content_type or "").split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json"))


NOT_JSON = ("Did not attempt to load JSON data because the request Content-Type was not "
            "'application/json'.")


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
        if part.get_param("filename", None, header="content-disposition") is None:
            continue  # a form field, whatever its type: werkzeug files only a filename's part
        del part["Content-Transfer-Encoding"]  # werkzeug hashes a part's bytes as sent
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


#: the signal types HMA hashes an upload of each content type with (its default config)
UPLOAD_TYPES = {"photo": "pdq", "video": "video_md5"}


def check_types(field: str, types) -> None:
    """HMA's ``types`` query parameter of an upload (a comma-separated choice among the
    content type's signal types; absent: all of them): HMAError as HMA refuses one."""
    if types is None:
        return
    chosen = [name.strip() for name in types.split(",") if name.strip()]
    for name in chosen:
        if name != UPLOAD_TYPES[field]:
            raise HMAError(400, f"signal type '{name}' doesn't exist or is disabled")
    if not chosen:
        raise HMAError(400, "empty signal type selection")
