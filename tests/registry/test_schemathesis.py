"""schemathesis holds a real server (uvicorn on loopback, SQLite and PostgreSQL) to its
own OpenAPI document, route by route: every operation the document has (the NCMEC and
StopNCII views and any route added later included, none listed here) gets generated
requests, valid and not, with the token its security scheme names; no answer is a 500,
and every answer is one the document declares (status, media type, JSON schema).

``TIDEHASH_SCHEMATHESIS_EXAMPLES`` sets the examples per operation (30 in the test run;
the README gives the longer run)."""

from __future__ import annotations

import base64
import os

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.core.parameters import ParameterLocation

from tidehash.registry.server.app import create_app
from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import Store

from .api_helpers import image, test_settings, uvicorn_server, video
from .pg import database_url

EXAMPLES = int(os.environ.get("TIDEHASH_SCHEMATHESIS_EXAMPLES", "30"))
#: the limits of the served app (the document states them, so both must agree)
LIMITS = {"max_items": 5, "max_frames": 10, "max_lookup_queries": 4, "max_feedback": 3,
          "max_body": 64 << 10}

# The document the operations are collected from: the app's own, made without a database.
# The fixture checks that the server serves exactly this document.
DOCUMENT = create_app(test_settings("sqlite:///unused.db", **LIMITS)).openapi()
SCHEMA = schemathesis.openapi.from_dict(DOCUMENT)


class Served:
    """A server with data in it, and the headers of each security scheme."""

    def __init__(self, url: str, platform: str, operator: str):
        self.url = url
        basic = base64.b64encode(f"any:{platform}".encode()).decode()
        self.scheme_headers = {
            "PlatformToken": {"Authorization": f"Bearer {platform}"},
            "OperatorToken": {"Authorization": f"Bearer {operator}"},
            "NCMECBasic": {"Authorization": f"Basic {basic}"},
            "StopNCIIFunctionKey": {"x-functions-key": platform},
            "StopNCIISubscriptionKey": {"Ocp-Apim-Subscription-Key": platform},
        }

    def headers(self, case) -> dict:
        """The credentials of the operation's first security scheme (none if it has
        none): a scheme the test does not know fails, so a new one is never left
        untested by accident. None where schemathesis made the headers invalid on
        purpose (the credentials may be what it left out: the answer must be a 401)."""
        header = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
        if header is not None and header.mode is GenerationMode.NEGATIVE:
            return {}
        requirements = case.operation.definition.raw.get("security") or [{}]
        out = {}
        for name in requirements[0]:
            assert name in self.scheme_headers, f"no credentials for the scheme {name!r}"
            out.update(self.scheme_headers[name])
        return out


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("schemathesis")
    with database_url(request, request.param, folder) as url:
        db = Database(url)
        try:
            store = Store(db, Keys.load(db))
            platform = store.add_platform("fuzzed-platform")["token"]
            operator = store.operator_token()["token"]
        finally:
            db.close()
        with uvicorn_server(url, folder, **LIMITS) as server:
            served_doc = httpx.get(server.base_url + "/openapi.json", timeout=30).json()
            assert served_doc == DOCUMENT
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                for seed in range(4):  # something in the list, the views and the lookups
                    r = client.post("/v1/cases", json={"items": [image(seed), video(seed)]})
                    assert r.status_code == 201, r.text
            yield Served(server.base_url, platform, operator)
            # nothing the fuzzing sent made the server log a bug
            assert "unhandled error" not in server.stderr(), server.stderr()[-3000:]


def api_routes(routes, prefix: str = ""):
    """(method, path) of every route, those of included routers too (FastAPI keeps an
    included router whole, with its prefix in the include context)."""
    for r in routes:
        context = getattr(r, "include_context", None)
        if context is not None:
            yield from api_routes(r.original_router.routes, prefix + context.prefix)
        elif getattr(r, "methods", None):
            yield from ((m.lower(), prefix + r.path) for m in r.methods)


def test_every_route_is_in_the_document():
    from tidehash.registry.server import web

    app = create_app(test_settings("sqlite:///unused.db"))
    # the page's static files are not the API (the page's own tests cover them)
    page = set(api_routes(web.router().routes))
    routes = set(api_routes(app.routes)) - page - {("get", "/openapi.json"),
                                                   ("head", "/openapi.json")}
    documented = {(m, p) for p, ops in DOCUMENT["paths"].items() for m in ops}
    assert routes == documented
    assert {"/ncmec/v2/entries", "/stopncii/v1/FetchHashes"} <= set(DOCUMENT["paths"])


def test_every_operation_declares_its_problems():
    for path, ops in DOCUMENT["paths"].items():
        for method, op in ops.items():
            statuses = {s for s in op["responses"] if s.startswith(("4", "5"))}
            assert "500" not in statuses and "default" not in op["responses"], (method, path)
            if path != "/healthz":
                assert "503" in statuses, (method, path)
            if op.get("security"):
                assert {"401", "403"} <= statuses, (method, path)
            for status in statuses:
                content = op["responses"][status]["content"]
                assert list(content) == ["application/problem+json"], (method, path, status)


#: a body the document's schema allows may still break a rule it cannot state (an
#: all-zero PDQ, a pdq without its quality, an image without a signal): the server's 400
#: names it, and is declared; every other check runs
EXCLUDED_CHECKS = [schemathesis.checks.positive_data_acceptance]


@SCHEMA.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_the_server_keeps_to_its_document(case, served):
    case.call_and_validate(base_url=served.url, headers=served.headers(case),
                           excluded_checks=EXCLUDED_CHECKS, timeout=30)
