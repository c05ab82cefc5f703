"""tidehash serve / admin: running the registry and managing it (the operator's side).

Both need the registry extra (``pip install "tidehash[registry]"``); without it they
say so and exit 2. `admin` works on the database directly (as the operator on the
server's machine), not through the HTTP API."""

from __future__ import annotations

import json

import click

from ._common import FiniteFloatRange, err
from ._registry import DEFAULT_DB_FILE, db_url, print_json

#: top-level modules of the registry extra: an ImportError naming one means the
#: extra is not installed (any other ImportError is a bug and is not hidden)
_EXTRA_MODULES = {"fastapi", "starlette", "pydantic", "pydantic_core", "uvicorn",
                  "sqlalchemy", "alembic", "psycopg", "psycopg_binary", "anyio", "h11"}
SCOPES = ("list:read", "lookup", "feedback:write", "submit:partner")
#: a token's scopes when none are named (submit:partner only ever by name)
DEFAULT_SCOPES = ("list:read", "lookup", "feedback:write")
REVIEW_RULES = ("negative", "flood", "dispute", "sample")


def _needs_extra(command: str):
    """Imports the server's modules, or exits 2 naming the extra to install."""

    def load():
        try:
            from ..registry.server import changelog, db, keys, run, settings, store
        except ImportError as exc:
            missing = (exc.name or "").split(".")[0]
            if missing not in _EXTRA_MODULES:
                raise
            err(f"tidehash {command} needs the registry's dependencies ({missing} is "
                f"missing): pip install \"tidehash[registry]\"")
            raise click.exceptions.Exit(2) from None
        return {"changelog": changelog, "db": db, "keys": keys, "run": run,
                "settings": settings, "store": store}

    return load


db_option = click.option(
    "--db", default=None, metavar="URL",
    help=f"the database: sqlite:///PATH or postgresql+psycopg://...; default "
         f"./{DEFAULT_DB_FILE} (SQLite)")


@click.command("serve")
@db_option
@click.option("--role", type=click.Choice(["registry", "matcher"]), default="registry",
              show_default=True,
              help="registry: the NGO's list; matcher: a platform's own matcher following "
                   "the banks of --config (HMA-compatible routes)")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="the matcher's TOML configuration ([bank.NAME] tables)")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (put a TLS proxy in front for the internet)")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
@click.option("--publish-delay", type=FiniteFloatRange(min=0), default=None, metavar="S",
              help="seconds a write is held before it is published (0: at once); "
                   "default: the server's setting")
@click.option("--pow-difficulty", type=click.IntRange(0, 32), default=None, metavar="N",
              help="leading zero bits a submission's proof of work needs (0: none); "
                   "default: the server's setting")
@click.option("--flood-platforms", type=click.IntRange(min=1), default=None, metavar="N",
              help="abuse control: distinct platforms matching one entry within the flood "
                   "window that withdraw it pending review (default 10)")
@click.option("--flood-window-hours", type=click.IntRange(min=1), default=None, metavar="H",
              help="the flood window: the current clock hour and H before it (default 1)")
@click.option("--flood-rate-factor", type=click.IntRange(min=1), default=None, metavar="F",
              help="matches in the window F times the median of the other matched "
                   "entries' withdraw an entry pending review (default 20) ...")
@click.option("--flood-rate-min", type=click.IntRange(min=1), default=None, metavar="N",
              help="... when they are at least N (default 100)")
@click.option("--dispute-platforms", type=click.IntRange(min=1), default=None, metavar="K",
              help="distinct platforms reporting not_ncii / disputed that queue an entry "
                   "for review (default 3)")
@click.option("--negative-radius", type=click.IntRange(0, 63), default=None, metavar="R",
              help="PDQ radius of a negative-list hash added without one (default 16)")
