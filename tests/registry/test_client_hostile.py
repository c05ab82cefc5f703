"""The Client, and the commands built on it (`tidehash sync --registry`, `tidehash
submit`), against a hostile or broken "registry" on loopback (broken_servers): JSON
nested deeper than the interpreter recurses, NaN and Infinity, in answers, error
bodies and snapshot lines, are a clear error naming what came, never a traceback, and a
sync that meets one writes no list."""

from __future__ import annotations

import pytest

from tidehash.registry import Client, RegistryError
from tidehash.registry.client import SnapshotError, loads

from .broken_servers import Reply, scripted
from .client_helpers import cli

TOKEN = "thp_" + "0" * 16 + "_" + "A" * 43
#: deeper than any interpreter's recursion limit (the C decoder raises RecursionError)
DEEP = b"[" * 200_000 + b"]" * 200_000
DEEP_OBJECT = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
JSON = "application/json"
NDJSON = "application/x-ndjson"


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT, b'{"seq": NaN}', b"[Infinity]",
                                 b'{"x": -Infinity}'])
def test_loads_refuses_what_json_loads_lets_through_or_crashes_on(raw):
    with pytest.raises(ValueError):
        loads(raw)
    assert loads(b'{"a": [1, 2.5, "NaN", null]}') == {"a": [1, 2.5, "NaN", None]}


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, b'{"changes": [], "cursor": "c", '
                                                     b'"more": NaN}'])
def test_a_hostile_answer_is_not_a_registry_answer(body):
    with scripted(lambda seen: Reply(body=body, content_type=JSON)) as server:
        client = Client(server.url, token=TOKEN, timeout=30)
        for call in (client.challenge, client.changes):
            with pytest.raises(RegistryError) as info:
                call()
            assert info.value.status == 0
            assert info.value.title == "not a registry answer"


def test_a_hostile_error_body_is_still_the_error_of_its_status():
    # an error body of 60,000 brackets (the Client reads up to 64 KiB of it)
    with scripted(lambda seen: Reply(503, DEEP[:60_000], JSON)) as server:
        with pytest.raises(RegistryError) as info:
            Client(server.url, token=TOKEN, timeout=30).changes()
    assert info.value.status == 503 and info.value.detail.startswith("[[[")


@pytest.mark.parametrize("line", [DEEP, b'{"id": "00000000000000aa", "quality": NaN}'])
def test_a_hostile_snapshot_line_is_refused(line):
    with scripted(lambda seen: Reply(body=line + b"\n", content_type=NDJSON)) as server:
        with pytest.raises(SnapshotError) as info:
            list(Client(server.url, token=TOKEN, timeout=30).snapshot())
    assert info.value.title == "malformed snapshot" and "not JSON" in info.value.detail


@pytest.mark.parametrize("reply", [
    Reply(body=DEEP + b"\n", content_type=NDJSON),                   # the snapshot's line
    Reply(400, DEEP[:60_000], "application/problem+json"),          # its error body
    Reply(body=b'{"trailer": {"seq": NaN}}\n', content_type=NDJSON)])
def test_sync_against_a_hostile_registry_says_so_and_writes_nothing(tmp_path, reply):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    listed = tmp_path / "list.thl"
    with scripted(lambda seen: reply) as server:
        r = cli("sync", "--registry", server.url, "--token-file", token_file,
                "--into", listed)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr and "RecursionError" not in r.stderr
    assert r.stderr.startswith("tidehash: ") and len(r.stderr.splitlines()) == 1, r.stderr
    assert not listed.exists()


def test_submit_against_a_hostile_challenge_says_so(tmp_path):
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 40, 90)).save(tmp_path / "a.png")
    with scripted(lambda seen: Reply(body=DEEP, content_type=JSON)) as server:
        r = cli("submit", "--registry", server.url, tmp_path / "a.png")
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "not a registry answer" in r.stderr
