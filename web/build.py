"""Build the page's WebAssembly modules from the project's C kernels.

    python web/build.py          # writes src/tidehash/web/static/: tidehash-{scalar,simd128}.wasm
                                 # and copies the page's JS (web/src, web/vendor) beside them
    python web/build.py --check  # builds into a temporary folder, fails if anything differs

The sources are the `any` lines of csrc/kernels.txt (the list setup.py builds the
extension from, so a new kernel file cannot be left out of one build) plus
web/wasm/tidehash_web.c, the exported entry points. The float flags are setup.py's
own (COMMON: -ffp-contract=off -fno-fast-math ...); wasm32 has no fused multiply-add
outside relaxed SIMD, which is never enabled. Two builds:
  scalar    wasm32 MVP + the post-MVP features every current browser has and that
            change no arithmetic (bulk memory, sign extension, non-trapping float-to-int
            conversion, mutable globals);
  simd128   the same plus -msimd128 (fixed-width SIMD) and the `wasm-simd128` lines of
            kernels.txt: csrc/pdq/pdq_wasm128.c, the PDQ downscale 4 lines at a time;
            lane-wise IEEE single operations, so the same results.
The page picks simd128 when WebAssembly.validate accepts a SIMD probe.

Toolchain (Debian): clang-19, lld-19, wasi-libc. The output is reproducible: no
debug info, no paths, the producers and name sections stripped, so the shipped files
can be checked against a fresh build (tests/web/test_wasm_build.py).
"""

from __future__ import annotations

import argparse
import filecmp
import gzip
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "src", "tidehash", "web", "static")
# the page's own C: the exported entry points, and JPEG's YCbCr -> RGB as libjpeg does it
GLUE = [os.path.join("web", "wasm", "tidehash_web.c"), os.path.join("web", "wasm", "jpeg_yuv.c")]
SYSROOT = os.environ.get("TIDEHASH_WASI_SYSROOT", "/usr")
CLANG = os.environ.get("TIDEHASH_WASM_CLANG", "clang-19")
WASM_LD = os.environ.get("TIDEHASH_WASM_LD", "wasm-ld-19")

TARGET = "wasm32-wasi"
# the float and warning flags of the native build (setup.py COMMON), unchanged
COMMON = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing",
          "-Wall", "-Wextra", "-Wno-unused-function"]
FEATURES = ["-mbulk-memory", "-msign-ext", "-mnontrapping-fptoint", "-mmutable-globals",
            "-mno-relaxed-simd"]
VARIANTS = {"scalar": ["-mno-simd128"], "simd128": ["-msimd128"]}
EXPORTS = ["th_alloc", "th_free", "th_pdq", "th_pdq_dct", "th_ycbcr_to_rgbx", "th_pdq_ycbcr"]
# 16 MB to start; malloc grows it (memory.grow) up to the wasm32 limit of 4 GB
INITIAL_MEMORY = 16 << 20
# the page's other files, copied as they are: served name -> source in the tree
ASSETS = {
    "tidehash.js": "web/src/tidehash.js",
    "tidehash-worker.js": "web/src/tidehash-worker.js",
    "hash-wasm.js": "web/vendor/hash-wasm-4.13.0/hash-wasm.esm.min.js",
    "hash-wasm.LICENSE.txt": "web/vendor/hash-wasm-4.13.0/LICENSE",
    "index.html": "web/src/index.html",
    "page.js": "web/src/page.js",
    "page.css": "web/src/page.css",
}
MAX_MEMORY = 4 << 30


def kernel_sources(variant: str = "scalar") -> list[tuple[str, list[str]]]:
    """(file, its own flags) of one build, as csrc/kernels.txt lists them: its `any`
    lines (the portable files), and for simd128 its `wasm-simd128` lines too."""
    sources = []
    with open(os.path.join(ROOT, "csrc", "kernels.txt"), encoding="utf-8") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if fields[0] == "any" or (fields[0] == "wasm-simd128" and variant == "simd128"):
                sources.append((fields[1], fields[2:]))
    return sources


def run(cmd: list[str]) -> None:
    try:
        subprocess.run(cmd, cwd=ROOT, check=True)
    except FileNotFoundError:
        raise SystemExit(
            f"{cmd[0]} not found: the wasm build needs clang-19, lld-19 and wasi-libc "
            "(apt-get install clang-19 lld-19 wasi-libc)") from None


def build_variant(name: str, out_path: str, tmp: str) -> None:
    flags = ["--target=" + TARGET, "--sysroot=" + SYSROOT, "-std=c99", "-Icsrc",
             "-ffile-prefix-map=" + ROOT + "=.", *COMMON, *FEATURES, *VARIANTS[name]]
    objects = []
    for i, (src, own) in enumerate(kernel_sources(name) + [(g, []) for g in GLUE]):
        obj = os.path.join(tmp, f"{name}-{i}-{os.path.basename(src)}.o")
        run([CLANG, *flags, *own, "-c", src, "-o", obj])
        objects.append(obj)
    libdir = os.path.join(SYSROOT, "lib", TARGET)
    run([WASM_LD, "--no-entry", "--strip-all", "--gc-sections",
         *[f"--export={e}" for e in EXPORTS],
         f"--initial-memory={INITIAL_MEMORY}", f"--max-memory={MAX_MEMORY}",
         "-o", out_path, *objects, os.path.join(libdir, "libc.a")])
    strip_custom_sections(out_path)


def strip_custom_sections(path: str) -> None:
    """Drop custom sections (producers: the compiler's version string; target
    features): the module runs the same without them, and is then the same bytes
    whichever patch release of the toolchain built it."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\0asm\1\0\0\0":
        raise SystemExit(f"{path}: not a wasm module")
    out = bytearray(data[:8])
    pos = 8
    while pos < len(data):
        sid = data[pos]
        size, n = _leb(data, pos + 1)
        end = pos + 1 + n + size
        if sid != 0:
            out += data[pos:end]
        pos = end
    with open(path, "wb") as f:
        f.write(out)


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = n = 0
    while True:
        b = data[pos + n]
        value |= (b & 0x7F) << shift
        n += 1
        if not b & 0x80:
            return value, n
        shift += 7


def build(out_dir: str) -> dict[str, str]:
    """Writes the two modules and copies the other assets: {file name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in VARIANTS:
            path = os.path.join(out_dir, f"tidehash-{name}.wasm")
            build_variant(name, path, tmp)
            paths[os.path.basename(path)] = path
    for served, src in ASSETS.items():
        path = os.path.join(out_dir, served)
        shutil.copyfile(os.path.join(ROOT, src), path)
        paths[served] = path
    return paths


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="build afresh and fail if the shipped modules differ")
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default: the package's)")
    args = ap.parse_args(argv)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            fresh = build(tmp)
            stale = [n for n, p in fresh.items()
                     if not os.path.isfile(os.path.join(args.out, n))
                     or not filecmp.cmp(p, os.path.join(args.out, n), shallow=False)]
            extra = sorted(set(os.listdir(args.out)) - set(fresh))
            if stale or extra:
                print("shipped assets differ from a fresh build: " + ", ".join(stale + extra)
                      + " (run python web/build.py)", file=sys.stderr)
                return 1
        print("shipped wasm equals a fresh build")
        return 0
    for name, path in build(args.out).items():
        if not name.endswith(".wasm"):
            continue
        with open(path, "rb") as f:
            raw = f.read()
        print(f"{os.path.relpath(path, ROOT)}: {len(raw)} bytes, "
              f"{len(gzip.compress(raw, 9, mtime=0))} gzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
