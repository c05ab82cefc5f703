"""The person's flow driven in a real browser: files the tests make (photos, a plain
picture of low quality, an MP4, a file that is not a picture), the steps of the page
clicked through, and every request the browser context makes recorded with its body."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import videos
from PIL import Image

import tidehash

from .formats import _photo

# the registry's item shapes (README "Person routes"): what a body may hold, and nothing else
IMAGE_KEYS = {"kind", "pdq", "quality", "md5", "sha256"}
VIDEO_KEYS = {"kind", "md5", "sha256"}
HEX = {"pdq": 64, "md5": 32, "sha256": 64}


def make_flow_files(folder: Path) -> dict[str, Path]:
    """Two photos (JPEG, PNG), a plain grey picture (PDQ quality below 50), an MP4 and
    a text file: {name: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    Image.fromarray(_photo(300, 400, 21)).save(folder / "photo-1.jpg", quality=90)
    Image.fromarray(_photo(240, 180, 22)).save(folder / "photo-2.png")
    flat = np.full((200, 200, 3), 128, np.uint8)
    flat[100:, :, :] = 131
    Image.fromarray(flat).save(folder / "plain.png")
    videos.make_video(folder / "video.mp4", frames=20)
    (folder / "notes.txt").write_bytes(b"this is a text file, not a photo\n" * 4)
    for name in ("photo-1.jpg", "photo-2.png", "plain.png", "video.mp4", "notes.txt"):
        out[name] = folder / name
    return out


def engine_item(path: Path) -> dict:
    """The item tidehash.hash_file's record gives for the registry (no vPDQ: the page
    sends a video's digests only)."""
    r = tidehash.hash_file(path, algorithms=("pdq", "md5", "sha256")).to_dict()
    if r["kind"] == "image":
        return {k: r[k] for k in ("kind", "pdq", "quality", "md5", "sha256")}
    return {"kind": "video", "md5": r["md5"], "sha256": r["sha256"]}


class Capture:
    """Every request of a browser context (its pages and their workers): the event
    stream (context.on("request")) and the routed requests with their bodies
    (context.route("**")), which are then sent on unchanged."""

    def __init__(self, context):
        self.events: list[tuple[str, str, bytes | None]] = []
        self.routed: list[tuple[str, str, bytes | None]] = []
        context.on("request", lambda r: self.events.append((r.method, r.url, r.post_data_buffer)))

        def route(route):
            r = route.request
            self.routed.append((r.method, r.url, r.post_data_buffer))
            route.continue_()

        context.route("**", route)

    def all(self):
        return self.events + self.routed

    def bodies(self) -> list[tuple[str, bytes]]:
        return [(url, body) for _m, url, body in self.all() if body]


def assert_only_hashes_sent(capture: Capture, files: dict[str, Path], base_url: str,
                            secret: str | None = None, page_url: str | None = None) -> list[dict]:
    """No request carries any 64-byte window of any file; every body is a POST of JSON
    to a person route of the registry at ``base_url``, of the allowed shape; every
    request goes to the registry or the page's own server (``page_url``, when it is
    another); the secret is in no URL. Returns the bodies sent to POST /v1/cases."""
    datas = [p.read_bytes() for p in files.values()]
    cases = []
    for method, url, body in capture.all():
        assert url.startswith((base_url + "/", (page_url or base_url) + "/")), url
        if secret:
            assert secret not in url
        if not body:
            continue
        assert method == "POST" and url.startswith(base_url + "/"), (method, url)
        for data in datas:
            for i in range(0, max(0, len(body) - 63)):
                assert body[i:i + 64] not in data, (url, i)
        doc = json.loads(body)
        path = url[len(base_url):]
        if path == "/v1/cases":
            assert set(doc) <= {"pow", "items"} and doc["items"], doc
            if "pow" in doc:
                assert set(doc["pow"]) == {"challenge", "nonce"}
                assert re.fullmatch(r"[0-9]{1,20}", doc["pow"]["nonce"])
            for item in doc["items"]:
                assert set(item) == (IMAGE_KEYS if item["kind"] == "image" else VIDEO_KEYS), item
                for key, n in HEX.items():
                    if key in item:
                        assert re.fullmatch(f"[0-9a-f]{{{n}}}", item[key]), item
            cases.append(doc)
        elif path in ("/v1/cases/status", "/v1/cases/withdraw"):
            assert set(doc) == {"case_id", "secret"}, doc
        else:
            raise AssertionError(f"a body sent to {url}")
    return cases


def open_page(context, url: str, file_choosers: list | None = None):
    """A new page at `url`, once its handlers are in place. With `file_choosers`, every
    file chooser the page opens is appended to it: the listener is added before the page
    loads, so Chromium intercepts choosers long before a test opens one (Playwright's
    expect_file_chooser turns interception on only when it starts waiting, without
    waiting for the browser to confirm, and a key press sent at once can beat it)."""
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    if file_choosers is not None:
        page.on("filechooser", lambda chooser: file_choosers.append(chooser))
    page.goto(url)
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")
    return page, errors


def wait_for_file_chooser(page, choosers: list, timeout_ms: int = 30_000):
    """The first file chooser `open_page(..., file_choosers=choosers)` has seen."""
    for _ in range(timeout_ms // 50):
        if choosers:
            return choosers.pop(0)
        page.wait_for_timeout(50)  # lets Playwright dispatch the page's events
    raise AssertionError(f"no file chooser opened within {timeout_ms} ms")


def choose_and_wait(page, paths) -> None:
    """Choose files, wait until every one has been checked."""
    page.set_input_files("#files", [str(p) for p in paths])
    page.wait_for_function(
        "n => document.querySelectorAll('#file-list li.ready, #file-list li.refused').length >= n",
        arg=len(paths), timeout=60_000)


def file_states(page) -> dict[str, tuple[str, str]]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('#file-list li')]
        .map(li => [li.querySelector('.name').textContent,
                    [li.className, li.querySelector('.state').textContent]]))""")


def active_id(page) -> str:
    return page.evaluate("document.activeElement && document.activeElement.id")


def send(page) -> tuple[str, str]:
    """From the chosen files: continue, agree, send; the case id and secret shown."""
    page.click("#to-consent")
    page.check("#agree")
    page.click("#send")
    page.wait_for_selector("#step-done:not([hidden])", timeout=60_000)
    return page.text_content("#case-id"), page.text_content("#case-secret")


def no_horizontal_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")
