"""What the benchmarks record about the machine they ran on."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import platform
import shutil
import subprocess
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


# --------------------------------------------------------------------------- memory, load, commit
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_bytes() -> int | None:
    """Resident set size of this process, or None if it cannot be read."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
        return int(psutil.Process().memory_info().rss)
    except Exception:
        return None


def peak_rss_bytes() -> int | None:
    try:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) if sys.platform == "darwin" else int(peak) * 1024
    except Exception:
        return None


try:
    _LIBC = ctypes.CDLL("libc.so.6")
    _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
except (OSError, AttributeError):
    _LIBC = None


def mem_available() -> int | None:
    """Memory available for new allocations without swapping, or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:
        return None


def release_memory() -> None:
    """Collect garbage and give freed heap back to the OS, so RSS deltas mean something."""
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)


def loadavg_values():
    try:
        return list(os.getloadavg())
    except (OSError, AttributeError):
        return None


def git_commit() -> str | None:
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=here, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
