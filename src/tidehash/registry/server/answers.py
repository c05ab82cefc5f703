"""The JSON schemas of the registry's answers (README.md, "HTTP API"), for the OpenAPI
document: ``ok(NAME)`` is a route's success response. The routes build their bodies as
plain dicts (the store's, the change log's, the lookup service's), so these describe
them; schemathesis checks every answer of a real server against them. Objects name their
required fields and types and leave room for fields added later (a new field is not a
broken client)."""

from __future__ import annotations

HEX16 = {"type": "string", "pattern": "^[0-9a-f]{16}$"}
HEX32 = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
HEX64 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
DAY = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
INT = {"type": "integer"}
COUNT = {"type": "integer", "minimum": 0}
STR = {"type": "string"}
BOOL = {"type": "boolean"}
ITEM_STATUS = {"type": "string", "enum": ["pending", "active", "withdrawn", "removed"]}
KIND = {"type": "string", "enum": ["image", "video"]}
SCOPES = {"type": "array", "items": STR}


def obj(required: dict, optional: dict | None = None) -> dict:
    return {"type": "object", "required": sorted(required),
            "properties": {**required, **(optional or {})}}


def array(items: dict) -> dict:
    return {"type": "array", "items": items}


FRAME = obj({"frame": COUNT, "quality": COUNT, "pdq": HEX64, "timestamp": {"type": "number"}})
ENTRY = obj({"id": HEX16, "case": STR, "kind": KIND, "added": DAY},
            {"tier": {"const": "partner"}, "pdq": HEX64, "quality": COUNT, "md5": HEX32,
             "sha256": HEX64, "vpdq": array(FRAME)})
CASE_ITEMS = array(obj({"item": COUNT, "kind": KIND, "status": ITEM_STATUS}))
TOKEN = obj({"token": STR, "token_id": HEX16, "scopes": SCOPES,
             "expires": {"type": ["string", "null"]}})
MATCH = obj({"id": HEX16, "signal": {"type": "string",
                                     "enum": ["pdq", "md5", "sha256", "vpdq"]}},
            {"tier": {"const": "partner"}, "distance": COUNT, "weak": BOOL, "variant": STR,
             "query_match": {"type": "number"}, "compared_match": {"type": "number"}})

SCHEMAS = {
    "Health": obj({"status": {"type": "string", "enum": ["ok", "ready"]}}),
    "Challenge": obj({"challenge": STR, "difficulty": COUNT, "expires_in": COUNT,
                      "algorithm": STR}),
    "CaseCreated": obj({"case_id": STR, "secret": STR, "items": CASE_ITEMS},
                       {"tier": {"const": "partner"}}),
    "CaseState": obj({"case_id": STR, "created": DAY, "items": CASE_ITEMS}),
    "Changes": obj({"changes": array({"oneOf": [
        obj({"seq": COUNT, "op": {"const": "upsert"}, "entry": ENTRY}),
        obj({"seq": COUNT, "op": {"const": "delete"}, "id": HEX16})]}),
        "cursor": STR, "more": BOOL, "head": COUNT}),
    "LookupResults": obj({"results": array(obj({"query": COUNT, "matches": array(MATCH)}))}),
    "FeedbackStored": obj({"stored": COUNT}),
    "PlatformCreated": obj({**TOKEN["properties"], "platform": STR, "platform_id": INT}),
    "Platforms": obj({"platforms": array(obj({
        "platform": STR, "platform_id": INT, "suspended": BOOL, "created": DAY,
        "tokens": array(obj({"token_id": HEX16, "scopes": SCOPES, "revoked": BOOL,
                             "expired": BOOL}))}))}),
    "Suspended": obj({"platform": STR, "suspended": BOOL}),
    "TokenCreated": obj({**TOKEN["properties"], "platform": STR}),
    "Revoked": obj({"token_id": HEX16, "revoked": {"const": True}}),
    "Cases": obj({"cases": array(obj({"case_id": STR, "created": DAY, "items": {
        "type": "object", "additionalProperties": COUNT}})),
        "after": {"type": ["string", "null"]}}),
    "Removed": obj({"id": HEX16, "status": {"const": "removed"}}),
}


def ok(name: str, status: int = 200, description: str = "the answer") -> dict:
    """The OpenAPI ``responses`` entry of a route's JSON success answer."""
    return {status: {"description": description, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}
