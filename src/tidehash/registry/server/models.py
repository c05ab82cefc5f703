"""The request bodies of the HTTP API (README.md, "HTTP API"), as strict pydantic models.

Strict: unknown fields are refused, a string is never read as a number nor a number as
a string, and ``true`` is not 1. Hex is accepted in either case and comes out lower
case. The limits that a deployment sets (items per case, vPDQ frames, lookup queries)
come from its Settings: ``RequestModels(limits)`` builds the models for one set of
limits, so that the OpenAPI document states the limits the server enforces.

``problem_errors(exc)`` turns a ValidationError into the ``errors`` of a 400 problem:
``[{"loc": "items[2].pdq", "msg": "..."}]``, never echoing the input."""

import dataclasses
import functools
import json
import re
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

#: weak: a PDQ quality below this (the query's or the entry's) is flagged, and the
#: vPDQ match rule ignores such frames
QUALITY_WEAK = 50
MAX_RADIUS = 63
DEFAULT_RADIUS = 31
MAX_COMMENT = 500
SCOPES = ("list:read", "lookup", "feedback:write", "submit:partner")
VERDICTS = ("matched", "confirmed", "not_ncii", "disputed")
CASE_STATUSES = ("pending", "active", "withdrawn", "removed")
#: the abuse-control rules that flag an entry for review (``abuse.py``)
REVIEW_RULES = ("negative", "flood", "dispute", "sample")
NEGATIVE_SIGNALS = ("pdq", "md5", "sha256")
_NEGATIVE_DIGITS = {"pdq": 64, "md5": 32, "sha256": 64}


@dataclasses.dataclass(frozen=True)
class Limits:
    """The per-request limits (Settings carries the same names)."""

    max_items: int = 100
    max_frames: int = 20000
    max_lookup_queries: int = 1000
    max_feedback: int = 1000

    @classmethod
    def of(cls, settings: Any) -> "Limits":  # noqa: UP037 (evaluated on 3.9)
        return cls(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(cls)})


def _hex_checker(digits: int):
    pattern = re.compile(f"[0-9a-fA-F]{{{digits}}}")

    def check(value: str) -> str:
        if len(value) != digits:
            raise PydanticCustomError(
                "hex_length", "expected {digits} hexadecimal digits, got {length} characters",
                {"digits": digits, "length": len(value)})
        # not bytes.fromhex: it skips whitespace
        if pattern.fullmatch(value) is None:
            raise PydanticCustomError(
                "hex_digits", "expected {digits} hexadecimal digits (0-9, a-f)",
                {"digits": digits})
        return value.lower()
    return check


def _not_all_zero(value: str) -> str:
    if value.count("0") == len(value):
        raise PydanticCustomError(
            "pdq_all_zero", "an all-zero PDQ hash is what a flat image gives: it matches "
            "nothing it should; leave pdq out and send md5 / sha256")
    return value


# Strict str is implied by the models' config; the length check first keeps a huge
# string from being parsed as hex.
# The pattern is the document's only (the checker's messages are clearer than a pattern
# mismatch); it lets a client generated from the document, schemathesis too, send hex.
def _hex(digits: int):
    return Annotated[str, Field(description=f"{digits} hexadecimal digits", json_schema_extra={
        "pattern": f"^[0-9a-fA-F]{{{digits}}}$"}), AfterValidator(_hex_checker(digits))]


Hex16 = _hex(16)
Hex32 = _hex(32)
Hex64 = _hex(64)
PDQHex = Annotated[Hex64, AfterValidator(_not_all_zero)]
Quality = Annotated[int, Field(ge=0, le=100)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def wire(self) -> dict:
        """The validated body as plain JSON values, absent optional fields left out."""
        return self.model_dump(exclude_none=True)


class PowSolution(_Strict):
    challenge: Annotated[str, Field(min_length=1, max_length=512)]
    nonce: Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9]+$")]


class VPDQFrame(_Strict):
    frame: Annotated[int, Field(ge=0, le=2**31 - 1)]
    quality: Quality
    pdq: Hex64
    timestamp: Annotated[float, Field(ge=0, allow_inf_nan=False)]

    @field_validator("pdq")
    @classmethod
    def _flat_frames_are_weak(cls, pdq: str, info: ValidationInfo) -> str:
        # A flat frame (a fade to black) hashes to all zeros with quality 0; a video's
        # frame list may carry it, since the match rule ignores frames below 50. All zeros
        # claiming a quality that counts would match every near-flat frame.
        quality = info.data.get("quality")
        if quality is not None and quality >= QUALITY_WEAK and pdq.count("0") == len(pdq):
            raise PydanticCustomError(
                "pdq_all_zero", "an all-zero PDQ frame (a flat frame) cannot have quality "
                ">= {weak}", {"weak": QUALITY_WEAK})
        return pdq


