"""``serve_matcher(config, db_url, host, port)``: the matcher under uvicorn, with the
registry's logging rules (no access log, no client address; see ``server.run``) and
the matcher's own structured lines (``event=... bank=...``) at INFO."""

from __future__ import annotations

import copy

from ..run import LOG_CONFIG


def log_config() -> dict:
    cfg = copy.deepcopy(LOG_CONFIG)
    cfg["loggers"]["tidehash.matcher"] = {"handlers": ["stderr"], "level": "INFO",
                                          "propagate": False}
    return cfg


def serve_matcher(config, db_url: str, host: str = "127.0.0.1", port: int = 8080) -> None:
    import uvicorn

    from .app import create_matcher_app

    server = uvicorn.Server(uvicorn.Config(
        create_matcher_app(config, db_url), host=host, port=port, access_log=False,
        proxy_headers=False, server_header=False, date_header=False, log_level="warning",
        log_config=log_config(), lifespan="on", ws="none", timeout_graceful_shutdown=10))
    server.run()
    if not server.started:
        raise SystemExit(3)
