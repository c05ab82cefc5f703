"""Screenshots of each step of the person's flow, for the README (run by hand, not in CI):

    PYTHONPATH=src python web/screenshots.py [--out docs/screenshots]

A real registry (``tidehash serve`` on a loopback port, SQLite in a temporary folder, the
proof of work at 25 bits instead of the default 20, so that the "Sending" step stays on
screen long enough to be taken; a run whose nonce came too soon is taken again)
and Debian's Chromium through Playwright, at phone width (360x740) and on a desktop
(1280x800), device scale 1. Each step is a full-page PNG, reduced to 64 colours."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from web.flow import make_flow_files  # noqa: E402  (tests/web/flow.py: the test files)

VIEWPORTS = {"phone": (360, 740), "desktop": (1280, 800)}
STEPS = ["choose", "files", "consent", "sending", "done", "status", "confirm", "withdrawn"]


def start_registry(folder: Path, port: int):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tidehash.cli", "serve", "--db", f"sqlite:///{folder / 'r.db'}",
         "--port", str(port), "--publish-delay", "0", "--pow-difficulty", "25"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1):
                return proc, base
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the registry did not start")


def shrink(path: Path) -> None:
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


def shoot(browser, base: str, files: dict, out: Path, name: str, size) -> bool:
    context = browser.new_context(viewport={"width": size[0], "height": size[1]},
                                  device_scale_factor=1)
    page = context.new_page()

    def snap(step: str) -> None:
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        path = out / f"{name}-{STEPS.index(step) + 1}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        shrink(path)
        print(path.relative_to(ROOT), path.stat().st_size)

    page.goto(base + "/")
    page.wait_for_function("() => document.documentElement.dataset.ready === 'true'")
    snap("choose")
    page.set_input_files("#files", [str(p) for p in files.values()])
    page.wait_for_function("n => document.querySelectorAll('#file-list li.ready, "
                           "#file-list li.refused').length >= n", arg=len(files), timeout=60_000)
    snap("files")
    page.click("#to-consent")
    page.check("#agree")
    snap("consent")
    page.click("#send")
    page.wait_for_function("() => document.getElementById('pow-progress').value >= 20",
                           timeout=120_000)
    snap("sending")
    if page.is_hidden("#step-sending"):  # solved before the picture was taken
        context.close()
        return False
    page.wait_for_selector("#step-done:not([hidden])", timeout=300_000)
    snap("done")
    case_id, secret = page.text_content("#case-id"), page.text_content("#case-secret")
    page.click("#nav-status")
    page.fill("#status-case", case_id)
    page.fill("#status-secret", secret)
    page.click("#status-check")
    page.wait_for_selector("#status-result:not([hidden])")
    snap("status")
    page.click("#withdraw")
    snap("confirm")
    page.click("#withdraw-yes")
    page.wait_for_function("() => document.getElementById('status-summary')"
                           ".textContent.startsWith('Done.')")
    snap("withdrawn")
    context.close()
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--port", type=int, default=8391)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_flow_files(Path(tmp) / "files")
        proc, base = start_registry(Path(tmp), args.port)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium)
                try:
                    for name, size in VIEWPORTS.items():
                        for _attempt in range(4):
                            if shoot(browser, base, files, out, name, size):
                                break
                        else:
                            raise SystemExit("the proof of work was always solved too soon")
                finally:
                    browser.close()
        finally:
            proc.terminate()
            proc.wait(20)
    total = sum(f.stat().st_size for f in out.glob("*.png"))
    print(f"{total} bytes in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
