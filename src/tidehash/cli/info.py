"""tidehash info and tidehash bench."""

from __future__ import annotations

import json
import sys

import click

from .. import __version__
from ._common import (
    stdout_is_terminal,
)


@click.command("info")
@click.option("--format", "fmt", type=click.Choice(("json", "table")), default=None,
              help="default: json when stdout is not a terminal, table when it is")
@click.option("--json", "as_json", is_flag=True, help="the same as --format json")
def info_command(fmt, as_json):
    """Version, CPU features, the SIMD level in use, the available ones, build flags."""
    from ..cpu import cpu_info

    info = {"version": __version__, **cpu_info()}
    try:
        import sysconfig
        # the flags Python's own build passes to extensions; the per-ISA kernel flags
        # are fixed in setup.py
        info["build"] = {"python": sys.version.split()[0],
                         "python_cflags": sysconfig.get_config_var("CFLAGS") or ""}
    except Exception:  # noqa: BLE001 - informational only
        pass
    if as_json:
        fmt = "json"
    if fmt is None:
        fmt = "table" if stdout_is_terminal() else "json"
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        elif isinstance(value, dict):
            value = "; ".join(f"{k} {v}" for k, v in value.items())
        click.echo(f"{key + ':':<16} {value if value is not None else '-'}")
    return 0


@click.command("bench", context_settings={"ignore_unknown_options": True,
                                        "allow_extra_args": True,
                                        "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_command(args):
    """Benchmarks on this hardware: tidehash bench
    hash|search|video|fast|digest|formats|phash|registry|matcher|robustness|scan [--help]."""
    from ..bench.__main__ import main as bench_main

    return bench_main(list(args))
