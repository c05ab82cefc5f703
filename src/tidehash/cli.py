"""The tidehash command line, on click.

Every command returns its exit code: 0 all went well, 1 some inputs failed (each
reported on stderr, the rest still processed), 2 usage errors, 130 interrupted.
Machine-readable output (JSON lines) when stdout is not a terminal, an aligned
table when it is."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator

import click

from . import __version__
from .files import ALGORITHMS, check_algorithms, hash_files
from .image import DEFAULT_MAX_PIXELS

# more inputs than this (on a terminal) get a progress bar
PROGRESS_MIN_INPUTS = 4
HASH_FORMATS = ("jsonl", "csv", "pdq-csv", "hex", "pytx", "table")
CSV_FIELDS = ("path", "kind", "pdq", "quality", "phash", "md5", "sha256", "error")


def _err(message: str) -> None:
    click.echo(f"tidehash: {message}", err=True)


def _stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


# ----------------------------------------------------------------------------- output
class AtomicOutput:
    """Text output to a path, written to a temporary file in the same folder and
    renamed into place only when the command completes: Ctrl-C, a crash or an
    exception leaves neither a partial file nor the temporary one. ``-`` or None
    is stdout (written as it goes)."""

    def __init__(self, path: str | None):
        self.path = None if path in (None, "-") else os.fspath(path)
        self._tmp: str | None = None
        self.stream = None

    def __enter__(self):
        if self.path is None:
            self.stream = sys.stdout
            return self.stream
        directory = os.path.dirname(os.path.abspath(self.path))
        base = os.path.basename(self.path)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
        self.stream = os.fdopen(fd, "w", encoding="utf-8", newline="")
        return self.stream

    def __exit__(self, exc_type, exc, tb):
        if self.path is None:
            self.stream.flush()
            return False
        try:
            if exc_type is None:
                self.stream.flush()
                os.fsync(self.stream.fileno())
                self.stream.close()
                os.replace(self._tmp, self.path)
                self._tmp = None
        finally:
            if self._tmp is not None:
                try:
                    self.stream.close()
                finally:
                    try:
                        os.unlink(self._tmp)
                    except OSError:
                        pass
        return False


class Progress:
    """A one-line bar with rate and ETA on stderr, drawn only when stderr is a
    terminal and there are more than a few inputs (never when piped)."""

    def __init__(self, total: int | None, label: str = "hashing"):
        self.total = total
        self.label = label
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self.enabled = (sys.stderr.isatty() and total is not None
                        and total >= PROGRESS_MIN_INPUTS)

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and self.done < self.total:
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * self.done / self.total)
        bar = "#" * filled + "-" * (width - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {self.done}/{self.total} "
                         f"{rate:.1f}/s ETA {eta:.0f}s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


# ----------------------------------------------------------------------------- inputs
def _walk(folder: str) -> Iterator[str]:
    """Files under ``folder``, recursively, in sorted order; hidden files and folders
    (names starting with '.') are skipped."""
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def _stdin_paths() -> Iterator[str]:
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        line = line.rstrip("\r\n")
        if line:
            yield line


def expand_inputs(paths) -> tuple[list[str] | None, Iterator[str]]:
    """The files named by ``paths`` (files, folders, ``-`` for a list on stdin).
    Returns (the list when known up front, an iterator over them)."""
    if "-" in paths:
        def gen():
            for p in paths:
                if p == "-":
                    yield from _stdin_paths()
                elif os.path.isdir(p):
                    yield from _walk(p)
                else:
                    yield p
        return None, gen()
    out: list[str] = []
    for p in paths:
        out.extend(_walk(p) if os.path.isdir(p) else [p])
    return out, iter(out)


def _parse_algorithms(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    try:
        check_algorithms(names)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return names


# ----------------------------------------------------------------------------- writers
class HashWriter:
    """Writes FileHashes records in one of HASH_FORMATS."""

    def __init__(self, out, fmt: str):
        self.out = out
        self.fmt = fmt
        self._csv = None
        if fmt == "csv":
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(CSV_FIELDS)
        elif fmt == "table":
            out.write(f"{'KIND':<5}  {'QUAL':>4}  {'PDQ / vPDQ':<64}  PATH\n")

    def write(self, rec) -> None:
        fmt, out = self.fmt, self.out
        if fmt == "jsonl":
            out.write(json.dumps(rec.to_dict()) + "\n")
        elif fmt == "csv":
            d = rec.to_dict()
            if rec.kind == "video" and rec.vpdq is not None:
                d["pdq"] = ""
            self._csv.writerow(["" if d.get(k) is None else d.get(k) for k in CSV_FIELDS])
        elif fmt in ("hex", "pytx", "pdq-csv"):
            if rec.pdq is None:
                return  # errors are on stderr; videos have no single PDQ
            if fmt == "hex":
                out.write(rec.pdq.hex + "\n")
            elif fmt == "pytx":
                out.write(f"pdq {rec.pdq.hex}\n")
            else:
                buf = io.StringIO()
                csv.writer(buf, lineterminator="\n").writerow(
                    [rec.pdq.hex, rec.pdq.quality, rec.path])
                out.write(buf.getvalue())
        else:
            self._table_row(rec)

    def _table_row(self, rec) -> None:
        if rec.error is not None:
            self.out.write(f"{'error':<5}  {'':>4}  {rec.error:<64}  {rec.path}\n")
            return
        extra = "  ".join(f"{k}={getattr(rec, k)}" for k in ("phash", "md5", "sha256")
                          if getattr(rec, k) is not None)
        if rec.pdq is not None:
            value, qual = rec.pdq.hex, str(rec.pdq.quality)
        elif rec.vpdq is not None:
            value, qual = f"{len(rec.vpdq)} frames", ""
        else:
            value, qual = "", ""
        kind = rec.kind or ""
        line = f"{kind:<5}  {qual:>4}  {value:<64}  {rec.path}"
        if extra:
            line += "  " + extra
        if rec.warning:
            line += f"  (warning: {rec.warning})"
        self.out.write(line + "\n")


# ----------------------------------------------------------------------------- commands
@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tidehash", message="%(prog)s %(version)s")
def cli():
    """tidehash: perceptual hashes (PDQ, pHash, vPDQ, MD5, SHA-256) of images and
    videos, hash lists and matching. Exit codes: 0 ok, 1 some inputs failed,
    2 usage error, 130 interrupted."""


@cli.command("hash")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--algo", "algorithms", default="pdq", show_default=True,
              callback=lambda ctx, p, v: _parse_algorithms(v),
              help=f"comma-separated, of {','.join(ALGORITHMS)}")
@click.option("--dihedral", is_flag=True, help="also the 8 dihedral PDQ hashes")
@click.option("--fast", is_flag=True, help="decode large JPEGs scaled down (a few bits off)")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="threads (default: CPUs)")
@click.option("--seconds-per-hash", type=click.FloatRange(min=0, min_open=True), default=1.0,
              show_default=True, help="video: one frame hashed every S seconds")
@click.option("--max-pixels", type=click.IntRange(min=1), default=DEFAULT_MAX_PIXELS,
              show_default=True, help="refuse larger images")
@click.option("--format", "fmt", type=click.Choice(HASH_FORMATS), default=None,
              help="default: jsonl when stdout is not a terminal (or with -o), "
                   "table when it is")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="write here (atomically: complete or not at all)")
def hash_command(paths, algorithms, dihedral, fast, workers, seconds_per_hash, max_pixels,
                 fmt, output):
    """Hash files, folders (recursive, sorted; hidden names skipped) and, for '-',
    the paths listed one a line on stdin. Images and videos are told apart by
    content. One record per input, in input order."""
    if dihedral and "pdq" not in algorithms:
        raise click.UsageError("--dihedral needs pdq in --algo")
    if fmt is None:
        fmt = "table" if output in (None, "-") and _stdout_is_terminal() else "jsonl"
    known, sources = expand_inputs(paths)
    progress = Progress(len(known) if known is not None else None)
    failed = 0
    try:
        with AtomicOutput(output) as out:
            writer = HashWriter(out, fmt)
            for rec in hash_files(sources, algorithms=algorithms, workers=workers,
                                  dihedral=dihedral, fast=fast,
                                  seconds_per_hash=seconds_per_hash, max_pixels=max_pixels):
                progress.step()
                if rec.error is not None:
                    failed += 1
                    _err(f"{rec.path}: {rec.error}")
                elif rec.warning:
                    _err(f"{rec.path}: warning: {rec.warning}")
                writer.write(rec)
    finally:
        progress.close()
    return 1 if failed else 0


@cli.command("info")
@click.option("--json", "as_json", is_flag=True, help="JSON even on a terminal")
def info_command(as_json):
    """Version, CPU features, the SIMD level in use, the available ones, build flags."""
    from .cpu import cpu_info

    info = {"version": __version__, **cpu_info()}
    try:
        import sysconfig
        info["build"] = {"python": sys.version.split()[0],
                         "cflags": sysconfig.get_config_var("CFLAGS") or ""}
    except Exception:  # noqa: BLE001 - informational only
        pass
    if as_json or not _stdout_is_terminal():
        click.echo(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        elif isinstance(value, dict):
            value = "; ".join(f"{k} {v}" for k, v in value.items())
        click.echo(f"{key + ':':<16} {value if value is not None else '-'}")
    return 0


@cli.command("bench", context_settings={"ignore_unknown_options": True,
                                        "allow_extra_args": True,
                                        "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_command(args):
    """Benchmarks on this hardware: tidehash bench search|video [--help]."""
    from .bench.__main__ import main as bench_main

    return bench_main(list(args))


def main(argv=None) -> int:
    """Run the CLI; returns the exit code (does not exit)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        rv = cli.main(args=args, prog_name="tidehash", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        if isinstance(exc, click.UsageError) and exc.ctx is None:
            # errors found while parsing a subcommand's options carry no context
            name = args[0] if args and args[0] in cli.commands else "COMMAND"
            click.echo(f"Usage: tidehash {name} [OPTIONS] ...\n"
                       f"Try 'tidehash {name} --help' for help.\n", err=True)
        exc.show()
        return exc.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        try:
            sys.stderr.write("\ntidehash: interrupted\n")
        except OSError:
            pass
        return 130
    except BrokenPipeError:
        # the reader went away (| head): silence the flush at exit
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except OSError:
            pass
        return 1
    except OSError as exc:  # an output that cannot be written, a list that cannot be read
        name = f"{exc.filename}: " if exc.filename else ""
        _err(f"{name}{exc.strerror or exc}")
        return 1
    return rv if isinstance(rv, int) else 0


if __name__ == "__main__":
    sys.exit(main())
