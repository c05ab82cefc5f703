"""``serve_matcher(config, db_url, host, port)``: the matcher under uvicorn, with the
registry's logging rules (no access log, no client address; see ``server.run``) and
the matcher's own structured lines (``event=... bank=...``) at INFO."""

from __future__ import annotations

import copy

from ..run import LOG_CONFIG, uvicorn_config


def log_config() -> dict:
    cfg = copy.deepcopy(LOG_CONFIG)
    cfg["loggers"]["tidehash.matcher"] = {"handlers": ["stderr"], "level": "INFO",
                                          "propagate": False}
    return cfg


def serve_matcher(config, db_url: str, host: str = "127.0.0.1", port: int = 8080, *,
                  io: dict | None = None) -> None:
    """``io``: uvicorn's ``http`` and ``loop`` (default ``run.fast_io()``; the benchmark
    sets them to compare)."""
    import uvicorn

    from .app import create_matcher_app

    server = uvicorn.Server(uvicorn_config(create_matcher_app(config, db_url), host, port,
                                           log_config=log_config(), io=io))
    server.run()
    if not server.started:
        raise SystemExit(3)
