"""The page, served by the registry: the hashing module ``/tidehash.js`` (an ES module),
its worker, the WebAssembly PDQ kernels and hash-wasm, and the page at ``/``: static
files shipped in the package (``tidehash.web``, built by web/build.py).

Every response carries a Content-Security-Policy that allows only this origin (and
``'wasm-unsafe-eval'``, which compiling WebAssembly needs): nothing is loaded from a
third party, nothing is framed, no form posts elsewhere. No cookie is ever set. The
files are read once, at app creation; a path not in the table is a 404 problem like any
other (no file system lookups from a request)."""

from __future__ import annotations

import hashlib
import os

from fastapi import APIRouter, Request
from starlette.responses import Response

from tidehash.web import FILES as web_files
from tidehash.web import STATIC_DIR

#: The Content-Security-Policy of every file of the page.
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
       "connect-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

#: served path -> (file in tidehash/web/static, media type)
FILES = {("/" if name == "index.html" else "/" + name): (name, media_type)
         for name, media_type in web_files.items()}

HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    # revalidated on each load (an ETag answers 304), so a fixed page reaches people at once
    "Cache-Control": "no-cache",
}


def load_files(static_dir: str = STATIC_DIR) -> dict[str, tuple[bytes, str, str]]:
    """path -> (content, media type, ETag); a missing asset fails here, at startup."""
    table = {}
    for path, (name, media_type) in FILES.items():
        with open(os.path.join(static_dir, name), "rb") as f:
            content = f.read()
        etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
        table[path] = (content, media_type, etag)
    return table


def router(static_dir: str = STATIC_DIR) -> APIRouter:
    files = load_files(static_dir)
    api = APIRouter()

    def serve(path: str):
        content, media_type, etag = files[path]

        async def endpoint(request: Request) -> Response:
            headers = dict(HEADERS, ETag=etag)
            if etag in request.headers.get("if-none-match", ""):
                return Response(status_code=304, headers=headers)
            return Response(content, media_type=media_type, headers=headers)

        endpoint.__name__ = "page_" + (path.strip("/").replace(".", "_").replace("-", "_")
                                       or "index")
        return endpoint

    for path in files:
        api.add_api_route(path, serve(path), methods=["GET", "HEAD"], include_in_schema=False)
    return api
