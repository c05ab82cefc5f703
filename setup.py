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

# (source, flags): every C99 kernel file is compiled on its own, with its own flags.
# The per-ISA ones are only reached after CPUID + XGETBV say the CPU runs them.
C_SOURCES = [
    ("csrc/cpu/cpu.c", BASELINE),
    ("csrc/pdq/pdq_common.c", BASELINE),
    ("csrc/pdq/pdq_scalar.c", BASELINE),
    ("csrc/hamming/hamming_common.c", BASELINE),
    ("csrc/hamming/hamming_scalar.c", BASELINE),
    ("csrc/mih/mih_scalar.c", BASELINE),
    ("csrc/phash/phash_common.c", BASELINE),
    ("csrc/phash/phash_scalar.c", BASELINE),
    ("csrc/formats/hexlines.c", BASELINE),
    ("csrc/formats/dedup.c", BASELINE),
] + ([
    ("csrc/pdq/pdq_avx2.c", ["-mavx2"]),
    ("csrc/pdq/pdq_avx512.c", ["-mavx2", "-mavx512f", "-mavx512bw", "-mavx512vl",
                               "-mavx512dq"]),
    ("csrc/hamming/hamming_avx2.c", ["-mavx2", "-mpopcnt"]),
    ("csrc/hamming/hamming_avx512.c", ["-mavx2", "-mpopcnt", "-mavx512f", "-mavx512bw",
                                       "-mavx512vl", "-mavx512dq", "-mavx512vpopcntdq"]),
    ("csrc/mih/mih_popcnt.c", ["-mpopcnt"]),
    ("csrc/phash/phash_avx2.c", ["-mavx2"]),
    ("csrc/phash/phash_avx512.c", ["-mavx2", "-mavx512f", "-mavx512bw", "-mavx512vl",
                                   "-mavx512dq"]),
] if X86 else []) + ([
    ("csrc/hamming/hamming_neon.c", []),  # Advanced SIMD is baseline on arm64
    ("csrc/mih/mih_popcnt.c", []),
] if ARM64 else [])


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
        sources=["src/tidehash/_native.pyx"],
        depends=[src for src, _ in C_SOURCES] + HEADERS,
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
