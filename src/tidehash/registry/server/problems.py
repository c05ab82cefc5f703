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
    "internal": "Internal error",
}

#: the slug of an HTTP status raised without one (by the router, say)
STATUS_SLUGS = {400: "invalid-request", 401: "unauthorized", 403: "forbidden",
                404: "not-found", 405: "method-not-allowed", 406: "not-acceptable",
                413: "body-too-large", 415: "unsupported-media-type",
                416: "range-not-satisfiable", 503: "unavailable"}


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