@click.option("--review-sample", type=click.FloatRange(0, 1), default=None, metavar="P",
              help="share of ordinary submissions also held for review, as cover for the "
                   "negative list (default 0)")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="an origin (https://host[:port]) whose page may call the person routes "
                   "from a browser: where `tidehash web export` is hosted (repeat)")
def serve_command(db, host, port, publish_delay, pow_difficulty, cors_origins, role,
                  config_path, **abuse):
    """Run the registry: the person routes (challenge, cases, status, withdrawal),
    the platform routes (snapshot, changes, lookup, feedback) and the operator
    routes, over one database (created and migrated on first use). With --role
    matcher: a platform's matcher following the banks of --config. Stops on
    Ctrl-C."""
    server = _needs_extra("serve")()
    url = db_url(db)
    if role == "matcher":
        return _serve_matcher(server, url, config_path, host, port)
    if config_path is not None:
        raise click.BadParameter("only a matcher takes a config (--role matcher)",
                                 param_hint="--config")
    try:  # the URL's form only: nothing is opened yet
        server["db"].Database(url, migrate=False).close()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--db") from None
    options = {}
    if publish_delay is not None:
        options["publish_delay"] = publish_delay
    if pow_difficulty is not None:
        options["pow_difficulty"] = pow_difficulty
    options.update({name: value for name, value in abuse.items() if value is not None})
    if cors_origins:
        options["cors_origins"] = tuple(cors_origins)
    try:
        settings = server["settings"].Settings(db_url=url, **options)
    except ValueError as exc:
        if not cors_origins or "CORS" not in str(exc):
            raise
        raise click.BadParameter(str(exc), param_hint="--cors-origin") from None
    server["run"].serve(settings, host, port)
    return 0


def _serve_matcher(server, url: str, config_path, host: str, port: int) -> int:
    from ..registry.server.matcher.config import ConfigError, load_config
    from ..registry.server.matcher.run import serve_matcher

    if config_path is None:
        raise click.BadParameter("a matcher needs its banks: --config FILE",
                                 param_hint="--config")
    try:
        server["db"].Database(url, migrate=False).close()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--db") from None
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--config") from None
    serve_matcher(config, url, host, port)
    return 0


class _Operator:
    """The database, keys, store and change log of `tidehash admin`, opened on first
    use and closed when the command ends."""

    def __init__(self, url: str):
        self.url = url
        self.modules = _needs_extra("admin")()
        self._db = None
        self._store = None
        self._changelog = None

    @property
    def db(self):
        if self._db is None:
            try:
                self._db = self.modules["db"].Database(self.url)
            except ValueError as exc:  # not a database URL the registry takes
                raise click.BadParameter(str(exc), param_hint="--db") from None
        return self._db

    @property
    def store(self):
        if self._store is None:
            keys = self.modules["keys"].Keys.load(self.db)
            self._store = self.modules["store"].Store(self.db, keys)
        return self._store

    @property
    def changelog(self):
        if self._changelog is None:
            keys = self.modules["keys"].Keys.load(self.db)
            self._changelog = self.modules["changelog"].Changelog(self.db, keys)
        return self._changelog

    def errors(self) -> tuple:
        store, db = self.modules["store"], self.modules["db"]
        return (store.NotFound, store.BadRequest, store.Conflict, store.AuthError,
                db.Unavailable)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()


def _run(ctx, action) -> int:
    """``action(operator)`` with the store's errors as one line on stderr, exit 1."""
    op: _Operator = ctx.obj
    try:
        action(op)
    except op.errors() as exc:
        err(str(getattr(exc, "detail", None) or exc) or type(exc).__name__)
        return 1
    return 0


def _exit_code(ctx, action):
    code = _run(ctx, action)
    if code:
        raise click.exceptions.Exit(code)
    return 0


def _echo_lines(rows) -> None:
    for row in rows:
        click.echo(json.dumps(row, default=str))


