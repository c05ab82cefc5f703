#!/usr/bin/env python
"""The page's hashing in a real browser: a 12 MP JPEG decoded and hashed by hashFile
(MD5 + SHA-256 + decode + PDQ, in the worker) against the browser's own decode of the
same file (createImageBitmap, and WebCodecs' ImageDecoder), and the wasm PDQ alone on
12 MP of pixels per build; the proof of work's SHA-256 rate (solveChallenge). Needs playwright (the test extra) and Debian's chromium.

    python benchmarks/bench_page.py [--repeat 5] [--width 4000 --height 3000] [--baseline main]

Prints medians in ms. Starts a registry (tidehash serve, SQLite in a temporary folder)
on a free loopback port and stops it at the end. With --baseline REF, the page's files
as they were at git commit REF (src/tidehash/web/static) are served from a second
loopback origin and timed in a second tab of the same browser, the rounds alternating
between the two, so that both columns see the same load: the ratio hashFile /
createImageBitmap of each is comparable (printed as the ratio of the medians and as the
median of the rounds' own ratios).
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import io
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

from _wrapper import prepare

prepare()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STATIC = "src/tidehash/web/static"

# ruff: noqa: E501 (the JavaScript below)
SETUP = """async (b64) => {
  const th = await import('/tidehash.js');
  await th.ready();
  const bin = atob(b64); const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  window.bench = {th, bytes, blob: new Blob([bytes], {type: 'image/jpeg'})};
}"""

# one round: each way of decoding once, in the same order every round
ROUND = """async () => {
  const {th, bytes, blob} = window.bench;
  const out = {};
  let t = performance.now();
  (await createImageBitmap(blob)).close();
  out.createImageBitmap = performance.now() - t;
  t = performance.now();
  const d = new ImageDecoder({data: bytes, type: 'image/jpeg'});
  const {image} = await d.decode(); image.close(); d.close();
  out.ImageDecoder = performance.now() - t;
  t = performance.now();
  const record = await th.hashFile(blob, {timings: true});
  out.hashFile = performance.now() - t;
  for (const [k, v] of Object.entries(record.timings)) out['hashFile phase: ' + k] = v;
  return out;
}"""

EXTRA = """async ([repeat, w, h]) => {
  const {th, blob} = window.bench;
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const time = async (f) => { const xs = []; for (let i = 0; i < repeat; i++) {
      const t = performance.now(); await f(); xs.push(performance.now() - t); } return median(xs); };
  const out = {};
  out.hashFile_scalar = await time(() => th.hashFile(blob, {wasm: 'scalar'}));
  const px = new Uint8Array(w * h * 4);
  for (let i = 0; i < px.length; i++) px[i] = (i * 2654435761) >>> 24;
  out.pdq_rgba_simd128 = await time(() => th.hashPixels(px, w, h, 4, {wasm: 'simd128'}));
  out.pdq_rgba_scalar = await time(() => th.hashPixels(px, w, h, 4, {wasm: 'scalar'}));
  // the proof of work (solveChallenge, in the worker): SHA-256 per second over 8 challenges
  let tries = 0; const t0 = performance.now();
  for (let i = 0; i < 8; i++) tries += Number(await th.solveChallenge('bench.' + i + '.' + 'x'.repeat(120), 18)) + 1;
  out['proof of work: SHA-256 / ms'] = tries / (performance.now() - t0);
  out.record = await th.hashFile(blob);
  return out;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def export_static(ref: str, folder: str) -> None:
    """The page's shipped files as they were at git commit `ref`, into `folder`."""
    names = subprocess.run(["git", "-C", ROOT, "ls-tree", "--name-only", f"{ref}:{STATIC}"],
                           check=True, capture_output=True, text=True).stdout.split()
    for name in names:
        blob = subprocess.run(["git", "-C", ROOT, "show", f"{ref}:{STATIC}/{name}"],
                              check=True, capture_output=True).stdout
        with open(os.path.join(folder, name), "wb") as f:
            f.write(blob)


class StaticHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *args) -> None:
        pass


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) >> 1]


