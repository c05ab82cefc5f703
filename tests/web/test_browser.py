"""The page in a real browser (Debian's Chromium, headless): the record ``hashFile``
gives equals ``tidehash.hash_file``'s for files in every format the engine reads, or the
page refuses the file with a message; the WebAssembly PDQ in the browser equals the
native kernels on random pixels (both builds); the files are served with a policy that
allows only the registry's own origin."""

from __future__ import annotations

import hashlib

import httpx
import numpy as np
import pytest
import videos

import tidehash
from tidehash import _native
from tidehash.image import decode, pil_to_array

from .conftest import CHROMIUM, Page
from .formats import EXACT, make_files

WASM = ("scalar", "simd128")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("page-files")
    return folder, make_files(folder, videos)


def engine_pixels_sha256(path) -> str:
    """SHA-256 of the pixels the engine hashes: grey bytes, or R, G, B (no alpha)."""
    px = decode(path)
    arr = px.array if px.array is not None else pil_to_array(px.image)
    if arr.ndim == 3:
        arr = arr[:, :, :3]
    return hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()


def engine_record(path) -> dict:
    r = tidehash.hash_file(path, algorithms=("pdq", "md5", "sha256")).to_dict()
    return {"kind": r["kind"], "pdq": r.get("pdq"), "quality": r.get("quality"),
            "md5": r["md5"], "sha256": r["sha256"]}


def test_every_format_is_covered(files):
    _, table = files
    prefixes = {name.split("-")[0].split(".")[0] for name in table}
    assert prefixes == {"jpeg", "png", "gif", "webp", "bmp", "tiff", "video"}


@pytest.mark.parametrize("wasm, decoder", [(None, None), ("scalar", None), ("simd128", None),
                                           (None, "webgl")])
def test_records_equal_the_engine(page, files, wasm, decoder):
    """decoder "webgl": every image through createImageBitmap + WebGL (what a browser
    without ImageDecoder runs; also every EXIF orientation neutralised in the bytes)."""
    folder, table = files
    mismatched, wrongly_refused, wrongly_hashed = {}, {}, {}
    options = {k: v for k, v in {"wasm": wasm, "decoder": decoder}.items() if v}
    for name, want in sorted(table.items()):
        data = (folder / name).read_bytes()
        # the pixels themselves too: a hash can survive a pixel or two off by one
        got = page.hash_bytes(data, {**options, "pixels": True})
        if want == EXACT:
            if "error" in got:
                wrongly_refused[name] = got["error"]
                continue
            record = dict(got["record"])
            pixels = record.pop("pixels_sha256", None)
            if record != engine_record(folder / name):
                mismatched[name] = (record, engine_record(folder / name))
            elif record["kind"] == "image" and pixels != engine_pixels_sha256(folder / name):
                mismatched[name] = "the pixels differ (the hashes agree)"
        elif "error" not in got:
            wrongly_hashed[name] = got["record"]
        else:
            assert want in got["error"], (name, got)
    assert (mismatched, wrongly_refused, wrongly_hashed) == ({}, {}, {})
    assert page.console_errors == []


def test_every_decoding_path_is_taken(page, files):
    """The records above went through each of the page's decoding paths: opaque images
    from ImageDecoder's RGB frames, JPEGs from its Y'CbCr planes (upsampled and converted
    in wasm), images with alpha (and the narrowest JPEGs) through WebGL."""
    folder, table = files
    paths: dict[str, set] = {}
    for name, want in table.items():
        if want != EXACT or name.endswith(".mp4"):
            continue
        got = page.hash_bytes((folder / name).read_bytes(), {"timings": True})
        paths.setdefault(got["record"]["timings"]["decoded_by"], set()).add(name)
    assert set(paths) == {"ImageDecoder", "ImageDecoder+ycbcr", "WebGL"}, paths
    assert "jpeg-4000x3000-420.jpg" in paths["ImageDecoder+ycbcr"]
    assert "jpeg-tiny-420.jpg" in paths["WebGL"] and "png-rgba-translucent.png" in paths["WebGL"]


def test_video_has_digests_and_no_pdq(page, files):
    folder, _ = files
    got = page.hash_bytes((folder / "video.mp4").read_bytes())["record"]
    assert got["kind"] == "video" and got["pdq"] is None and got["quality"] is None
    assert got == engine_record(folder / "video.mp4")