@click.group("admin")
@db_option
@click.pass_context
def admin_group(ctx, db):
    """Manage the registry as its operator, on its database: platforms and their
    tokens, cases, entries, the change log. Every command prints JSON (one object
    a line). Tokens are shown once: keep them."""
    ctx.obj = _Operator(db_url(db))
    ctx.call_on_close(ctx.obj.close)


scope_option = click.option(
    "--scope", "scopes", type=click.Choice(SCOPES), multiple=True,
    help="a scope of the token (repeat); default: list:read, lookup, feedback:write "
         "(submit:partner, a trusted submitter's, only when named)")
expires_option = click.option("--expires-days", type=click.IntRange(min=1), default=None,
                              help="the token expires after this many days (default: never)")


@admin_group.group("platform")
def platform_group():
    """Platforms: the services that pull the list and look hashes up."""


@platform_group.command("add")
@click.argument("name")
@scope_option
@expires_option
@click.pass_context
def platform_add_command(ctx, name, scopes, expires_days):
    """Add platform NAME and mint its first token; prints {"platform", "token",
    "token_id", "scopes", "expires"}. The token is shown only this once: give it
    to the platform (`tidehash sync --token-file` reads this JSON as it is)."""
    return _exit_code(ctx, lambda op: print_json(op.store.add_platform(
        name, scopes=list(scopes) or None, expires_days=expires_days)))


@platform_group.command("suspend")
@click.argument("name")
@click.pass_context
def platform_suspend_command(ctx, name):
    """Suspend platform NAME: its tokens get 403 until it is resumed."""
    def action(op):
        op.store.set_suspended(name, True)
        print_json({"platform": name, "suspended": True})
    return _exit_code(ctx, action)


@platform_group.command("resume")
@click.argument("name")
@click.pass_context
def platform_resume_command(ctx, name):
    """Resume a suspended platform."""
    def action(op):
        op.store.set_suspended(name, False)
        print_json({"platform": name, "suspended": False})
    return _exit_code(ctx, action)


@platform_group.command("list")
@click.pass_context
def platform_list_command(ctx):
    """Every platform, one JSON object a line."""
    return _exit_code(ctx, lambda op: _echo_lines(op.store.list_platforms()))


@admin_group.group("token")
def token_group():
    """Platforms' tokens."""


@token_group.command("mint")
@click.argument("platform")
@scope_option
@expires_option
@click.pass_context
def token_mint_command(ctx, platform, scopes, expires_days):
    """Mint another token for PLATFORM (shown only this once)."""
    return _exit_code(ctx, lambda op: print_json(op.store.mint_token(
        platform, list(scopes) or list(DEFAULT_SCOPES), expires_days)))


@token_group.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke_command(ctx, token_id):
    """Revoke the token TOKEN_ID (its requests get 401 from now on)."""
    def action(op):
        op.store.revoke_token(token_id)
        print_json({"token_id": token_id, "revoked": True})
    return _exit_code(ctx, action)


@admin_group.command("operator-token")
@click.pass_context
def operator_token_command(ctx):
    """Mint an operator token (tho_...) for the HTTP admin routes; shown once."""
    return _exit_code(ctx, lambda op: print_json(op.store.operator_token()))


@admin_group.command("cases")
@click.option("--status", type=click.Choice(("pending", "active", "withdrawn", "removed")),
              default=None, help="only cases with items in this status")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True)
@click.option("--after", default=None, metavar="CASE_ID", help="the page after this case")
@click.pass_context
def cases_command(ctx, status, limit, after):
    """Case ids with their day and item counts by status, one JSON object a line."""
    return _exit_code(ctx, lambda op: _echo_lines(op.store.list_cases(status, limit, after)))


@admin_group.group("entry")
def entry_group():
    """Entries of the list."""


