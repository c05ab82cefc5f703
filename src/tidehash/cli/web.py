"""tidehash web export: the person's page as static files for another web server."""

from __future__ import annotations

import click

from ._common import err


@click.group("web")
def web_group():
    """The person's web page (what the registry serves at /)."""


@web_group.command("export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--registry", default=None, metavar="URL",
              help="the registry the page sends to (https://...); default: the origin "
                   "that serves the page")
def export_command(out_dir, registry):
    """Write the page (index.html, its script and style, /tidehash.js, the worker, the
    wasm builds, hash-wasm) into DIR, pointed at --registry, with HEADERS.txt: the
    headers the web server must send. The registry must allow the page's origin
    (tidehash serve --cors-origin ORIGIN)."""
    from ..web.export import export

    try:
        names = export(out_dir, registry)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--registry") from None
    except OSError as exc:
        err(f"tidehash web export: {exc}")
        raise click.exceptions.Exit(1) from None
    for name in names:
        click.echo(name)
    return 0
