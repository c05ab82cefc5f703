"""What the benchmarks record about the machine they ran on."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import sys
import tempfile


def cpu_model() -> str:
    """The CPU's model name (x86 "model name"; on Arm "Hardware" or "cpu model")."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            fields = {}
            for line in f:
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip().lower(), value.strip())
        for key in ("model name", "hardware", "cpu model", "processor"):
            value = fields.get(key, "")
            if value and not value.isdigit():
                return value
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def loadavg() -> str:
    """The 1, 5 and 15-minute load averages as "a/b/c" ("n/a" where unknown): a busy
    shared machine explains slow figures."""
    try:
        return "/".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"


def dist_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None when it is not installed."""
    try:
        from importlib.metadata import PackageNotFoundError, version
    except ImportError:  # pragma: no cover
        return None
    try:
        return version(name)
    except PackageNotFoundError:
        mod = sys.modules.get(name)
        return str(getattr(mod, "__version__", None)) if mod is not None else None


@contextlib.contextmanager
def scratch_dir(path: str | None, prefix: str):
    """``path`` (created if needed, kept afterwards) or, for None, a temporary folder
    removed when the block ends: where a benchmark writes its inputs."""
    if path:
        os.makedirs(path, exist_ok=True)
        yield path
        return
    tmp = tempfile.mkdtemp(prefix=prefix)
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