@entry_group.command("remove")
@click.argument("entry_id", metavar="ID")
@click.pass_context
def entry_remove_command(ctx, entry_id):
    """Remove entry ID (16 hex digits, as the list shows it) from the list: a
    tombstone is published, and platforms drop it at their next sync. Exit 1 when
    there is no such active entry."""
    number = _entry_number(entry_id)
    found = []

    def action(op):
        found.append(op.store.remove_entry(number))
        print_json({"id": entry_id.lower(), "removed": found[-1]})
    code = _run(ctx, action)
    if not code and not found[-1]:
        err(f"no active entry {entry_id}")
        code = 1
    if code:
        raise click.exceptions.Exit(code)
    return 0


def _entry_number(entry_id: str) -> int:
    try:
        number = int(entry_id, 16)
        if len(entry_id) != 16 or number >= 1 << 63:
            raise ValueError
    except ValueError:
        raise click.BadParameter("an entry id is 16 hex digits", param_hint="ID") from None
    return number


#: who acted, in the audit log, for a decision made with `tidehash admin`
CLI_ACTOR = "cli"


@admin_group.group("review")
def review_group():
    """The review queue: entries flagged by the abuse-control rules (negative list,
    flood, dispute, sample), with hashes and counts only."""


@review_group.command("list")
@click.option("--rule", type=click.Choice(REVIEW_RULES), default=None,
              help="only entries with an open flag of this rule")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@click.option("--after", default=None, metavar="ID", help="the page after this entry id")
@click.pass_context
def review_list_command(ctx, rule, limit, after):
    """Entries with an open flag, one JSON object a line: id, kind, tier, status,
    hashes, counts (match platforms and matches in the flood window, disputes) and
    the flags (rule, day, the counts that raised it)."""
    start = None if after is None else _entry_number(after)
    return _exit_code(ctx, lambda op: _echo_lines(op.store.review.list(rule, limit, start)))


@review_group.command("show")
@click.argument("entry_id", metavar="ID")
@click.pass_context
def review_show_command(ctx, entry_id):
    """Entry ID with every flag it ever had and the decisions made."""
    number = _entry_number(entry_id)
    return _exit_code(ctx, lambda op: print_json(op.store.review.show(number)))


@review_group.command("release")
@click.argument("entry_id", metavar="ID")
@click.pass_context
def review_release_command(ctx, entry_id):
    """Release entry ID: a held entry is published again (under a new id if it had been
    published before), a disputed one stays. Published at the server's next tick."""
    number = _entry_number(entry_id)
    return _exit_code(ctx, lambda op: print_json(op.store.review.release(number,
                                                                         actor=CLI_ACTOR)))


@review_group.command("remove")
@click.argument("entry_id", metavar="ID")
@click.pass_context
def review_remove_command(ctx, entry_id):
    """Remove flagged entry ID from the list for good (a tombstone if it was published)."""
    number = _entry_number(entry_id)
    return _exit_code(ctx, lambda op: print_json(op.store.review.remove(number,
                                                                        actor=CLI_ACTOR)))


@admin_group.group("negative")
def negative_group():
    """The negative list: hashes that must never be published (memes, logos, stock
    images)."""


@negative_group.command("add")
@click.argument("signal", type=click.Choice(("pdq", "md5", "sha256")))
@click.argument("value")
@click.option("--radius", type=click.IntRange(0, 63), default=None,
              help="pdq: the Hamming radius (default 16); md5 / sha256 match exactly")
@click.option("--label", default="", help="what the hash is (a note for reviewers)")
@click.pass_context
def negative_add_command(ctx, signal, value, radius, label):
    """Add a hash; every active entry it hits is held for review (a published one is
    tombstoned at the server's next tick). Prints {"negative", "held"}."""
    return _exit_code(ctx, lambda op: print_json(op.store.review.negative_add(
        signal, value.lower(), radius, label, actor=CLI_ACTOR)))


@negative_group.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--after", type=click.IntRange(min=0), default=None, metavar="N")
@click.pass_context
def negative_list_command(ctx, limit, after):
    """The negative list, one JSON object a line."""
    return _exit_code(ctx, lambda op: _echo_lines(op.store.review.negative_list(limit, after)))


