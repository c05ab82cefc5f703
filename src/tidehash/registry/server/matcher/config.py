"""The matcher's configuration: a TOML file (``tidehash serve --role matcher --config
FILE``) with one ``[bank.NAME]`` table per bank and an optional ``[matcher]`` table::

    [matcher]
    token_sha256 = "9f86d0..."   # optional: the SHA-256 (hex) of a bearer token
    max_upload = 33554432         # bytes an uploaded file may have (POST /h/hash ...)
    fast_path = true              # GET /m/raw_lookup's plain case answered without the
                                  # framework (false: every request through the routes)

    [bank.NCII]
    source = "tidehash:https://registry.example.org"
    credentials_file = "/etc/tidehash/ncii.token"   # for tidehash: the token
    enabled = true
    pdq_radius = 31        # a PDQ match is at most this far (0..63)
    min_quality = 50       # entries (and uploads) of a lower known PDQ quality never match
    poll_interval = 1.0    # seconds between pulls

    [bank.LOCAL]
    source = "list:/var/lib/tidehash/local.thl"      # any list file tidehash reads

Credentials are never in the config: a remote bank names a file (chmod 600; a file
every user can read is refused, as ``tidehash sync`` refuses it). ConfigError names the
file and the key, never a secret."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import tomllib

from ...sources import KINDS, read_credentials
from ...sources.base import base_url

SOURCE_KINDS = ("list",) + KINDS
NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEFAULT_POLL = {"list": 1.0, "tidehash": 1.0, "ncmec": 30.0, "stopncii": 30.0}
DEFAULT_RADIUS = 31
DEFAULT_MAX_UPLOAD = 32 << 20
_BANK_KEYS = {"source", "credentials_file", "enabled", "pdq_radius", "min_quality",
              "poll_interval"}
_MATCHER_KEYS = {"token_sha256", "max_upload", "fast_path"}


class ConfigError(ValueError):
    """A configuration that cannot be used (the message names the file and the key)."""


@dataclass(frozen=True)
class BankConfig:
    name: str
    kind: str                  # list | tidehash | ncmec | stopncii
    location: str              # the list file's path, or the source's base URL
    credentials_file: str | None = None
    enabled: bool = True
    pdq_radius: int = DEFAULT_RADIUS
    min_quality: int = 0
    poll_interval: float = 1.0

    @property
    def source(self) -> str:
        """``kind:location``: what the database keeps (no secret in it)."""
        return f"{self.kind}:{self.location}"

    def credentials(self) -> dict:
        """The remote source's credentials (read now, from its file)."""
        return read_credentials(self.credentials_file, self.kind, self.location)

    def open_source(self, **options):
        from ...sources import open_source

        return open_source(self.kind, self.credentials(), **options)


@dataclass(frozen=True)
class MatcherConfig:
    banks: tuple
    token_sha256: str | None = None
    max_upload: int = DEFAULT_MAX_UPLOAD
    path: str = ""
    fast_path: bool = True

    def bank(self, name: str) -> BankConfig | None:
        for b in self.banks:
            if b.name == name:
                return b
        return None


def load_config(path) -> MatcherConfig:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except OSError as exc:
        raise ConfigError(f"config {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config {path}: not TOML ({exc})") from None
    return parse_config(raw, path)


def parse_config(raw: dict, path: str = "<config>") -> MatcherConfig:
    unknown = set(raw) - {"bank", "matcher"}
    if unknown:
        raise ConfigError(f"config {path}: unknown table(s) {', '.join(sorted(unknown))} "
                          "(expected [matcher] and [bank.NAME])")
    matcher = raw.get("matcher", {})
    if not isinstance(matcher, dict):
        raise ConfigError(f"config {path}: [matcher] must be a table")
    bad = set(matcher) - _MATCHER_KEYS
    if bad:
        raise ConfigError(f"config {path}: [matcher] has unknown key(s) {', '.join(sorted(bad))}")
    token = matcher.get("token_sha256")
    if token is not None and (not isinstance(token, str)
                              or not re.fullmatch(r"[0-9a-fA-F]{64}", token)):
        raise ConfigError(f"config {path}: matcher.token_sha256 must be 64 hex digits (the "
                          "SHA-256 of the token, never the token itself)")
    max_upload = matcher.get("max_upload", DEFAULT_MAX_UPLOAD)
    if type(max_upload) is not int or not 1 <= max_upload <= 1 << 32:
        raise ConfigError(f"config {path}: matcher.max_upload must be an integer of bytes")
    fast_path = matcher.get("fast_path", True)
    if type(fast_path) is not bool:
        raise ConfigError(f"config {path}: matcher.fast_path must be true or false")
    banks_raw = raw.get("bank", {})
    if not isinstance(banks_raw, dict) or not banks_raw:
        raise ConfigError(f"config {path}: no bank (add a [bank.NAME] table)")
    banks = tuple(_bank(name, table, path) for name, table in banks_raw.items())
    return MatcherConfig(banks, token and token.lower(), max_upload, path, fast_path)


def _bank(name: str, table, path: str) -> BankConfig:
    where = f"config {path}: [bank.{name}]"
    if not NAME.match(name):
        raise ConfigError(f"{where}: a bank name is 1..64 of A-Z a-z 0-9 _ -")
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    bad = set(table) - _BANK_KEYS
    if bad:
        hint = " (credentials go in a file: credentials_file)" if bad & {
            "token", "password", "user", "subscription_key", "fetch_key"} else ""
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(bad))}{hint}")
    source = table.get("source")
    if not isinstance(source, str) or ":" not in source:
        raise ConfigError(f"{where}: source must be \"list:PATH\", \"tidehash:URL\", "
                          "\"ncmec:URL\" or \"stopncii:URL\"")
    kind, _, location = source.partition(":")
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}: source kind {kind!r} is not one of "
                          f"{', '.join(SOURCE_KINDS)}")
    credentials = table.get("credentials_file")
    if kind == "list":
        if not location:
            raise ConfigError(f"{where}: list: needs a path")
        location = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(path)),
                                                location))
        if credentials is not None:
            raise ConfigError(f"{where}: a list bank takes no credentials_file")
    else:
        try:
            location = base_url(location, "source")
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if not isinstance(credentials, str) or not credentials:
            raise ConfigError(f"{where}: a {kind} bank needs credentials_file (a file "
                              "only its owner can read)")
        credentials = os.path.join(os.path.dirname(os.path.abspath(path)), credentials)
    enabled = table.get("enabled", True)
    if type(enabled) is not bool:
        raise ConfigError(f"{where}: enabled must be true or false")
    radius = table.get("pdq_radius", DEFAULT_RADIUS)
    if type(radius) is not int or not 0 <= radius <= 63:
        raise ConfigError(f"{where}: pdq_radius must be an integer in 0..63")
    quality = table.get("min_quality", 0)
    if type(quality) is not int or not 0 <= quality <= 100:
        raise ConfigError(f"{where}: min_quality must be an integer in 0..100")
    poll = table.get("poll_interval", DEFAULT_POLL[kind])
    if type(poll) not in (int, float) or not 0.05 <= poll <= 86400:
        raise ConfigError(f"{where}: poll_interval must be seconds in 0.05..86400")
    return BankConfig(name, kind, location, credentials, enabled, radius, quality, float(poll))
