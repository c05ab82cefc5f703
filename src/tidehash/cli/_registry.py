"""What the registry commands share: --registry, secrets and tokens read from files
(or stdin, never from the command line), and registry errors reported in one line.

Nothing here imports tidehash.registry at import time: `tidehash --help` stays fast,
and the engine's commands run without it."""

from __future__ import annotations

import functools
import json
import os
import sys

import click

from ._common import FiniteFloatRange, err

#: the database `tidehash serve` and `tidehash admin` use when --db is not given
DEFAULT_DB_FILE = "tidehash-registry.db"

registry_option = click.option(
    "--registry", "registry", required=True, metavar="URL",
    help="the registry's address, e.g. https://registry.example.org")
timeout_option = click.option(
    "--timeout", type=FiniteFloatRange(min=0.1), default=30.0, show_default=True,
    help="seconds to wait for the registry on each request")


def db_url(value: str | None) -> str:
    """--db as given, or ./tidehash-registry.db as an SQLite URL (absolute, so the
    message naming it says where it is)."""
    if value:
        return value
    return "sqlite:///" + os.path.abspath(DEFAULT_DB_FILE)


def read_small_file(path: str, what: str, limit: int = 1 << 16) -> str:
    """The text of ``path`` (``-``: stdin), for a secret or a token; a usage error
    (exit 2) naming the file when it cannot be read."""
    try:
        if path == "-":
            text = sys.stdin.read(limit + 1)
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read(limit + 1)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise click.UsageError(f"{what} {path}: {reason}") from None
    if len(text) > limit:
        raise click.UsageError(f"{what} {path}: too large for a {what.split()[0]}")
    return text


def _json_or_word(text: str, field: str) -> tuple[str | None, dict | None]:
    """(the word, None) for a file holding one word; (obj[field], obj) for the JSON
    object a tidehash command printed (submit's output, admin platform add's)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped.splitlines()[0] if "\n" in stripped else stripped)
        except ValueError:
            return None, None
        if isinstance(obj, dict) and isinstance(obj.get(field), str):
            return obj[field], obj
        return None, None
    words = stripped.split()
    return (words[0] if len(words) == 1 else None), None


def read_secret(path: str, case: str | None) -> tuple[str, str]:
    """(case id, secret) from --secret-file (the secret alone, or the JSON object
    `tidehash submit` printed) and --case."""
    secret, obj = _json_or_word(read_small_file(path, "secret file"), "secret")
    if not secret:
        raise click.UsageError(f"secret file {path}: expected the case's secret (one "
                               "word), or the JSON that tidehash submit printed")
    listed = obj.get("case_id") if obj else None
    if case is None:
        if not isinstance(listed, str):
            raise click.UsageError("--case is needed (the secret file does not name the case)")
        case = listed
    elif isinstance(listed, str) and _case_key(listed) != _case_key(case):
        raise click.UsageError(f"the secret file is for case {listed}, not {case}")
    return case, secret


def _case_key(case: str) -> str:
    return case.replace("-", "").upper()


def read_token(path: str) -> str:
    """A platform's token from --token-file (the token alone, or the JSON that
    `tidehash admin platform add` / `token mint` printed)."""
    token, _ = _json_or_word(read_small_file(path, "token file"), "token")
    if not token:
        raise click.UsageError(f"token file {path}: expected one token (thp_...), or the "
                               "JSON that tidehash admin platform add printed")
    return token


_LOOPBACK = ("localhost", "::1")


def make_client(url: str, token: str | None = None, timeout: float = 30.0):
    """The Client of --registry (a usage error for a URL it refuses); a warning when
    plain http:// leaves this machine."""
    import urllib.parse

    from ..registry.client import Client

    try:
        client = Client(url, token=token, timeout=timeout)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    parts = urllib.parse.urlsplit(client.url)
    host = parts.hostname or ""
    if parts.scheme == "http" and host not in _LOOPBACK and not host.startswith("127."):
        err("warning: http:// is not encrypted: anyone on the way can read what is sent "
            "and answered (hashes, the case's secret, the token); use https://")
    return client


def reports_registry_errors(command):
    """The command's registry errors (and a sync's list errors) as one line on
    stderr and exit 1: never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        from ..errors import HashFormatError
        from ..registry.client import RegistryError
        from ..registry.listsync import SyncError

        try:
            return command(*args, **kwargs)
        except RegistryError as exc:
            status = f" (HTTP {exc.status})" if exc.status else ""
            err(f"{exc.message}{status}")
            return 1
        except (SyncError, HashFormatError) as exc:
            err(str(exc))
            return 1

    return wrapper


def print_json(obj) -> None:
    click.echo(json.dumps(obj))
