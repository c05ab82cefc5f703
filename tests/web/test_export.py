"""``tidehash web export DIR --registry URL``: the page as static files, served by a plain
web server (Python's http.server, with the headers HEADERS.txt asks for) on one loopback
port, the registry (``--cors-origin`` of that server) on another; Chromium goes through
the flow there and the registry gets the case."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import subprocess
import sys
import threading

import httpx
import pytest
from registry.api_helpers import SRC, uvicorn_server

from tidehash.cli import main as cli_main
from tidehash.web import FILES
from tidehash.web.export import registry_origin

from .flow import Capture, assert_only_hashes_sent, choose_and_wait, open_page, send


def run_cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "tidehash.cli", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def documented_headers(folder) -> dict[str, str]:
    """The header lines of HEADERS.txt (indented "Name: value")."""
    out = {}
    for line in (folder / "HEADERS.txt").read_text().splitlines():
        if line.startswith("  ") and ": " in line and not line.strip().startswith("tidehash"):
            name, value = line.strip().split(": ", 1)
            out[name] = value
    return out


@contextlib.contextmanager
def static_server(folder, headers: dict[str, str]):
    class Handler(http.server.SimpleHTTPRequestHandler):
        extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                          ".wasm": "application/wasm", ".js": "text/javascript"}

        def end_headers(self):
            for name, value in headers.items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_registry_urls_are_checked():
    assert registry_origin("https://r.example.org/") == ("https://r.example.org",
                                                          "https://r.example.org")
    assert registry_origin("http://127.0.0.1:8080/reg/") == ("http://127.0.0.1:8080/reg",
                                                             "http://127.0.0.1:8080")
    for bad in ("ftp://r.example", "https://u:p@r.example", "https://r.example/?q=1",
                "https://r.example/#x", "r.example", "https://r.example/a'b", "https://"):
        with pytest.raises(ValueError):
            registry_origin(bad)


def test_bad_options_are_usage_errors(tmp_path):
    assert cli_main(["web", "export", str(tmp_path / "out"), "--registry", "ftp://x"]) == 2
    assert not (tmp_path / "out").exists()
    assert cli_main(["serve", "--db", f"sqlite:///{tmp_path / 'r.db'}",
                     "--cors-origin", "https://site.example/path"]) == 2


def test_exported_page_submits_to_its_registry(browser, tmp_path, flow_files):
    folder = tmp_path / "site"
    headers: dict[str, str] = {}  # HEADERS.txt's, once the export has written it
    # the site's server first: the registry must name its origin
    with static_server(folder, headers) as site:
        db = f"sqlite:///{tmp_path / 'registry.db'}"
        with uvicorn_server(db, tmp_path, pow_difficulty=8, cors_origins=[site]) as registry:
            reg = registry.base_url
            # into a sub-folder of the site: the page's paths are relative
            out = run_cli("web", "export", str(folder / "report"), "--registry", reg + "/")
            assert out.returncode == 0, out.stderr
            assert sorted(out.stdout.split()) == sorted([*FILES, "HEADERS.txt"])
            headers.update(documented_headers(folder / "report"))
            assert f"connect-src 'self' {reg};" in headers["Content-Security-Policy"]
            index = (folder / "report" / "index.html").read_text()
            assert f'<meta name="tidehash-registry" content="{reg}">' in index
            meta_csp = index.split('http-equiv="Content-Security-Policy" content="')[1]
            assert "frame-ancestors" not in meta_csp.split('"')[0]

            # the registry allows the site's origin, and no other; no Authorization
            pre = {"Access-Control-Request-Method": "POST",
                   "Access-Control-Request-Headers": "content-type"}
            ok = httpx.options(reg + "/v1/cases", headers={"Origin": site, **pre})
            assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == site
            other = httpx.options(reg + "/v1/cases",
                                  headers={"Origin": "http://elsewhere.example", **pre})
            assert "access-control-allow-origin" not in other.headers
            auth = httpx.options(reg + "/v1/list/snapshot",
                                 headers={"Origin": site, "Access-Control-Request-Method": "GET",
                                          "Access-Control-Request-Headers": "authorization"})
            # (Starlette answers a refused preflight 400, text/plain: the browser then
            # sends nothing)
            assert auth.status_code == 400
            assert "authorization" not in auth.headers.get("access-control-allow-headers", "")

            context = browser.new_context()
            try:
                capture = Capture(context)
                page, errors = open_page(context, site + "/report/")
                paths = [flow_files["photo-1.jpg"], flow_files["video.mp4"]]
                choose_and_wait(page, paths)
                case_id, secret = send(page)
                assert errors == []
            finally:
                context.close()
            status = httpx.post(reg + "/v1/cases/status",
                                json={"case_id": case_id, "secret": secret}).json()
    assert [i["kind"] for i in status["items"]] == ["image", "video"]
    assert [u for m, u, _b in capture.routed if m == "POST"] == [reg + "/v1/cases"]
    # the page and its worker came from the site, the hashes went to the registry only
    assert any(u.startswith(site + "/report/") and u.endswith(".wasm")
               for _m, u, _b in capture.routed)
    assert_only_hashes_sent(capture, {p.name: p for p in paths}, reg, secret, page_url=site)


def test_cors_is_off_unless_asked(registry_server):
    from tidehash.registry.server.settings import Settings

    r = httpx.options(registry_server.base_url + "/v1/cases",
                      headers={"Origin": "http://127.0.0.1:1",
                               "Access-Control-Request-Method": "POST"})
    assert not [h for h in r.headers if h.startswith("access-control-")]
    assert Settings(cors_origins=["https://a.example", "http://[::1]:8080"]).cors_origins == \
        ("https://a.example", "http://[::1]:8080")
    for bad in (["https://a.example/"], ["a.example"], "https://a.example", [1]):
        with pytest.raises(ValueError):
            Settings(cors_origins=bad)
