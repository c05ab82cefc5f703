"""The Client's requests against a real `tidehash serve` (both stores): every route it
speaks, the errors as RegistryError with the problem's fields, and what travels where
(secrets in bodies, the token only in the Authorization header)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from videos import make_video

from tidehash.registry import Client, RegistryError
from tidehash.registry.client import file_item
from tidehash.registry.pow import check_solution

from .client_helpers import FaultProxy, database_url, random_items, serve, wait_for


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def registry(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("http")
    with database_url(request, request.param, folder) as url, \
            serve(url, folder, pow_difficulty=8) as reg:
        reg.token = reg.admin("platform", "add", "acme")["token"]
        yield reg


@pytest.fixture
def proxy(registry):
    with FaultProxy(("127.0.0.1", int(registry.url.rsplit(":", 1)[1]))) as p:
        yield p


def published(client: Client, case: dict) -> dict:
    def done():
        status = client.status(case["case_id"], case["secret"])
        return status if all(i["status"] == "active" for i in status["items"]) else None
    return wait_for(done, "publication")


def test_a_case_from_submission_to_withdrawal(registry, proxy):
    rng = np.random.default_rng(1)
    person = Client(proxy.url)
    items = random_items(rng, 3)
    case = person.submit(items)
    assert case["case_id"].startswith("TH-") and len(case["secret"]) >= 32
    assert [i["status"] for i in case["items"]] == ["pending"] * 3
    post = [r for r in proxy.requests if r[0].startswith("POST /v1/cases ")]
    body = json.loads(post[0][2])
    # the proof of work was solved at the server's difficulty
    assert check_solution(body["pow"]["challenge"], body["pow"]["nonce"], 8)
    assert body["items"] == items
    status = published(person, case)
    assert status["case_id"] == case["case_id"]
    after = person.withdraw(case["case_id"], case["secret"], [1])
    assert [i["status"] for i in after["items"]] == ["active", "withdrawn", "active"]
    again = person.withdraw(case["case_id"], case["secret"], [1])  # harmless
    assert again["items"] == after["items"]
    whole = person.withdraw(case["case_id"], case["secret"])
    assert {i["status"] for i in whole["items"]} == {"withdrawn"}
    # the secret travelled in bodies only, never in a request line
    for line, headers, _ in proxy.requests:
        assert case["secret"] not in line and case["case_id"] not in line
        assert "authorization" not in headers  # person routes carry no token


def test_wrong_secret_and_unknown_case_are_the_same_404(registry):
    person = Client(registry.url)
    case = person.submit(random_items(np.random.default_rng(2), 1))
    errors = []
    for case_id, secret in ((case["case_id"], "x" * 32), ("TH-0000-0000-0000-0000",
                                                            case["secret"])):
        with pytest.raises(RegistryError) as info:
            person.status(case_id, secret)
        errors.append(info.value)
    assert [e.status for e in errors] == [404, 404]
    assert [e.slug for e in errors] == ["not-found", "not-found"]
    assert errors[0].message == errors[1].message


def test_a_bad_item_is_a_400_naming_it(registry):
    bad = random_items(np.random.default_rng(3), 2)
    bad[1]["pdq"] = "zz" * 32
    with pytest.raises(RegistryError) as info:
        Client(registry.url).submit(bad)
    assert info.value.status == 400
    assert "items[1]" in info.value.message and "pdq" in info.value.message


def test_platform_routes_with_the_token_in_the_header_only(registry, proxy):
    rng = np.random.default_rng(4)
    person = Client(registry.url)
    items = random_items(rng, 2)
    published(person, person.submit(items))
    platform = Client(proxy.url, token=registry.token)
    page = platform.changes(None, 10_000)
    assert not page["more"] and page["head"] == len(page["changes"])
    ids = {c["entry"]["id"] for c in page["changes"] if c["op"] == "upsert"}
    queries = [{"pdq": items[0]["pdq"], "quality": 90}, {"md5": items[1]["md5"]},
               {"sha256": "0" * 64}]
    # the lookup index follows the change log: it has the entries a moment later
    results = wait_for(lambda: (lambda r: r if r[1]["matches"] else None)(
        platform.lookup(queries)["results"]), "the lookup index")
    assert [r["query"] for r in results] == [0, 1, 2]
    hit = results[0]["matches"][0]
    assert hit["id"] in ids and hit["distance"] == 0 and hit["signal"] == "pdq"
    assert results[1]["matches"][0]["signal"] == "md5"
    assert results[2]["matches"] == []
    assert platform.feedback([{"id": hit["id"], "verdict": "confirmed"}]) == {"stored": 1}
    for line, headers, _ in proxy.requests:
        assert registry.token not in line
        assert headers["authorization"] == f"Bearer {registry.token}"


def test_auth_errors(registry):
    with pytest.raises(RegistryError) as info:
        Client(registry.url).changes()
    assert info.value.status == 401  # no token: refused before anything is sent
    with pytest.raises(RegistryError) as info:
        Client(registry.url, token="thp_0000000000000000_" + "a" * 43).changes()
    assert info.value.status == 401 and info.value.problem["status"] == 401
    minted = registry.admin("token", "mint", "acme", "--scope", "lookup")
    with pytest.raises(RegistryError) as info:
        Client(registry.url, token=minted["token"]).changes()
    assert info.value.status == 403


def test_a_compacted_cursor_is_a_410(registry):
    platform = Client(registry.url, token=registry.token)
    person = Client(registry.url)
    published(person, person.submit(random_items(np.random.default_rng(5), 1)))
    old = platform.changes(None, 1)["cursor"]  # after the first change
    registry.admin("compact", "--keep", "0")
    with pytest.raises(RegistryError) as info:
        platform.changes(old)
    assert info.value.status == 410 and info.value.slug == "cursor-compacted"
    with pytest.raises(RegistryError) as info:
        platform.changes(old[:-2] + "xx")
    assert info.value.status in (400, 410)


def test_unreachable_registry_and_bad_urls():
    with pytest.raises(RegistryError) as info:
        Client("http://127.0.0.1:9", timeout=5).challenge()
    assert info.value.status == 0 and info.value.title == "cannot reach the registry"
    for url in ("ftp://x", "http://", "http://u:p@host", "http://host/?q=1", "host:80"):
        with pytest.raises(ValueError):
            Client(url)
    with pytest.raises(ValueError):
        Client("http://host", token="two words")
    assert "thp_" not in repr(Client("http://host", token="thp_x"))


def test_file_items_are_what_the_engine_hashes(tmp_path):
    import tidehash

    rng = np.random.default_rng(6)
    arr = np.asarray(Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
                     .resize((160, 120), Image.BILINEAR))
    Image.fromarray(arr).save(tmp_path / "a.png")
    rec = tidehash.hash_file(tmp_path / "a.png", algorithms=("pdq", "md5", "sha256"))
    assert file_item(tmp_path / "a.png") == {
        "kind": "image", "pdq": rec.pdq.hex, "quality": rec.pdq.quality,
        "md5": rec.md5, "sha256": rec.sha256}
    clip = make_video(tmp_path / "clip.mp4", frames=60)
    rec = tidehash.hash_file(clip, algorithms=("md5", "sha256", "vpdq"))
    assert file_item(clip) == {"kind": "video", "md5": rec.md5, "sha256": rec.sha256,
                               "vpdq": [f.to_json() for f in rec.vpdq]}
    assert len(rec.vpdq) == 3