class ImageItem(_Strict):
    kind: Literal["image"]
    pdq: Optional[PDQHex] = None
    quality: Optional[Quality] = Field(None, validate_default=True)
    md5: Optional[Hex32] = None
    sha256: Optional[Hex64] = None

    @field_validator("quality")
    @classmethod
    def _quality_goes_with_pdq(cls, quality: Optional[int], info: ValidationInfo):
        if "pdq" not in info.data:  # the pdq itself failed: that is the error to report
            return quality
        if info.data["pdq"] is not None and quality is None:
            raise PydanticCustomError("pdq_quality", "a pdq needs its quality (0..100)")
        if info.data["pdq"] is None and quality is not None:
            raise PydanticCustomError("pdq_quality", "quality is the quality of a pdq; "
                                      "there is no pdq")
        return quality

    @model_validator(mode="after")
    def _signals(self):
        if self.pdq is None and self.md5 is None and self.sha256 is None:
            raise PydanticCustomError("item_empty", "an image needs pdq, md5 or sha256")
        return self


DihedralVariants = Annotated[list[PDQHex], Field(min_length=8, max_length=8)]


def _one_or_variants(value: Any) -> str:
    return "variants" if isinstance(value, list) else "hash"


def _query_signal(value: Any) -> Optional[str]:
    if isinstance(value, BaseModel):  # serialising a validated query
        return next(s for s in ("pdq", "md5", "sha256", "vpdq") if s in type(value).model_fields)
    if not isinstance(value, dict):
        return None
    present = [key for key in ("pdq", "md5", "sha256", "vpdq") if key in value]
    return present[0] if len(present) == 1 else None


def _frame_count(frames) -> int:
    return len(frames) if frames else 0


