"""Credentials files of ``tidehash sync --from``: read only when private, the fields a
source needs, the URL from the file or given apart; no message ever holds a secret."""

from __future__ import annotations

import json
import os

import pytest

from tidehash.registry.sources import CredentialsError, open_source, read_credentials
from tidehash.registry.sources.base import entry_id_of

from .client_helpers import cli
from .source_helpers import credentials_file

SECRET = "pa55-w0rd-xyz"


def written(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def refused(path, kind: str, url=None) -> str:
    with pytest.raises(CredentialsError) as info:
        read_credentials(path, kind, url)
    assert SECRET not in str(info.value)
    return str(info.value)


def test_each_kind_reads_its_fields(tmp_path):
    ncmec = {"url": "https://n.example/hashsharing", "user": "u", "password": SECRET}
    stopncii = {"url": "https://s.example/v1", "subscription_key": SECRET,
                "fetch_key": "k2", "comment": "ours"}
    tide = {"url": "https://r.example", "token": "thp_" + SECRET}
    for kind, obj in (("ncmec", ncmec), ("stopncii", stopncii), ("tidehash", tide)):
        got = read_credentials(credentials_file(tmp_path / f"{kind}.json", obj), kind)
        assert got == {k: v for k, v in obj.items() if k != "comment"}
    # group-readable is taken (a service's group), every-user-readable is not
    assert read_credentials(written(tmp_path / "g.json", json.dumps(ncmec), 0o640), "ncmec")
    assert "chmod 600" in refused(written(tmp_path / "o.json", json.dumps(ncmec), 0o644),
                                  "ncmec")
    assert "chmod 600" in refused(written(tmp_path / "w.json", json.dumps(ncmec), 0o602),
                                  "ncmec")


def test_bad_files_are_refused_naming_the_file_never_the_secret(tmp_path):
    path = tmp_path / "c.json"
    assert "needs password" in refused(written(path, json.dumps(
        {"url": "https://x", "user": "u", "pasword": SECRET})), "ncmec")
    assert "needs fetch_key" in refused(written(path, json.dumps(
        {"url": "https://x", "subscription_key": SECRET, "fetch_key": 5})), "stopncii")
    assert "not JSON" in refused(written(path, "{" + SECRET), "ncmec")
    assert "not a JSON object" in refused(written(path, json.dumps([SECRET])), "ncmec")
    assert "over 65536 bytes" in refused(written(path, " " * 70_000), "ncmec")
    assert "not a regular file" in refused(tmp_path, "ncmec")
    assert "No such file" in refused(tmp_path / "missing.json", "ncmec")
    assert "no source kind" in refused(path, "ftp")
    assert str(path) in refused(written(path, "[]"), "stopncii")


def test_tidehash_takes_the_token_alone_or_admin_output_with_the_url_apart(tmp_path):
    admin = {"platform": "acme", "platform_id": 1, "token": "thp_" + SECRET,
             "token_id": "ab", "scopes": ["list:read"], "expires": None}
    path = credentials_file(tmp_path / "acme.json", admin)
    assert read_credentials(path, "tidehash", "https://r.example") == {
        "url": "https://r.example", "token": "thp_" + SECRET}
    assert "needs url" in refused(path, "tidehash")
    word = written(tmp_path / "token", "thp_" + SECRET + "\n")
    assert read_credentials(word, "tidehash", "https://r.example")["token"] == \
        "thp_" + SECRET
    assert "one word" in refused(written(tmp_path / "two", "a b"), "tidehash", "https://r")
    both = credentials_file(tmp_path / "both.json", {"url": "https://a.example",
                                                     "token": "t"})
    assert "is not https://b.example" in refused(both, "tidehash", "https://b.example")


def test_urls_with_secrets_or_queries_are_refused(tmp_path):
    for url in ("https://user:pw@n.example", "https://n.example/?key=1", "ftp://n.example",
                "n.example"):
        with pytest.raises(ValueError) as info:
            open_source("ncmec", {"url": url, "user": "u", "password": SECRET})
        assert SECRET not in str(info.value)
    with pytest.raises(ValueError, match="one word"):
        open_source("stopncii", {"url": "https://s", "subscription_key": "a b",
                                 "fetch_key": "k"})
    source = open_source("ncmec", {"url": "https://n.example/hashsharing/", "user": "u",
                                   "password": SECRET})
    assert source.url == "https://n.example/hashsharing"
    assert SECRET not in repr(source) + repr(source.http)


def test_foreign_ids_map_to_stable_63_bit_entry_ids():
    # the first 8 bytes of BLAKE2b(8), big-endian, shifted to 63 bits: fixed values, so a
    # list written by one version is followed by the next
    import hashlib

    for fid in ("ncmec:1:abc", "stopncii:ImagePDQ:" + "ab" * 32, "ncmec:43:image4"):
        want = int.from_bytes(hashlib.blake2b(fid.encode(), digest_size=8).digest(),
                              "big") >> 1
        assert entry_id_of(fid) == want < 1 << 63
    assert entry_id_of("ncmec:1:abc") == 0x5BFA6ED33167E545  # pinned: lists outlive versions
    assert len({entry_id_of(f"ncmec:1:{i}") for i in range(10_000)}) == 10_000


def test_the_cli_explains_its_options(tmp_path):
    creds = credentials_file(tmp_path / "c.json", {"token": "thp_x"})
    r = cli("sync", "--credentials", creds, "--token-file", creds, "--into",
            tmp_path / "l.thl")
    assert r.returncode == 2 and "replaces --token-file" in r.stderr
    r = cli("sync", "--registry", "http://127.0.0.1:9", "--into", tmp_path / "l.thl")
    assert r.returncode == 2 and "--token-file" in r.stderr
    r = cli("sync", "--from", "stopncii", "--credentials", creds, "--into",
            tmp_path / "l.thl")
    assert r.returncode == 2 and "needs url, subscription_key, fetch_key" in r.stderr
    # the token alone, the URL on the command line: the registry's own sync (no server)
    r = cli("sync", "--registry", "http://127.0.0.1:9", "--credentials",
            written(tmp_path / "t", "thp_x"), "--into", tmp_path / "l.thl")
    assert r.returncode == 1 and "cannot reach the registry" in r.stderr
    assert not os.path.exists(tmp_path / "l.thl")
