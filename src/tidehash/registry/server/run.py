"""``serve(settings, host, port)``: the registry under uvicorn, configured so that no
client address or user agent can reach a log line: no access log, proxy headers not
read (the app drops them anyway), no Server or Date header, log level warning, and a
filter on every handler that blanks anything shaped like an IP address."""

from __future__ import annotations

import logging
import re

from .settings import Settings

_IPV4 = r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
# at least two colons between hex groups (or a "::"): not a time like 12:30
_IPV6 = r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])"
_ADDRESS = re.compile(f"{_IPV4}|{_IPV6}")


def redact_addresses(text: str) -> str:
    return _ADDRESS.sub("<address>", text)


class NoAddresses(logging.Filter):
    """Formats the record's message and blanks IP addresses in it (and in an attached
    traceback's text): a last guard behind the app's own rules."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a bad format string: keep only the template)
            message = str(record.msg)
        record.msg, record.args = redact_addresses(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_addresses(record.exc_text)
        return True


LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_addresses": {"()": NoAddresses}},
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr",
                            "formatter": "plain", "filters": ["no_addresses"]}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
        # access lines carry the client's address: never emitted, whatever the level
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        "tidehash": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}


def fast_io() -> dict:
    """uvicorn's HTTP parser and event loop: httptools (a C parser) and uvloop (libuv)
    where installed, as the registry extra installs them, else its pure-Python h11 and
    asyncio. On the matcher's lookups the h11 parser and asyncio's own loop were most of
    the CPU of a request (benchmarks/RESULTS.md); the privacy settings of
    ``uvicorn_config`` hold for either pair."""
    from importlib.util import find_spec

    return {"http": "httptools" if find_spec("httptools") else "h11",
            "loop": "uvloop" if find_spec("uvloop") else "asyncio"}


def uvicorn_config(app, host: str, port: int, *, log_config: dict = LOG_CONFIG,
                   io: dict | None = None):
    """A uvicorn Config that keeps what a request says about its sender out of the
    logs and headers: no access log, proxy headers not read, no Server or Date header,
    log level warning. ``io``: ``{"http": ..., "loop": ...}`` (default ``fast_io()``)."""
    import uvicorn

    return uvicorn.Config(
        app, host=host, port=port, **(fast_io() if io is None else io),
        access_log=False, proxy_headers=False,
        server_header=False, date_header=False, log_level="warning", log_config=log_config,
        lifespan="on", ws="none", timeout_graceful_shutdown=10)


def config(settings: Settings, host: str = "127.0.0.1", port: int = 8080, *, app=None):
    """The uvicorn Config of ``serve`` (``app``: an app made already, for tests)."""
    from .app import create_app

    return uvicorn_config(app if app is not None else create_app(settings), host, port)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the registry until interrupted (SIGINT / SIGTERM). A registry that cannot
    start (the database unreachable, the port taken) exits with status 3, as uvicorn
    does."""
    import uvicorn

    server = uvicorn.Server(config(settings, host, port))
    server.run()
    if not server.started:
        raise SystemExit(3)