@functools.lru_cache(maxsize=8)
def RequestModels(limits: Limits = Limits()):  # noqa: N802 (it builds classes)
    """The request models for these limits, as a namespace (cached per limits)."""

    max_items, max_frames = limits.max_items, limits.max_frames
    max_queries = limits.max_lookup_queries
    max_feedback = limits.max_feedback
    Frames = Annotated[list[VPDQFrame], Field(min_length=1, max_length=max_frames)]

    class VideoItem(_Strict):
        kind: Literal["video"]
        md5: Optional[Hex32] = None
        sha256: Optional[Hex64] = None
        vpdq: Optional[Frames] = None

        @model_validator(mode="after")
        def _signals(self):
            if self.md5 is None and self.sha256 is None and self.vpdq is None:
                raise PydanticCustomError("item_empty", "a video needs md5, sha256 or vpdq")
            return self

    Item = Annotated[Union[ImageItem, VideoItem], Field(discriminator="kind")]

    class CaseCreate(_Strict):
        pow: Optional[PowSolution] = Field(
            None, description="the solved challenge; optional when the difficulty is 0")
        items: Annotated[list[Item], Field(min_length=1, max_length=max_items)]

        @model_validator(mode="after")
        def _frames_in_all(self):
            total = sum(_frame_count(getattr(item, "vpdq", None)) for item in self.items)
            if total > max_frames:
                raise PydanticCustomError(
                    "too_many_frames", "{total} vPDQ frames in all; at most {limit} a case",
                    {"total": total, "limit": max_frames})
            return self

    CaseId = Annotated[str, Field(min_length=1, max_length=64)]
    Secret = Annotated[str, Field(min_length=1, max_length=256)]

    class CaseStatus(_Strict):
        case_id: CaseId
        secret: Secret

    class CaseWithdraw(_Strict):
        case_id: CaseId
        secret: Secret
        items: Optional[Annotated[
            list[Annotated[int, Field(ge=0, le=max_items - 1)]],
            Field(min_length=1, max_length=max_items,
                  description="item numbers to withdraw; leave out for the whole case")]] = None

    class PDQQuery(_Strict):
        # dihedral first: validating pdq needs it
        dihedral: bool = False
        quality: Optional[Quality] = None
        radius: Annotated[int, Field(ge=0, le=MAX_RADIUS)] = DEFAULT_RADIUS
        pdq: Annotated[
            Union[Annotated[PDQHex, Tag("hash")], Annotated[DihedralVariants, Tag("variants")]],
            Discriminator(_one_or_variants),
            Field(description="the hash; with dihedral, the list of the image's 8 variant "
                  "hashes (pdq_hash_dihedral order)")]

        @field_validator("pdq")
        @classmethod
        def _variants_go_with_dihedral(cls, pdq, info: ValidationInfo):
            dihedral = info.data.get("dihedral")
            if dihedral and isinstance(pdq, str):
                raise PydanticCustomError(
                    "pdq_dihedral", "with dihedral, pdq is the list of the 8 variant hashes "
                    "(a hash's variants cannot be computed from its bits)")
            if dihedral is False and not isinstance(pdq, str):
                raise PydanticCustomError(
                    "pdq_dihedral", "8 variant hashes need \"dihedral\": true")
            return pdq

    class MD5Query(_Strict):
        md5: Hex32

    class SHA256Query(_Strict):
        sha256: Hex64

    class VPDQQuery(_Strict):
        vpdq: Frames

    Query = Annotated[
        Union[Annotated[PDQQuery, Tag("pdq")], Annotated[MD5Query, Tag("md5")],
              Annotated[SHA256Query, Tag("sha256")], Annotated[VPDQQuery, Tag("vpdq")]],
        Discriminator(_query_signal, custom_error_type="query_signal",
                      custom_error_message="a query is an object with exactly one of "
                      "pdq, md5, sha256, vpdq")]

    class LookupRequest(_Strict):
        queries: Annotated[list[Query], Field(min_length=1, max_length=max_queries)]

        @model_validator(mode="after")
        def _frames_in_all(self):
            total = sum(_frame_count(getattr(q, "vpdq", None)) for q in self.queries)
            if total > max_frames:
                raise PydanticCustomError(
                    "too_many_frames", "{total} vPDQ frames in all; at most {limit} a request",
                    {"total": total, "limit": max_frames})
            return self

    class FeedbackItem(_Strict):
        id: Hex16
        verdict: Literal[VERDICTS]
        comment: Optional[Annotated[str, Field(max_length=MAX_COMMENT)]] = None

    class FeedbackRequest(_Strict):
        feedback: Annotated[list[FeedbackItem], Field(min_length=1, max_length=max_feedback)]

    Scopes = Annotated[list[Literal[SCOPES]], Field(min_length=1, max_length=len(SCOPES))]
    ExpiresDays = Annotated[int, Field(ge=1, le=3650)]

    class PlatformCreate(_Strict):
        name: Annotated[str, Field(min_length=1, max_length=100,
                                   pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
        scopes: Optional[Scopes] = None
        expires_days: Optional[ExpiresDays] = None

    class TokenCreate(_Strict):
        scopes: Optional[Scopes] = None
        expires_days: Optional[ExpiresDays] = None

    class NegativeCreate(_Strict):
        signal: Literal[NEGATIVE_SIGNALS]
        value: Annotated[str, Field(min_length=32, max_length=64,
                                    description="the hash: 64 hex digits (pdq, sha256) "
                                    "or 32 (md5)")]
        radius: Optional[Annotated[int, Field(ge=0, le=MAX_RADIUS, description=(
            "pdq only: the Hamming radius (default: the server's negative_radius)"))]] = None
        label: Annotated[str, Field(max_length=200, description="the operator's note "
                                    "(what the hash is: a meme, a logo)")] = ""

        @field_validator("value")
        @classmethod
        def _value_fits_signal(cls, value: str, info: ValidationInfo) -> str:
            signal = info.data.get("signal")
            if signal is None:  # the signal itself failed: that is the error to report
                return value
            digits = _NEGATIVE_DIGITS[signal]
            if len(value) != digits:
                raise PydanticCustomError("hex_length", "a {signal} hash is {digits} "
                                          "hexadecimal digits", {"signal": signal,
                                                                 "digits": digits})
            value = _hex_checker(digits)(value)
            return _not_all_zero(value) if signal == "pdq" else value

        @field_validator("radius")
        @classmethod
        def _radius_is_pdq(cls, radius: Optional[int], info: ValidationInfo):
            if info.data.get("signal") in ("md5", "sha256") and radius not in (None, 0):
                raise PydanticCustomError("radius", "an md5 / sha256 hash matches exactly: "
                                          "no radius")
            return radius

    # class names are the schema names in the OpenAPI document
    return _Namespace(
        limits=limits, VPDQFrame=VPDQFrame, ImageItem=ImageItem, VideoItem=VideoItem,
        CaseCreate=CaseCreate, CaseStatus=CaseStatus, CaseWithdraw=CaseWithdraw,
        PDQQuery=PDQQuery, MD5Query=MD5Query, SHA256Query=SHA256Query, VPDQQuery=VPDQQuery,
        LookupRequest=LookupRequest, FeedbackItem=FeedbackItem,
        FeedbackRequest=FeedbackRequest, PlatformCreate=PlatformCreate,
        TokenCreate=TokenCreate, PowSolution=PowSolution, NegativeCreate=NegativeCreate)


class _Namespace:
    def __init__(self, **names):
        self.__dict__.update(names)


# --- errors -------------------------------------------------------------------------------

_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required",
    "union_tag_not_found": "needs \"kind\": \"image\" or \"video\"",
    "union_tag_invalid": "\"kind\" must be \"image\" or \"video\"",
    "model_type": "expected a JSON object",
    "model_attributes_type": "expected a JSON object",
    "dict_type": "expected a JSON object",
    "list_type": "expected a JSON array",
    "string_type": "expected a JSON string",
    "int_type": "expected a JSON integer",
    "bool_type": "expected true or false",
    "float_type": "expected a JSON number",
    "finite_number": "expected a finite number",
}


def format_loc(loc: tuple) -> str:
    """("items", 2, "pdq") -> "items[2].pdq". The tags pydantic puts in a location for
    a union (an item's kind, a query's signal, after the item's index; a hash or its
    variants, after "pdq") are not in the body, so they are left out."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i >= 2 and isinstance(loc[i - 1], int) and part in _UNION_TAGS.get(loc[i - 2], ()):
            continue
        elif i >= 1 and part in _UNION_TAGS.get((loc[i - 1],), ()):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


_UNION_TAGS = {"items": ("image", "video"), "queries": ("pdq", "md5", "sha256", "vpdq"),
               ("pdq",): ("hash", "variants")}


#: the errors a problem names at most (a body of 300,000 unknown fields has as many;
#: the first ones say what is wrong, and the answer stays small)
MAX_ERRORS = 50
_BOM = b"\xef\xbb\xbf"


def validate_json(model, raw: bytes):
    """``model.model_validate_json(raw)``, and more strict: no byte order mark, no NUL
    character (neither store can hold one in text), no name twice in one object
    (parsers differ in which one they keep: a proxy and the server must never read two
    different bodies). Raises ValidationError."""
    if raw.startswith(_BOM):
        raise _body_error("bom", "a byte order mark before the JSON; send UTF-8 without it")
    try:
        value = model.model_validate_json(raw)
    except ValidationError as exc:
        if exc.error_count() <= MAX_ERRORS:  # a duplicate may be the clearer reason
            _refuse_duplicate_names(raw, errors_too=True)
        raise
    if b"\\u0000" in raw:
        raise _body_error("nul", "a NUL character (\\u0000) in a string is not accepted")
    _refuse_duplicate_names(raw)
    return value


def _refuse_duplicate_names(raw: bytes, errors_too: bool = False) -> None:
    if raw.count(b'"') < 4:  # no object with two names
        return
    try:
        json.loads(raw, object_pairs_hook=_unique_names)
    except _DuplicateName as dup:
        raise _body_error("duplicate_name", f"a duplicate name {dup.args[0][:40]!r} in "
                          "one object") from None
    except (ValueError, RecursionError):
        if not errors_too:  # pydantic read it: the standard library must too
            raise


class _DuplicateName(ValueError):
    pass


def _unique_names(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        for name, _value in pairs:
            if name in seen:
                raise _DuplicateName(name)
            seen.add(name)
    return out


def _body_error(kind: str, message: str) -> ValidationError:
    return ValidationError.from_exception_data("body", [{
        "type": PydanticCustomError(kind, message), "loc": (), "input": None}])


def problem_errors(exc: ValidationError) -> list[dict]:
    """The ``errors`` list of a 400 problem, one per failure (at most ``MAX_ERRORS``,
    then one saying how many more), without the input."""
    out = []
    errors = exc.errors(include_url=False, include_input=False, include_context=True)
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        errors = errors[:MAX_ERRORS]
    else:
        more = 0
    for error in errors:
        kind = error["type"]
        loc = format_loc(tuple(error["loc"]))
        if kind == "json_invalid":
            reason = error.get("ctx", {}).get("error", "")
            if "recursion limit" in reason:
                msg = "the JSON is nested too deeply"
            else:
                msg = f"malformed JSON: {reason}" if reason else "malformed JSON"
            out.append({"loc": "body", "msg": msg})
            continue
        msg = _MESSAGES.get(kind) or error["msg"]
        if kind in ("too_long", "too_short"):
            ctx = error.get("ctx", {})
            bound = "at most" if kind == "too_long" else "at least"
            limit = ctx.get("max_length" if kind == "too_long" else "min_length")
            msg = f"{bound} {limit}, got {ctx.get('actual_length')}"
        if kind in ("union_tag_not_found", "union_tag_invalid") and loc.startswith("queries"):
            msg = error["msg"]
        out.append({"loc": loc, "msg": msg})
    if more:
        out.append({"loc": "body", "msg": f"and {more} more errors"})
    return out
