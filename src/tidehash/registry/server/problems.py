"""Errors as ``application/problem+json`` (RFC 9457), the one error shape of the API:
``{"type": "https://tidehash.org/problems/<slug>", "title", "status", "detail"}`` plus
``"errors": [{"loc", "msg"}]`` for a body that fails validation."""

from __future__ import annotations

import json

from starlette.responses import Response

TYPE_BASE = "https://tidehash.org/problems/"
MEDIA_TYPE = "application/problem+json"

#: slug -> title; the slugs are part of the API (README.md)
TITLES = {
    "invalid-request": "The request is not valid",
    "challenge": "The proof-of-work challenge is not valid",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "unauthorized": "Authentication needed",
    "forbidden": "Not allowed",
    "body-too-large": "The request body is too large",
    "unsupported-media-type": "The request body must be JSON",
    "bad-cursor": "The cursor is not valid",
    "cursor-compacted": "The cursor is older than the change log: take a new snapshot",
    "range-not-satisfiable": "The range is not in the snapshot",
    "unavailable": "The service is unavailable; try again later",
    "not-acceptable": "Not acceptable",
    "conflict": "Conflict",
    "internal": "Internal error",
}

#: the slug of an HTTP status raised without one (by the router, say)
STATUS_SLUGS = {400: "invalid-request", 401: "unauthorized", 403: "forbidden",
                404: "not-found", 405: "method-not-allowed", 406: "not-acceptable",
                413: "body-too-large", 415: "unsupported-media-type",
                409: "conflict", 410: "cursor-compacted", 416: "range-not-satisfiable",
                503: "unavailable"}


class Problem(Exception):
    """Raised by a route or a dependency; the app turns it into the response."""

    def __init__(self, status: int, slug: str, detail: str, *,
                 errors: list | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.detail = detail
        self.errors = errors
        self.headers = headers


def problem_body(status: int, slug: str, detail: str, errors: list | None = None) -> dict:
    body = {"type": TYPE_BASE + slug, "title": TITLES.get(slug, slug), "status": status,
            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(status: int, slug: str, detail: str, *, errors: list | None = None,
                     headers: dict | None = None) -> Response:
    content = json.dumps(problem_body(status, slug, detail, errors), ensure_ascii=False,
                         separators=(",", ":")).encode("utf-8")
    return Response(content, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def response_of(problem: Problem) -> Response:
    return problem_response(problem.status, problem.slug, problem.detail,
                            errors=problem.errors, headers=problem.headers)


#: the OpenAPI schema of a problem body (every error response)
SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["loc", "msg"],
            "properties": {"loc": {"type": "string"}, "msg": {"type": "string"}}}},
    },
}


def responses(*statuses: int) -> dict:
    """The OpenAPI ``responses`` of a route that may answer these problem statuses
    (a route declares the ones its own code raises; ``openapi_problems`` adds the ones
    its document implies)."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {str(status): {"description": TITLES[STATUS_SLUGS[status]],
                          "content": {MEDIA_TYPE: {"schema": schema}}}
            for status in statuses}


def openapi_problems(document: dict) -> dict:
    """Every operation of an OpenAPI document with the problem responses it implies
    declared: 401 / 403 with a security requirement, 400 / 413 / 415 with a request
    body (an XML body: 400 / 413), 400 with a query parameter, 404 with a path
    parameter (an unknown name), 503 (the database unreachable, the service starting)
    everywhere but ``/healthz``; so a response of any other status, a 500 above all,
    is outside the document (schemathesis holds the server to it)."""
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            implied = set() if path == "/healthz" else {503}
            if operation.get("security"):
                implied |= {401, 403}
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                implied |= {400, 413} | ({415} if any("json" in t for t in body) else set())
            where = {p.get("in") for p in operation.get("parameters", ())}
            if "query" in where:
                implied.add(400)
            if "path" in where:
                implied.add(404)
            declared = operation["responses"]
            # FastAPI's own 422 for a parameter that fails validation: this app answers 400
            declared.pop("422", None)
            for status, response in responses(*sorted(implied)).items():
                declared.setdefault(status, response)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return document
