"""The tidehash command line, on click.

Every command returns its exit code: 0 all went well, 1 some inputs failed (each
reported on stderr, the rest still processed), 2 usage errors, 130 interrupted.
Machine-readable output (JSON lines) when stdout is not a terminal, an aligned
table when it is."""

from __future__ import annotations

import os
import sys

import click

from .. import __version__
from ._common import check_interrupted, err, install_sigint_handler, restore_sigint_handler
from .cases import case_group, submit_command, withdraw_command
from .compare import compare_command
from .convert import convert_command
from .hashing import hash_command
from .index import index_group
from .info import bench_command, info_command
from .match import match_command
from .scan import scan_group
from .serve import admin_group, serve_command
from .sync import sync_command
from .web import web_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tidehash", message="%(prog)s %(version)s")
def cli():
    """tidehash: perceptual hashes (PDQ, pHash, vPDQ, MD5, SHA-256) of images and
    videos, hash lists and matching. Exit codes: 0 ok, 1 some inputs failed,
    2 usage error, 130 interrupted."""


for _command in (hash_command, compare_command, convert_command, index_group,
                 match_command, info_command, bench_command, scan_group,
                 # the registry's: tidehash.registry is imported inside them only
                 serve_command, admin_group, submit_command, case_group, withdraw_command,
                 sync_command, web_group):
    cli.add_command(_command)


def main(argv=None) -> int:
    """Run the CLI; returns the exit code (does not exit)."""
    from PIL import Image

    args = list(sys.argv[1:] if argv is None else argv)
    previous = install_sigint_handler()
    # tidehash's max_pixels (--max-pixels, checked from the header before any pixel
    # is decoded) is the command line's one bomb guard: Pillow's own check would
    # print a raw DecompressionBombWarning from 89 MP and refuse above 179 MP
    # whatever --max-pixels says
    pillow_limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        rv = cli.main(args=args, prog_name="tidehash", standalone_mode=False)
        check_interrupted()
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
        err(f"{name}{exc.strerror or exc}")
        return 1
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit
        restore_sigint_handler(previous)
    return rv if isinstance(rv, int) else 0
