"""The two ASGI layers around the whole app (outermost first):

* ``Privacy``: the client's address and the headers that identify a person or their
  device (the forwarding chain of proxies, the user agent, referer, cookies) are taken
  out of the request before any other code (routes, error handlers, FastAPI, Starlette)
  sees it. Nothing downstream can log or store what it never receives.
* ``LastResort``: an exception that escapes the app (a bug, never bad input) becomes a
  500 problem; it is logged by type and code position only, without its message or
  locals (a database error's message carries the statement's parameters)."""

from __future__ import annotations

import logging
import traceback

from .problems import problem_response

#: lower-case header names removed from every request
IDENTIFYING_HEADERS = frozenset({
    b"x-forwarded-for", b"forwarded", b"x-real-ip", b"user-agent",
    b"x-forwarded", b"forwarded-for", b"x-forwarded-host", b"x-original-forwarded-for",
    b"x-client-ip", b"x-cluster-client-ip", b"cf-connecting-ip", b"true-client-ip",
    b"fastly-client-ip", b"x-appengine-user-ip", b"via", b"referer", b"cookie",
    b"sec-ch-ua", b"sec-ch-ua-platform", b"sec-ch-ua-mobile", b"sec-ch-ua-full-version-list",
    b"sec-ch-ua-model", b"sec-ch-ua-platform-version", b"sec-ch-ua-arch", b"sec-ch-ua-bitness",
})

log = logging.getLogger("tidehash.registry")


class Privacy:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket"):
            scope = dict(scope)
            scope["client"] = None
            scope["headers"] = [(name, value) for name, value in scope.get("headers", ())
                                if name.lower() not in IDENTIFYING_HEADERS]
        await self.app(scope, receive, send)


def code_position(exc: BaseException) -> str:
    """``TypeName at file.py:12 in f <- file.py:30 in g``: where, never what."""
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    where = " <- ".join(f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} in {frame.name}"
                        for frame in reversed(frames))
    return f"{type(exc).__module__}.{type(exc).__qualname__} at {where or '?'}"


class LastResort:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 (the one place that catches everything)
            log.error("unhandled error: %s", code_position(exc))
            if not started:
                response = problem_response(500, "internal", "an internal error; it has "
                                            "been logged without the request")
                await response(scope, receive, send)
            # once the response has started (a streamed snapshot) the connection just
            # ends: the client sees no trailer line and knows the stream was cut
