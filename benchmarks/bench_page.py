#!/usr/bin/env python
"""The page's hashing in a real browser: a 12 MP JPEG decoded and hashed by hashFile
(MD5 + SHA-256 + decode + PDQ, in the worker) against the browser's own decode of the
same file (createImageBitmap, and WebCodecs' ImageDecoder), and the wasm PDQ alone on
12 MP of pixels per build; the proof of work's SHA-256 rate (solveChallenge). Needs playwright (the test extra) and Debian's chromium.

    python benchmarks/bench_page.py [--repeat 5] [--width 4000 --height 3000]

Prints medians in ms. Starts a registry (tidehash serve, SQLite in a temporary folder)
on a free loopback port and stops it at the end.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import socket
import subprocess
import sys
import tempfile
import time

from _wrapper import prepare

prepare()

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

# ruff: noqa: E501 (the JavaScript below)
JS = """async ([b64, repeat, w, h]) => {
  const th = await import('/tidehash.js');
  await th.ready();
  const bin = atob(b64); const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const blob = new Blob([bytes], {type: 'image/jpeg'});
  const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const time = async (f) => { const xs = []; for (let i = 0; i < repeat; i++) {
      const t = performance.now(); await f(); xs.push(performance.now() - t); } return median(xs); };
  const out = {};
  out.createImageBitmap = await time(async () => (await createImageBitmap(blob)).close());
  out.ImageDecoder = await time(async () => { const d = new ImageDecoder({data: bytes, type: 'image/jpeg'});
      const {image} = await d.decode(); image.close(); d.close(); });
  out.hashFile = await time(() => th.hashFile(blob));
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
  const phases = [];
  for (let i = 0; i < repeat; i++) phases.push((await th.hashFile(blob, {timings: true})).timings);
  for (const k of Object.keys(phases[0])) out['hashFile phase: ' + k] = k === 'decoded_by' ? phases[0][k] : median(phases.map((p) => p[k]));
  return out;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--width", type=int, default=4000)
    ap.add_argument("--height", type=int, default=3000)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    rng = np.random.default_rng(0)
    h, w = args.height, args.width
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // w, yy * 255 // h, (xx ^ yy) & 255], -1).astype(np.int16)
    img += rng.integers(-20, 20, (h, w, 3), dtype=np.int16)
    buf = io.BytesIO()
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "tidehash.cli", "serve", "--db",
             f"sqlite:///{os.path.join(tmp, 'r.db')}", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium)
                page = browser.new_page()
                page.goto(base + "/")
                out = page.evaluate(JS, [base64.b64encode(data).decode(), args.repeat, w, h])
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=20)
    import tidehash

    record = out.pop("record")
    engine = tidehash.hash_file(data, algorithms=("pdq", "md5", "sha256"))
    print(f"{w}x{h} JPEG, {len(data)} bytes; median of {args.repeat} (ms):")
    for k, v in out.items():
        print(f"  {k:32s} {v:8.1f}" if isinstance(v, (int, float)) else f"  {k:32s} {v}")
    print(f"  hashFile / createImageBitmap: {out['hashFile'] / out['createImageBitmap']:.2f}x")
    same = (record["pdq"], record["quality"], record["sha256"]) == (
        engine.pdq.hex, engine.pdq.quality, engine.sha256)
    print(f"  record equals tidehash.hash_file's: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