def make_jpeg(w: int, h: int) -> bytes:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx ^ yy) & 255], -1).astype(np.int16)
    img += rng.integers(-20, 20, (h, w, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def run_browser(args, data: bytes, base: str, baseline_url: str | None):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=args.chromium)
        try:
            pages = {"this": browser.new_page()}
            pages["this"].goto(base + "/")
            if baseline_url:
                pages[args.baseline] = browser.new_page()
                pages[args.baseline].goto(baseline_url + "/index.html")
            b64 = base64.b64encode(data).decode()
            for page in pages.values():
                page.evaluate(SETUP, b64)
            rounds: dict[str, list[dict]] = {name: [] for name in pages}
            for i in range(args.repeat):
                # which tab goes first alternates, so that neither always follows the other
                for name in list(pages)[:: 1 if i % 2 == 0 else -1]:
                    pages[name].bring_to_front()
                    rounds[name].append(pages[name].evaluate(ROUND))
            pages["this"].bring_to_front()
            extra = pages["this"].evaluate(EXTRA, [args.repeat, args.width, args.height])
        finally:
            browser.close()
    return rounds, extra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--baseline", metavar="REF",
                    help="also time the page's files at this git commit, side by side")
    args = ap.parse_args()

    w, h = args.width, args.height
    data = make_jpeg(w, h)
    with tempfile.TemporaryDirectory() as tmp:
        static_server = None
        baseline_url = None
        if args.baseline:
            folder = os.path.join(tmp, "baseline")
            os.mkdir(folder)
            export_static(args.baseline, folder)
            static_server = http.server.ThreadingHTTPServer(
                ("127.0.0.1", 0), functools.partial(StaticHandler, directory=folder))
            threading.Thread(target=static_server.serve_forever, daemon=True).start()
            baseline_url = f"http://127.0.0.1:{static_server.server_address[1]}"
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tidehash.cli", "serve", "--db",
             f"sqlite:///{os.path.join(tmp, 'r.db')}", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            rounds, extra = run_browser(args, data, f"http://127.0.0.1:{port}", baseline_url)
        finally:
            server.terminate()
            server.wait(timeout=20)
            if static_server:
                static_server.shutdown()
                static_server.server_close()
    import tidehash

    record = extra.pop("record")
    engine = tidehash.hash_file(data, algorithms=("pdq", "md5", "sha256"))
    names = list(rounds)
    print(f"{w}x{h} JPEG, {len(data)} bytes; median of {args.repeat} (ms); CPU: {cpu_name()}")
    print(f"  {'':38s}" + "".join(f"{n:>12s}" for n in names))
    keys = list(dict.fromkeys(k for n in names for k in rounds[n][0]))
    for key in keys:
        cells = []
        for n in names:
            values = [r[key] for r in rounds[n] if key in r]
            if not values:
                cells.append(f"{'-':>12s}")
            elif isinstance(values[0], str):
                cells.append(f"{values[0]:>12s}")
            else:
                cells.append(f"{median(values):12.1f}")
        print(f"  {key:38s}" + "".join(cells))
    ratios = {n: [r["hashFile"] / r["createImageBitmap"] for r in rounds[n]] for n in names}
    print(f"  {'hashFile / createImageBitmap':38s}" + "".join(
        f"{median([r['hashFile'] for r in rounds[n]]) / median([r['createImageBitmap'] for r in rounds[n]]):11.2f}x"
        for n in names))
    print(f"  {'  the same, median of the rounds':38s}" + "".join(
        f"{median(ratios[n]):11.2f}x" for n in names))
    print(f"  {'hashFile / ImageDecoder':38s}" + "".join(
        f"{median([r['hashFile'] for r in rounds[n]]) / median([r['ImageDecoder'] for r in rounds[n]]):11.2f}x"
        for n in names))
    for k, v in extra.items():
        print(f"  {k:38s}{v:12.1f}")
    same = (record["pdq"], record["quality"], record["md5"], record["sha256"]) == (
        engine.pdq.hex, engine.pdq.quality, engine.md5, engine.sha256)
    print(f"  record equals tidehash.hash_file's: {same}")
    return 0


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{os.cpu_count()} cores"


if __name__ == "__main__":
    sys.exit(main())
