"""``tidehash web export DIR``: the page as static files, for an NGO that hosts it on its
own web server and points it at its registry.

Writes every file the registry serves at ``/`` (``tidehash.web.FILES``: the page, its
style and script, the module, the worker, both wasm builds, hash-wasm and its licence)
into DIR. With ``registry``, the page's ``<meta name="tidehash-registry">`` names that
registry (the page calls its person routes there; otherwise the page's own origin) and a
``<meta http-equiv="Content-Security-Policy">`` allows connecting to it. ``HEADERS.txt``
beside them says what the web server must send (the same policy as a header, which also
covers the worker; the media types) and that the registry must allow the page's origin
(``tidehash serve --cors-origin``). Standard library only."""

from __future__ import annotations

import html
import os
import re
import shutil
from urllib.parse import urlsplit

from . import FILES, STATIC_DIR

#: the page's policy, as the registry sends it (server/web.py), with the registry added
#: to connect-src
CSP = ("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; "
       "connect-src 'self'{registry}; img-src 'self' blob: data:; style-src 'self'; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
#: what a <meta> policy may hold (frame-ancestors only works as a header)
META_CSP_DROP = "; frame-ancestors 'none'"

REGISTRY_META = re.compile(r'<meta name="tidehash-registry" content="[^"]*">')

HEADERS_TXT = """\
This folder is the tidehash page (tidehash {version}, `tidehash web export`).
Serve it as static files over HTTPS. It calls the registry at:
  {registry}

Every response of this folder should carry these headers (nginx: add_header ... always;
Apache: Header always set ...):

  Content-Security-Policy: {csp}
  X-Content-Type-Options: nosniff
  Referrer-Policy: no-referrer
  Cross-Origin-Opener-Policy: same-origin
  Permissions-Policy: camera=(), microphone=(), geolocation=(), interest-cohort=()
  Cache-Control: no-cache

(index.html repeats the policy in a <meta> tag, without frame-ancestors, which only a
header can set; the worker, tidehash-worker.js, is covered only by the header.)
Media types: .js text/javascript, .wasm application/wasm (WebAssembly streaming
compilation needs it), .css text/css, .html text/html. No cookies, no logging of
visitors' addresses if you can avoid it: the page is for people who may be in danger.

The registry must let this page's origin call it from a browser (CORS), for example:
  tidehash serve --cors-origin https://your-site.example ...
"""


def registry_origin(url: str) -> tuple[str, str]:
    """(the registry's base URL without a trailing slash, its origin) of an http(s) URL;
    ValueError for anything else (credentials, a query, a fragment, another scheme)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"the registry must be an http:// or https:// URL, got {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueError(f"the registry URL may not carry credentials, a query or a "
                         f"fragment: {url!r}")
    if any(c in url for c in "\"'<> ;,\\") or not url.isascii():
        raise ValueError(f"the registry URL has characters a page cannot carry: {url!r}")
    origin = f"{parts.scheme}://{parts.netloc}"
    return origin + parts.path.rstrip("/"), origin


def export(out_dir: str, registry: str | None = None, *, static_dir: str = STATIC_DIR) -> list[str]:
    """Writes the page into ``out_dir`` (created if missing; the page's files in it are
    replaced, nothing else is touched). Returns the names written."""
    from .. import __version__

    base, origin = registry_origin(registry) if registry else ("", "")
    os.makedirs(out_dir, exist_ok=True)
    written = []
    csp = CSP.format(registry=" " + origin if origin else "")
    for name in FILES:
        src = os.path.join(static_dir, name)
        dst = os.path.join(out_dir, name)
        if name == "index.html":
            with open(src, encoding="utf-8") as f:
                page = f.read()
            if not REGISTRY_META.search(page):
                raise RuntimeError("index.html has no tidehash-registry meta tag")
            meta = (f'<meta name="tidehash-registry" content="{html.escape(base)}">\n'
                    f'<meta http-equiv="Content-Security-Policy" '
                    f'content="{html.escape(csp.replace(META_CSP_DROP, ""))}">')
            page = REGISTRY_META.sub(meta.replace("\\", "\\\\"), page, count=1)
            tmp = dst + ".tmp"
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(page)
            os.replace(tmp, dst)
        else:
            shutil.copyfile(src, dst)
        written.append(name)
    with open(os.path.join(out_dir, "HEADERS.txt"), "w", encoding="utf-8") as f:
        f.write(HEADERS_TXT.format(version=__version__, csp=csp,
                                   registry=base or "(the page's own origin)"))
    written.append("HEADERS.txt")
    return written
