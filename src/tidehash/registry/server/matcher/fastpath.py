"""``GET /m/raw_lookup`` without the framework, for the plain case.

A platform's pipeline sends lookups by the thousand a second; through Starlette's routing,
its Request and Response objects and the two ASGI layers one costs more CPU than the
search. ``FastRawLookup.answer`` answers the plain case itself: the app started and every
bank loaded, a query string of only ``signal_type``, ``signal``, ``include_distance`` and
``banks``, each at most once, with nothing percent- or plus-encoded (so it reads exactly as
Starlette's ``parse_qsl`` reads it), values the route's own checks (``hma``) accept, and,
when a token is configured, an ``Authorization`` header the matcher's own check accepts.
Anything else (a missing, repeated, encoded or unknown parameter, a bad signal, the banks
loading, no or a wrong token, an error in the search) is left to the full app, which
answers it as it always did; the 200 is the same bytes and headers the route sends
(``raw_lookup_body``).

It reads the path, the method, the query string and (only with a token configured) the
``Authorization`` header: never the client's address or any other header, and it logs
nothing."""

from __future__ import annotations

from . import hma
from .hma import HMAError

PATH = "/m/raw_lookup"
_KEYS = frozenset((b"signal_type", b"signal", b"include_distance", b"banks"))
_JSON = b"application/json"


class FastRawLookup:
    def __init__(self, holder: dict, body_of):
        self.holder = holder    # the app's {"m": Matcher} once its lifespan started it
        self.body_of = body_of  # raw_lookup_body(matches, banks, with_distance) -> bytes
        self.answered = 0       # lookups it answered itself (for the tests)

    async def answer(self, scope, send) -> bool:
        """True if it sent the answer; False: nothing was sent, the app answers."""
        if scope["method"] != "GET" or scope.get("root_path"):
            return False
        m = self.holder.get("m")
        if m is None or not m.bankset.ready:
            return False
        query = scope.get("query_string", b"")
        if b"%" in query or b"+" in query or not query.isascii():
            return False
        params = {}
        for part in query.split(b"&"):
            key, eq, value = part.partition(b"=")
            if not eq or key not in _KEYS or key in params:
                return False
            params[key] = value.decode("ascii")
        if m.config.token_sha256 is not None:
            header = None
            for name, value in scope["headers"]:
                if name == b"authorization":  # the first one, as Starlette's Headers.get
                    header = value.decode("latin-1")
                    break
            if not m.authorised(header):
                return False
        name, signal = params.get(b"signal_type"), params.get(b"signal")
        if name is None or signal is None:
            return False
        try:
            name = hma.signal_type(name)
            signal = hma.validate_signal(name, signal)
            with_distance = hma.bool_param(params.get(b"include_distance"), "include_distance")
        except HMAError:
            return False
        banks = hma.banks_param(params.get(b"banks"))
        try:
            results = await m.batcher.lookup([hma.query_of(name, signal)])
            body = self.body_of(results[0]["matches"], banks, with_distance)
        except Exception:  # noqa: BLE001 - not ready meanwhile, a fault: the route's answer
            return False
        m.count(PATH)
        self.answered += 1
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(body)).encode()), (b"content-type", _JSON)]})
        await send({"type": "http.response.body", "body": body})
        return True
