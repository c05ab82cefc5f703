"""The person's routes through HTTP on both stores: submit, status, withdraw (whole case
and some items, idempotent), the one 404 for an unknown case and a wrong secret."""

from __future__ import annotations

import re

from .api_helpers import (
    api_fixture,  # noqa: F401 (the api fixture)
    assert_problem,
    image,
    running,
    video,
)

CASE_ID = re.compile(r"^TH-[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def status(api, case, secret=None):
    return api.post("/v1/cases/status",
                    json={"case_id": case["case_id"], "secret": secret or case["secret"]})


def test_submit_returns_a_case_id_and_a_secret_once(api):
    r = api.post("/v1/cases", json={"items": [image(1), video(2)]})
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert set(body) == {"case_id", "secret", "items"}
    assert CASE_ID.match(body["case_id"])
    assert len(body["secret"]) >= 32  # 192 bits in base64url
    assert body["items"] == [{"item": 0, "kind": "image", "status": "pending"},
                             {"item": 1, "kind": "video", "status": "pending"}]
    other = api.submit(image(1))
    assert other["case_id"] != body["case_id"] and other["secret"] != body["secret"]


def test_status_after_publication_is_active(api):
    case = api.submit(image(1), video(2))
    r = status(api, case)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["case_id"] == case["case_id"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", body["created"])
    assert body["items"] == [{"item": 0, "kind": "image", "status": "active"},
                             {"item": 1, "kind": "video", "status": "active"}]


def test_the_case_id_is_read_as_a_person_types_it(api):
    case = api.submit()
    typed = case["case_id"].lower().replace("-", "")
    r = api.post("/v1/cases/status", json={"case_id": typed, "secret": case["secret"]})
    assert r.status_code == 200, r.text
    assert r.json()["case_id"] == case["case_id"]


def test_unknown_case_and_wrong_secret_are_the_same_404(api):
    case = api.submit()
    wrong = assert_problem(status(api, case, secret=case["secret"][:-1]
                                  + ("x" if case["secret"][-1] != "x" else "y")), 404, "not-found")
    unknown = assert_problem(
        api.post("/v1/cases/status", json={"case_id": "TH-0000-0000-0000-0000",
                                           "secret": case["secret"]}), 404, "not-found")
    garbage = assert_problem(
        api.post("/v1/cases/status", json={"case_id": "not a case", "secret": "x"}),
        404, "not-found")
    assert wrong == unknown == garbage
    for route in ("/v1/cases/withdraw",):
        r = api.post(route, json={"case_id": case["case_id"], "secret": "x" * 32})
        assert assert_problem(r, 404, "not-found") == wrong
    # and the case is untouched
    assert [i["status"] for i in status(api, case).json()["items"]] == ["active"]


def test_withdraw_some_items_then_all_idempotently(api):
    case = api.submit(image(1), image(2), video(3))
    body = {"case_id": case["case_id"], "secret": case["secret"]}
    r = api.post("/v1/cases/withdraw", json={**body, "items": [0, 2]})
    assert r.status_code == 200, r.text
    assert [i["status"] for i in r.json()["items"]] == ["withdrawn", "active", "withdrawn"]
    again = api.post("/v1/cases/withdraw", json={**body, "items": [2, 0, 2]})
    assert again.status_code == 200 and again.json() == r.json()
    everything = api.post("/v1/cases/withdraw", json=body)
    assert [i["status"] for i in everything.json()["items"]] == ["withdrawn"] * 3
    assert api.post("/v1/cases/withdraw", json=body).json() == everything.json()
    assert status(api, case).json() == everything.json()


def test_withdrawing_an_item_the_case_lacks_is_400_and_changes_nothing(api):
    case = api.submit(image(1), image(2))
    r = api.post("/v1/cases/withdraw", json={"case_id": case["case_id"],
                                             "secret": case["secret"], "items": [1, 2]})
    problem = assert_problem(r, 400, "invalid-request")
    assert [e["loc"] for e in problem["errors"]] == ["items[1]"]
    assert [i["status"] for i in status(api, case).json()["items"]] == ["active", "active"]


def test_withdrawals_reach_the_platforms_as_tombstones(api):
    headers = api.platform()
    case = api.submit(image(1), image(2))
    before = api.get("/v1/list/changes", headers=headers).json()
    ids = [c["entry"]["id"] for c in before["changes"]]
    assert [c["op"] for c in before["changes"]] == ["upsert", "upsert"]
    api.post("/v1/cases/withdraw", json={"case_id": case["case_id"], "secret": case["secret"],
                                         "items": [1]})
    after = api.get("/v1/list/changes", params={"cursor": before["cursor"]},
                    headers=headers).json()
    assert len(after["changes"]) == 1
    (tomb,) = after["changes"]
    assert tomb["op"] == "delete" and tomb["seq"] == before["head"] + 1
    entry_of_item_1 = next(c["entry"]["id"] for c in before["changes"]
                           if c["entry"]["md5"] == image(2)["md5"])
    assert tomb["id"] == entry_of_item_1 and tomb["id"] in ids


def test_a_case_withdrawn_before_publication_never_reaches_the_list(db_url):
    with running(db_url, publish_delay=3600) as api:
        headers = api.platform()
        case = api.submit(image(1))
        assert [i["status"] for i in status(api, case).json()["items"]] == ["pending"]
        r = api.post("/v1/cases/withdraw", json={"case_id": case["case_id"],
                                                 "secret": case["secret"]})
        assert [i["status"] for i in r.json()["items"]] == ["withdrawn"]
        api.services.changelog.publish(now=10**10)  # far past any hold
        api.services.changelog.publish(now=2 * 10**10)
        page = api.get("/v1/list/changes", headers=headers).json()
        assert page["changes"] == [] and page["head"] == 0


def test_hex_is_stored_and_listed_in_lower_case(api):
    headers = api.platform()
    item = image(5)
    shouted = {k: (v.upper() if isinstance(v, str) and k != "kind" else v)
               for k, v in item.items()}
    api.submit(shouted)
    (change,) = api.get("/v1/list/changes", headers=headers).json()["changes"]
    entry = change["entry"]
    assert (entry["pdq"], entry["md5"], entry["sha256"], entry["quality"]) == (
        item["pdq"], item["md5"], item["sha256"], item["quality"])
