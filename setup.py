"""Build logic only (metadata lives in pyproject.toml).

One extension, tidehash._native: a thin Cython layer over C99 kernels in csrc/.
Per-ISA kernel files are compiled with their own flags and linked in as objects,
so -mavx2 / -mavx512* never leak into code that runs before CPU detection.
Everything else builds for the baseline (-march=x86-64).

TIDEHASH_SANITIZE=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer.
"""

import glob
import os
import platform
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
ARM64 = platform.machine().lower() in ("aarch64", "arm64")
SANITIZE = os.environ.get("TIDEHASH_SANITIZE", "") not in ("", "0")

COMMON = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-strict-aliasing",
          "-Wall", "-Wextra", "-Wno-unused-function"]
BASELINE = ["-march=x86-64"] if X86 else (["-march=armv8-a"] if ARM64 else [])
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
             "-fno-omit-frame-pointer", "-g", "-O1"]

ARCH = "x86" if X86 else ("arm64" if ARM64 else "")  # elsewhere: the portable files only


def kernel_sources(arch):
    """(source, flags) for this architecture from csrc/kernels.txt, the one list of
    kernel files (also read by .ci/fuzz and .ci/neon). Every file is compiled on its
    own: `any` files for the baseline, per-ISA ones with their own flags only."""
    sources = []
    with open("csrc/kernels.txt", encoding="utf-8") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            file_arch, path, flags = fields[0], fields[1], fields[2:]
            if file_arch == "any":
                sources.append((path, BASELINE + flags))
            elif file_arch == arch:
                sources.append((path, flags))
    return sources


C_SOURCES = kernel_sources(ARCH)


# an edit to any kernel header rebuilds every object (the per-ISA bodies are headers)
HEADERS = sorted(glob.glob("csrc/**/*.h", recursive=True))


class BuildExt(build_ext):
    def build_extension(self, ext):
        objects = []
        for src, flags in C_SOURCES:
            extra = ["-std=c99"] + COMMON + flags + (SAN_FLAGS if SANITIZE else [])
            objects += self.compiler.compile(
                [src], output_dir=self.build_temp, include_dirs=["csrc"],
                extra_postargs=extra, debug=self.debug, depends=HEADERS)
        ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


def extension():
    cflags = COMMON + BASELINE
    ldflags = []
    if SANITIZE:
        cflags = cflags + SAN_FLAGS
        ldflags = ["-fsanitize=address,undefined"]
    return Extension(
        "tidehash._native",
        sources=["src/tidehash/_native.pyx"],  # includes _native_*.pxi, cimports _native.pxd
        depends=(["csrc/kernels.txt"] + [src for src, _ in C_SOURCES] + HEADERS
                 + sorted(glob.glob("src/tidehash/_native*.px[di]"))),
        include_dirs=["csrc"],
        extra_compile_args=cflags,
        extra_link_args=ldflags,
    )


if sys.platform == "win32":
    raise SystemExit("tidehash builds with gcc or clang (Linux, macOS)")

setup(
    ext_modules=cythonize(
        [extension()],
        compiler_directives={"language_level": "3", "boundscheck": False,
                             "wraparound": False, "cdivision": True,
                             "embedsignature": True},
    ),
    cmdclass={"build_ext": BuildExt},
)
