"""The operator's review routes (README "Operator routes": review queue and negative
list), added to the app by ``create_app``: thin, as every route, over ``abuse.Review``.

* ``GET /v1/admin/review?rule&limit&after``: entries with an open flag.
* ``GET /v1/admin/review/{id}``: an entry and every flag it ever had.
* ``POST /v1/admin/review/{id}/release`` / ``remove``: the decision.
* ``GET /v1/admin/negative?limit&after``, ``POST /v1/admin/negative``,
  ``POST /v1/admin/negative/{nid}/remove``: the negative list."""

# no `from __future__ import annotations`: FastAPI reads these annotations at runtime
from typing import Annotated, Any, Literal, Optional

from fastapi import Path, Query
from fastapi.responses import JSONResponse

from .answers import BOOL, COUNT, DAY, HEX16, HEX32, HEX64, INT, KIND, STR, array, obj, ok
from .models import NEGATIVE_SIGNALS, REVIEW_RULES
from .problems import Problem
from .problems import responses as problems

#: negative-list ids are database integers: a bigger one is a 400, never an overflow
MAX_NEGATIVE_ID = 2**31 - 1


_FLAG = obj({"rule": {"type": "string", "enum": list(REVIEW_RULES)}, "opened": DAY,
             "platforms": COUNT, "matches": COUNT, "disputes": COUNT},
            {"negative": INT, "distance": COUNT,
             "state": {"type": "string", "enum": ["open", "released", "removed", "withdrawn"]},
             "decided": {"type": ["string", "null"]}, "released_as": HEX16})
_REVIEW = obj({"id": HEX16, "kind": KIND, "tier": {"type": "string",
                                                  "enum": ["person", "partner"]},
               "status": STR, "published": BOOL,
               "counts": obj({"match_platforms": COUNT, "matches": COUNT,
                              "matches_total": COUNT, "dispute_platforms": COUNT,
                              "disputes": COUNT}),
               "flags": array(_FLAG)},
              {"pdq": HEX64, "quality": COUNT, "md5": HEX32, "sha256": HEX64,
               "vpdq_frames": COUNT})
_NEGATIVE = obj({"id": INT, "signal": {"type": "string", "enum": list(NEGATIVE_SIGNALS)},
                 "value": STR, "radius": COUNT, "label": STR, "created": DAY})
#: the answers' schemas (``answers``' style), added to the document's components
SCHEMAS = {
    "ReviewEntries": obj({"entries": array(_REVIEW), "after": {"type": ["string", "null"]}}),
    "ReviewEntry": _REVIEW,
    "ReviewDecision": obj({"id": HEX16, "decision": {"type": "string",
                                                     "enum": ["released", "removed"]}},
                          {"republished_as": HEX16}),
    "NegativeList": obj({"negative": array(_NEGATIVE), "after": {"type": ["integer", "null"]}}),
    "NegativeAdded": obj({"negative": _NEGATIVE, "held": array(HEX16)}),
    "NegativeRemoved": obj({"id": INT, "removed": {"const": True}}),
}


def _entry_id(text: str) -> int:
    from .store import parse_entry_id

    value = parse_entry_id(text)
    if value is None:
        raise Problem(404, "not-found", f"no entry {text[:32]!r} (an entry id is 16 hex "
                      "digits)")
    return value


def actor_of(principal) -> str:
    """Who acted, for the audit log: the operator token's id."""
    return f"operator:{principal.token_id}"


def install(app, *, Svc, Admin, body, models, schema_refs, schemas: dict,
            store_call) -> None:
    """Add the routes to ``app`` (the arguments are ``create_app``'s own pieces). Each
    declares its answer and the problems its own code raises (``openapi_problems`` adds
    the ones its parameters and auth imply)."""
    schemas.update(SCHEMAS)

    @app.get("/v1/admin/review", tags=["operator"],
             responses={**ok("ReviewEntries"), **problems(400)})
    async def review_list(svc: Svc, _p: Admin,
                          rule: Annotated[Optional[Literal[REVIEW_RULES]], Query()] = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          after: Annotated[Optional[str], Query(
                              pattern=r"^[0-9a-fA-F]{16}$")] = None):
        start = None
        if after is not None:
            from .store import parse_entry_id

            start = parse_entry_id(after)
            if start is None:  # 16 hex digits over the largest entry id: a bad cursor
                raise Problem(400, "invalid-request", f"after: {after!r} is not an entry id")
        entries = await store_call(svc.store.review.list, rule, limit, start)
        return {"entries": entries,
                "after": entries[-1]["id"] if len(entries) == limit else None}

    @app.get("/v1/admin/review/{entry_id}", tags=["operator"], responses=ok("ReviewEntry"))
    async def review_show(entry_id: str, svc: Svc, _p: Admin):
        return await store_call(svc.store.review.show, _entry_id(entry_id))

    @app.post("/v1/admin/review/{entry_id}/release", tags=["operator"],
              responses=ok("ReviewDecision"))
    async def review_release(entry_id: str, svc: Svc, principal: Admin):
        return await store_call(svc.store.review.release, _entry_id(entry_id),
                                actor=actor_of(principal))

    @app.post("/v1/admin/review/{entry_id}/remove", tags=["operator"],
              responses=ok("ReviewDecision"))
    async def review_remove(entry_id: str, svc: Svc, principal: Admin):
        return await store_call(svc.store.review.remove, _entry_id(entry_id),
                                actor=actor_of(principal))

    @app.get("/v1/admin/negative", tags=["operator"], responses=ok("NegativeList"))
    async def negative_list(svc: Svc, _p: Admin,
                            limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
                            after: Annotated[Optional[int], Query(
                                ge=0, le=MAX_NEGATIVE_ID)] = None):
        found = await store_call(svc.store.review.negative_list, limit, after)
        return {"negative": found, "after": found[-1]["id"] if len(found) == limit else None}

    @app.post("/v1/admin/negative", status_code=201, tags=["operator"],
              responses={**ok("NegativeAdded", 201), **problems(409)},
              openapi_extra=schema_refs(models.NegativeCreate, schemas))
    async def negative_add(svc: Svc, principal: Admin,
                           req: Annotated[Any, body(models.NegativeCreate)]):
        made = await store_call(svc.store.review.negative_add, req.signal, req.value,
                                req.radius, req.label, actor=actor_of(principal))
        return JSONResponse(made, status_code=201)

    @app.post("/v1/admin/negative/{negative_id}/remove", tags=["operator"],
              responses={**ok("NegativeRemoved"), **problems(400)})
    async def negative_remove(svc: Svc, principal: Admin,
                              negative_id: Annotated[int, Path(ge=1, le=MAX_NEGATIVE_ID)]):
        return await store_call(svc.store.review.negative_remove, negative_id,
                                actor=actor_of(principal))