@pytest.mark.parametrize("data, words", [
    (b"", "empty file"),
    (b"hello, this is text, not a picture", "not a recognised image or video format"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "HEIC and AVIF"),
    (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf", "HEIC and AVIF"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9", "JPEG"),
    (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "PNG"),
])
def test_refusals_say_why(page, data, words):
    got = page.hash_bytes(data)
    assert "error" in got and got["name"] == "Error", got
    assert words in got["error"], got


def test_damaged_image_is_refused_not_hashed(page, files):
    folder, _ = files
    data = (folder / "jpeg-420.jpg").read_bytes()
    got = page.hash_bytes(data[: len(data) // 3])
    # a truncated JPEG: Pillow refuses it too (cannot decode image: image file is truncated)
    with pytest.raises(tidehash.DecodeError):
        tidehash.hash_file(data[: len(data) // 3])
    assert "error" in got, got


def test_not_a_blob_is_a_type_error(page):
    got = page.page.evaluate(
        "async () => { try { await th.hashFile('a string'); return null } "
        "catch (e) { return [e.constructor.name, e.message] } }")
    assert got == ["TypeError", "hashFile takes a File or a Blob"]


@pytest.mark.parametrize("wasm", WASM)
def test_pixels_equal_the_native_kernels(page, wasm):
    rng = np.random.default_rng(11)
    for h, w, c in [(64, 64, 3), (5, 5, 1), (4, 30, 3), (257, 130, 4), (120, 333, 1),
                    (700, 500, 3), (129, 1001, 4)]:
        arr = rng.integers(0, 256, (h, w, c), dtype=np.uint8)
        got = page.hash_pixels(arr.tobytes(), w, h, c, wasm)
        raw, quality = _native.pdq_hash_lines(arr.reshape(h, w * c), c, 0, False)
        assert (got["pdq"], got["quality"]) == (raw.hex(), quality), (wasm, h, w, c)


def test_the_page_loads_nothing_from_elsewhere(page):
    assert page.requests and all(u.startswith(page.base_url + "/") for u in page.requests)


def test_files_are_served_with_the_policy(registry_server):
    base = registry_server.base_url
    for path, media in [("/", "text/html"), ("/tidehash.js", "text/javascript"),
                        ("/tidehash-worker.js", "text/javascript"),
                        ("/hash-wasm.js", "text/javascript"),
                        ("/tidehash-scalar.wasm", "application/wasm"),
                        ("/tidehash-simd128.wasm", "application/wasm")]:
        r = httpx.get(base + path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith(media), path
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self' 'wasm-unsafe-eval'" in csp
        assert "unsafe-inline" not in csp and "http" not in csp
        assert "set-cookie" not in r.headers
        again = httpx.get(base + path, headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    assert httpx.get(base + "/static/../../etc/passwd").status_code == 404


def test_hashing_keeps_working_offline_after_ready(browser, registry_server, files):
    """Once ready() has loaded the worker and the wasm, the network can go away."""
    folder, _ = files
    context = browser.new_context()
    try:
        tab = Page(context.new_page(), registry_server.base_url)
        assert tab.page.evaluate("async () => (await th.ready()).wasm") == "simd128"
        context.set_offline(True)
        for name in ("jpeg-420.jpg", "png-rgba-translucent.png", "video.mp4"):
            got = tab.hash_bytes((folder / name).read_bytes())
            assert got.get("record") == engine_record(folder / name), (name, got)
    finally:
        context.close()


def test_records_equal_the_engine_without_webcrypto(browser, registry_server, files):
    """Where the page is not a secure context (plain HTTP on a name other than localhost)
    there is no WebCrypto: SHA-256 then comes from hash-wasm, MD5 from hash-wasm in both
    cases. The same records either way."""
    folder, _ = files
    port = registry_server.base_url.rsplit(":", 1)[1]
    b = browser.browser_type.launch(executable_path=CHROMIUM,
                                    args=["--host-resolver-rules=MAP tidehash.test 127.0.0.1"])
    try:
        tab = Page(b.new_page(), f"http://tidehash.test:{port}")
        assert tab.page.evaluate("() => [isSecureContext, typeof crypto.subtle]") == [
            False, "undefined"]
        for name in ("jpeg-4000x3000-420.jpg", "jpeg-420.jpg", "png-rgba-translucent.png",
                     "video.mp4"):
            got = tab.hash_bytes((folder / name).read_bytes())
            assert got.get("record") == engine_record(folder / name), (name, got)
        # (Chromium says once that it ignores the policy's COOP header on such an origin)
        assert [e for e in tab.console_errors if "Cross-Origin-Opener-Policy" not in e] == []
    finally:
        b.close()
