"""The page's static assets: the PDQ kernels built for WebAssembly (scalar and SIMD128)
and the JavaScript module that hashes files in a browser (web/ in the source tree;
built by web/build.py, shipped here so an install needs no wasm toolchain)."""

from __future__ import annotations

import os

#: The folder of the built assets (tidehash.js, tidehash-worker.js, the .wasm modules).
STATIC_DIR = os.path.join(os.path.dirname(__file__), "static")

#: The page's files: served name (under ``/``; ``index.html`` is ``/``) -> media type.
#: The registry serves exactly these (``tidehash.registry.server.web``) and
#: ``tidehash web export`` writes exactly these (``tidehash.web.export``).
FILES = {
    "index.html": "text/html; charset=utf-8",
    "tidehash.js": "text/javascript; charset=utf-8",
    "tidehash-worker.js": "text/javascript; charset=utf-8",
    "hash-wasm.js": "text/javascript; charset=utf-8",
    "hash-wasm.LICENSE.txt": "text/plain; charset=utf-8",
    "tidehash-scalar.wasm": "application/wasm",
    "tidehash-simd128.wasm": "application/wasm",
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}

#: The two builds of the kernels; the page picks simd128 where WebAssembly SIMD validates.
WASM_VARIANTS = ("scalar", "simd128")


def wasm_path(variant: str) -> str:
    """The shipped module of one build (see WASM_VARIANTS)."""
    if variant not in WASM_VARIANTS:
        raise ValueError(f"unknown wasm build {variant!r}; expected one of {WASM_VARIANTS}")
    return os.path.join(STATIC_DIR, f"tidehash-{variant}.wasm")
