"""Client.snapshot against a real `tidehash serve` (both stores), directly and through
a proxy that drops, holds or corrupts the stream: the trailer check catches every cut
and every changed byte, and a dropped connection resumes with Range + If-Range."""

from __future__ import annotations

import io
import json
import threading

import numpy as np
import pytest

from tidehash.formats import load_list
from tidehash.registry import Client
from tidehash.registry.client import RESTART, SnapshotError, SnapshotStream

from .client_helpers import FaultProxy, database_url, random_items, serve, wait_for


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def registry(request, tmp_path_factory):
    """One registry per store with 250 published entries and a platform's token."""
    folder = tmp_path_factory.mktemp("snapshot")
    with database_url(request, request.param, folder) as url, serve(url, folder) as reg:
        rng = np.random.default_rng(7)
        person = Client(reg.url)
        for n in (100, 100, 50):
            person.submit(random_items(rng, n))
        reg.token = reg.admin("platform", "add", "acme")["token"]
        platform = Client(reg.url, token=reg.token)
        wait_for(lambda: platform.changes(None, 1000)["head"] == 250, "publication")
        reg.count = 250  # entries listed (a test that adds one says so)
        yield reg


@pytest.fixture
def proxy(registry):
    with FaultProxy(("127.0.0.1", int(registry.url.rsplit(":", 1)[1]))) as p:
        yield p


def whole(client) -> tuple[bytes, dict]:
    out = io.BytesIO()
    trailer = client.snapshot(out)
    return out.getvalue(), trailer


def test_the_snapshot_is_every_entry_and_its_trailer(registry):
    client = Client(registry.url, token=registry.token)
    body, trailer = whole(client)
    lines = body.splitlines()
    assert trailer["count"] == len(lines) == registry.count
    assert trailer["cursor"].startswith("c1.")
    entries = [json.loads(line) for line in lines]
    assert len({e["id"] for e in entries}) == registry.count
    assert {e["kind"] for e in entries} == {"image"}
    # the iterator gives the same entries and the same trailer
    snap = client.snapshot()
    assert list(snap) == entries and snap.trailer == trailer


def test_a_dropped_connection_resumes_where_it_stopped(registry, proxy):
    direct, trailer = whole(Client(registry.url, token=registry.token))
    proxy.set(("cut", 20_000), times=1)
    stream = SnapshotStream(Client(proxy.url, token=registry.token), block_size=4096)
    body = b"".join(b for b in stream)
    assert body == direct and stream.trailer == trailer
    assert stream.resumed == 1
    first, second = proxy.snapshot_requests
    assert first["range"] is None and first["status"].split()[1] == "200"
    assert second["status"].split()[1] == "206"
    assert second["if_range"] == f'"{trailer["seq"]}"'
    start = int(second["range"].removeprefix("bytes=").rstrip("-"))
    # resumed at a line boundary the client had whole, before the cut
    assert 0 < start < 20_000 and direct[start - 1:start] == b"\n"


def test_a_stream_cut_before_its_trailer_is_refused(registry, proxy):
    proxy.set(("before_trailer",))  # every answer, resumes included
    with pytest.raises(SnapshotError) as info:
        whole(Client(proxy.url, token=registry.token))
    assert info.value.title == "truncated snapshot"
    assert len(proxy.snapshot_requests) > 1  # it tried to resume first
    with pytest.raises(SnapshotError, match="truncated"):
        list(Client(proxy.url, token=registry.token).snapshot())


@pytest.mark.parametrize("cut", [1, 500, 40_000])
def test_a_stream_that_keeps_being_cut_is_refused(registry, proxy, cut):
    proxy.set(("cut", cut))
    with pytest.raises(SnapshotError, match="truncated"):
        whole(Client(proxy.url, token=registry.token))


def test_a_changed_byte_is_refused(registry, proxy):
    proxy.set(("flip",), times=1)
    with pytest.raises(SnapshotError) as info:
        whole(Client(proxy.url, token=registry.token))
    assert info.value.title == "corrupt snapshot"


def test_a_sync_over_a_dropped_connection_gets_the_whole_list(registry, proxy, tmp_path):
    proxy.set(("cut", 30_000), times=2)
    client = Client(proxy.url, token=registry.token)
    result = client.sync_list(tmp_path / "list.thl")
    assert result["mode"] == "snapshot" and result["entries"] == registry.count
    hl = load_list(tmp_path / "list.thl")
    body, _ = whole(Client(registry.url, token=registry.token))
    want = sorted(int(json.loads(line)["id"], 16) for line in body.splitlines())
    assert sorted(np.asarray(hl.pdq.ids).tolist()) == want
    assert len(proxy.snapshot_requests) == 3


def test_a_failed_first_sync_writes_nothing(registry, proxy, tmp_path):
    proxy.set(("before_trailer",))
    with pytest.raises(SnapshotError):
        Client(proxy.url, token=registry.token).sync_list(tmp_path / "list.thl")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".list.thl.lock"]


def test_a_damaged_list_is_refused_before_it_is_changed(registry, tmp_path):
    from tidehash.formats import ListFileError

    client = Client(registry.url, token=registry.token)
    listed = tmp_path / "list.thl"
    client.sync_list(listed)
    data = bytearray(listed.read_bytes())
    data[len(data) // 2] ^= 0x40  # a byte of the arrays
    listed.write_bytes(bytes(data))
    assert client.sync_list(listed)["mode"] == "changes"  # nothing new: nothing read
    head = client.changes(None, 1)["head"]
    Client(registry.url).submit(random_items(np.random.default_rng(9), 1))
    registry.count += 1
    wait_for(lambda: client.changes(None, 1)["head"] > head, "publication")
    with pytest.raises(ListFileError, match="corrupt"):
        client.sync_list(listed)
    assert listed.read_bytes() == bytes(data)  # left as it was


def test_a_resume_after_compaction_starts_over(registry, proxy):
    """The snapshot the client was reading is compacted away before it resumes: the
    server sends the whole current one (200), and the client starts again."""
    client = Client(registry.url, token=registry.token)
    proxy.set(("hold", 20_000), times=1)
    blocks, errors = [], []

    def read():
        try:
            blocks.extend(SnapshotStream(Client(proxy.url, token=registry.token),
                                         block_size=4096))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        wait_for(lambda: proxy.body_bytes_sent >= 20_000, "the held stream")
        head = client.changes(None, 1)["head"]
        Client(registry.url).submit(random_items(np.random.default_rng(8), 1))
        registry.count += 1
        wait_for(lambda: client.changes(None, 1)["head"] > head, "publication")
        registry.admin("compact", "--keep", "0")
    finally:
        proxy.release()
        reader.join(timeout=60)
    assert not errors, errors
    assert blocks.count(RESTART) == 1
    after = blocks[blocks.index(RESTART) + 1:]
    body, trailer = whole(client)
    assert b"".join(after) == body and trailer["count"] == registry.count
    assert proxy.snapshot_requests[1]["status"].split()[1] == "200"
