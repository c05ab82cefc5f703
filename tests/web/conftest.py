"""The page's browser tests run Debian's Chromium (/usr/bin/chromium) through pip
playwright, never a browser playwright downloads; the page is served over HTTP on
loopback by a real registry (uvicorn in its own process). A missing Chromium fails."""

from __future__ import annotations

import base64
import os

import pytest
from registry.api_helpers import uvicorn_server

CHROMIUM = os.environ.get("TIDEHASH_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page-registry")
    with uvicorn_server(f"sqlite:///{folder / 'registry.db'}", folder) as server:
        yield server


@pytest.fixture(scope="session")
def flow_files(tmp_path_factory):
    """The person's flow's files (tests/web/flow.py): photos, a plain picture, an MP4,
    a text file."""
    from .flow import make_flow_files

    return make_flow_files(tmp_path_factory.mktemp("flow-files"))


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.isfile(CHROMIUM), (
        f"{CHROMIUM} is missing: the page's tests need Debian's chromium (apt-get install "
        "chromium; .ci/run installs it)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A browser tab on the registry's page, with the module imported."""

    def __init__(self, page, base_url: str):
        self.page = page
        self.base_url = base_url
        self.requests: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        page.goto(base_url + "/")
        page.evaluate("async () => { window.th = await import('/tidehash.js'); }")

    def hash_bytes(self, data: bytes, options: dict | None = None) -> dict:
        """{"record": ...} or {"error": message, "name": error class} from hashFile."""
        return self.page.evaluate(
            """async ([b64, options]) => {
                const bin = atob(b64);
                const bytes = new Uint8Array(bin.length);
                for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
                try {
                    return {record: await th.hashFile(new Blob([bytes]), options || undefined)};
                } catch (e) {
                    return {error: e.message, name: e.constructor.name};
                }
            }""", [base64.b64encode(data).decode(), options])

    def hash_pixels(self, data: bytes, width: int, height: int, channels: int,
                    wasm: str) -> dict:
        return self.page.evaluate(
            """async ([b64, w, h, c, wasm]) => {
                const bin = atob(b64);
                const px = new Uint8Array(bin.length);
                for (let i = 0; i < bin.length; i++) px[i] = bin.charCodeAt(i);
                return await th.hashPixels(px, w, h, c, {wasm});
            }""", [base64.b64encode(data).decode(), width, height, channels, wasm])


@pytest.fixture(scope="module")
def page(browser, registry_server):
    context = browser.new_context()
    try:
        yield Page(context.new_page(), registry_server.base_url)
    finally:
        context.close()