@negative_group.command("remove")
@click.argument("negative_id", type=click.IntRange(1, 2**31 - 1), metavar="N")
@click.pass_context
def negative_remove_command(ctx, negative_id):
    """Take hash N off the negative list (the entries it held stay in the queue)."""
    return _exit_code(ctx, lambda op: print_json(op.store.review.negative_remove(
        negative_id, actor=CLI_ACTOR)))


@admin_group.command("publish")
@click.pass_context
def publish_command(ctx):
    """Publish what is due now (what a running server does by itself every
    interval); prints {"published", "head"}."""
    def action(op):
        n = op.changelog.publish(actor="cli")
        print_json({"published": n, "head": op.changelog.head()})
    return _exit_code(ctx, action)


@admin_group.command("compact")
@click.option("--keep", type=click.IntRange(min=0), required=True, metavar="N",
              help="keep the last N changes; platforms whose cursor is older take a "
                   "new snapshot (410)")
@click.pass_context
def compact_command(ctx, keep):
    """Delete change rows older than the last N (and the hashes of entries removed
    before them); prints what was done."""
    def action(op):
        result = op.changelog.compact(keep)
        print_json(result if isinstance(result, dict) else {"compacted": result})
    return _exit_code(ctx, action)



@admin_group.group("audit")
def audit_group():
    """The audit log: every operator action and every list download, hash-chained
    (README: "Audit log")."""


def _audit_db(ctx, db):
    """The database of an audit command (its own --db, else the admin group's)."""
    op: _Operator = ctx.obj
    if db is not None:
        op.url = db_url(db)
    from ..registry.server import audit

    return op, audit


@audit_group.command("verify")
@db_option
@click.option("--expect", default=None, metavar="SEQ:HASH",
              help="a head printed by an earlier verify (kept somewhere else): fail "
                   "unless the log still holds that row with that hash")
@click.pass_context
def audit_verify_command(ctx, db, expect):
    """Check the whole chain: exit 1 naming every seq that was edited, deleted,
    inserted or reordered (and newest rows deleted); print {"ok", "rows", "head",
    "problems"}. Keep the printed head ("SEQ:HASH") outside the database and pass
    it to --expect later: that also catches a tail cut by someone who moved the
    head row with it."""
    op, audit = _audit_db(ctx, db)
    expected = None
    if expect is not None:
        try:
            expected = audit.parse_expect(expect)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--expect") from None
    found = []

    def action(op):
        try:
            keys = audit.load_keys(op.db)
        except LookupError as exc:
            raise op.modules["store"].NotFound(str(exc)) from None
        report = audit.verify(op.db, keys, expect=expected)
        out = report.as_dict()
        out["head"] = f"{report.head_seq}:{report.head_hash}"
        print_json(out)
        for seq, problem in report.problems:
            err(f"audit: seq {seq}: {problem}")
        found.append(report.ok)
    code = _run(ctx, action)
    if not code and not found[-1]:
        code = 1
    if code:
        raise click.exceptions.Exit(code)
    return 0


@audit_group.command("list")
@db_option
@click.option("--since", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="SEQ", help="rows after this seq")
@click.option("--limit", type=click.IntRange(min=1), default=None, metavar="N",
              help="at most N rows (default: all)")
@click.option("--action", "action_name", default=None, metavar="ACTION",
              help="only rows of this action (platform.add, list.download, ...)")
@click.pass_context
def audit_list_command(ctx, db, since, limit, action_name):
    """The rows after --since, one JSON object a line: seq, at (UTC second), actor
    (cli, operator:TOKEN_ID, platform:TOKEN_ID), action, detail, hash."""
    _op, audit = _audit_db(ctx, db)
    return _exit_code(ctx, lambda op: _echo_lines(audit.rows(
        op.db, since=since, limit=limit, action=action_name)))
