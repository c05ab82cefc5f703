"""tidehash submit / case status / withdraw: the person's side of the registry.

Files are hashed on this machine; only the hashes are sent. The secret a case gets is
printed once and read back from a file or stdin (never a command-line argument,
which other users of the machine can see in the process list)."""

from __future__ import annotations

import click

from ._common import err, expand_inputs, max_pixels_option, no_inputs
from ._registry import (
    make_client,
    print_json,
    read_secret,
    registry_option,
    reports_registry_errors,
    timeout_option,
)

KEEP_SAFE = ("keep the case id and the secret safe (they are in the output: save it, e.g. "
             "> case.json): the secret is shown only this once, and anyone who has both can "
             "see or withdraw the case. `tidehash case status` and `tidehash withdraw` read "
             "them back with --secret-file FILE.")

secret_file_option = click.option(
    "--secret-file", required=True, metavar="FILE",
    help="the file holding the case's secret (or the JSON `tidehash submit` printed); "
         "- reads it from stdin")
case_option = click.option(
    "--case", "case_id", default=None, metavar="ID",
    help="the case id (TH-XXXX-...); may be left out when the secret file is submit's JSON")


@click.command("submit")
@click.argument("paths", nargs=-1, required=True, metavar="FILE...")
@registry_option
@timeout_option
@max_pixels_option
@reports_registry_errors
def submit_command(paths, registry, timeout, max_pixels):
    """Send the hashes of FILE... to the registry as one case; the files are hashed
    here and never leave this machine. Images are sent as PDQ + MD5 + SHA-256,
    videos as MD5 + SHA-256 + vPDQ; folders are read recursively, - reads paths
    from stdin. Prints one JSON object: the case id, its secret (shown only this
    once) and the item number of each file. Nothing is sent when a file cannot be
    hashed (exit 1)."""
    from ..errors import DecodeError
    from ..registry.client import file_item

    client = make_client(registry, timeout=timeout)
    _, files = expand_inputs(paths)
    items, names, failed = [], [], 0
    for path in files:
        try:
            items.append(file_item(path, max_pixels=max_pixels))
            names.append(path)
        except DecodeError as exc:
            err(str(exc))
            failed += 1
        except OSError as exc:
            err(f"{path}: {exc.strerror or exc}")
            failed += 1
    if failed:
        err(f"nothing was sent: {failed} file(s) could not be hashed")
        return 1
    if not items:
        err(no_inputs(paths))
        return 1
    answer = client.submit(items)
    for item in answer.get("items", []):
        number = item.get("item")
        if isinstance(number, int) and 0 <= number < len(names):
            item["path"] = names[number]  # shown here only; never sent
    print_json(answer)
    err(KEEP_SAFE)
    return 0


@click.group("case")
def case_group():
    """A case sent with `tidehash submit`: its status."""


@case_group.command("status")
@registry_option
@case_option
@secret_file_option
@timeout_option
@reports_registry_errors
def case_status_command(registry, case_id, secret_file, timeout):
    """Print the case's items and their status (one JSON object): pending (not
    published yet), active, withdrawn (by you) or removed (by the registry)."""
    case_id, secret = read_secret(secret_file, case_id)
    print_json(make_client(registry, timeout=timeout).status(case_id, secret))
    return 0


@click.command("withdraw")
@registry_option
@case_option
@secret_file_option
@click.option("--item", "items", type=click.IntRange(min=0), multiple=True, metavar="N",
              help="withdraw only item N (repeat for more; the numbers submit printed); "
                   "default: the whole case")
@timeout_option
@reports_registry_errors
def withdraw_command(registry, case_id, secret_file, items, timeout):
    """Withdraw a case, or some of its items: they stop matching on every platform
    within one publication interval. Prints the case's status (one JSON object).
    Withdrawing again is harmless."""
    case_id, secret = read_secret(secret_file, case_id)
    client = make_client(registry, timeout=timeout)
    print_json(client.withdraw(case_id, secret, list(items) if items else None))
    return 0
