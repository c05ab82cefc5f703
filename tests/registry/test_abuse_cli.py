"""`tidehash admin review ...` / `admin negative ...` on the database, and the abuse
thresholds of `tidehash serve` reaching a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import httpx

from tidehash.registry.server.changelog import Changelog
from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import Store

from .api_helpers import bearer, image, pdq
from .client_helpers import cli, cli_json, serve


def lines(r) -> list[dict]:
    assert r.returncode == 0, (r.stdout, r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines()]


def test_admin_review_and_negative_commands(db_url):
    db = Database(db_url)
    keys = Keys.load(db)
    store, log = Store(db, keys), Changelog(db, keys)
    made = [store.create_case([image(i)]) for i in range(3)]
    log.publish()
    with db.connect() as conn:
        ids = [f"{store._current(conn, m['case_id'])[0].id:016x}" for m in made]
    db.close()
    admin = ("admin", "--db", db_url)

    added = cli_json(*admin, "negative", "add", "pdq", pdq(1).upper(), "--radius", "0",
                     "--label", "a logo")
    assert added["negative"]["value"] == pdq(1) and added["negative"]["radius"] == 0
    assert added["held"] == [ids[1]]
    exact = cli_json(*admin, "negative", "add", "md5", image(2)["md5"])
    assert exact["held"] == [ids[2]] and exact["negative"]["radius"] == 0
    assert cli_json(*admin, "publish")["published"] == 2  # the two tombstones
    listed = lines(cli(*admin, "review", "list"))
    assert [e["id"] for e in listed] == sorted([ids[1], ids[2]])
    assert all(m["case_id"] not in json.dumps(listed) for m in made)
    assert [e["id"] for e in lines(cli(*admin, "review", "list", "--rule", "negative",
                                       "--limit", "1"))] == [min(ids[1], ids[2])]
    assert lines(cli(*admin, "review", "list", "--rule", "dispute")) == []
    shown = cli_json(*admin, "review", "show", ids[1])
    assert shown["flags"][0]["rule"] == "negative" and shown["flags"][0]["state"] == "open"
    released = cli_json(*admin, "review", "release", ids[1].upper())
    assert released["decision"] == "released" and released["republished_as"] != ids[1]
    assert cli_json(*admin, "review", "remove", ids[2]) == {"id": ids[2],
                                                            "decision": "removed"}
    assert cli_json(*admin, "publish")["published"] == 1  # the new version
    assert lines(cli(*admin, "review", "list")) == []
    assert [n["label"] for n in lines(cli(*admin, "negative", "list"))] == ["a logo", ""]
    assert cli_json(*admin, "negative", "remove", str(added["negative"]["id"]))["removed"]
    assert len(lines(cli(*admin, "negative", "list"))) == 1

    # errors: a line on stderr and exit 1 (what the store refuses) or 2 (usage)
    for args, code, words in (
            (("negative", "add", "pdq", "zz" * 32), 1, "64 hexadecimal"),
            (("negative", "add", "md5", image(5)["md5"], "--radius", "2"), 1, "exactly"),
            (("negative", "add", "md5", image(2)["md5"]), 1, "already"),
            (("negative", "add", "tmk", "00"), 2, "tmk"),
            (("negative", "remove", "99"), 1, "no negative hash"),
            (("review", "show", "nothex"), 2, "16 hex"),
            (("review", "release", "0" * 16), 1, "no open flag"),
            (("review", "show", ids[0]), 1, "never flagged")):
        r = cli(*admin, *args)
        assert r.returncode == code, (args, r.stdout, r.stderr)
        assert words in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


def test_serve_takes_the_abuse_thresholds(db_url, tmp_path):
    r = cli("serve", "--db", db_url, "--flood-platforms", "0")
    assert r.returncode == 2 and "--flood-platforms" in r.stderr
    r = cli("serve", "--db", db_url, "--review-sample", "2")
    assert r.returncode == 2 and "--review-sample" in r.stderr
    with serve(db_url, tmp_path, pow_difficulty=0,
               options=("--dispute-platforms", "1", "--flood-platforms", "2")) as registry:
        token = registry.admin("platform", "add", "p")["token"]
        other = registry.admin("platform", "add", "q")["token"]
        made = httpx.post(registry.url + "/v1/cases", json={"items": [image(1), image(2)]})
        assert made.status_code == 201
        page = httpx.get(registry.url + "/v1/list/changes", headers=bearer(token)).json()
        ids = sorted(c["entry"]["id"] for c in page["changes"])
        # one platform's dispute is enough at --dispute-platforms 1
        r = httpx.post(registry.url + "/v1/feedback", headers=bearer(token),
                       json={"feedback": [{"id": ids[0], "verdict": "disputed"}]})
        assert r.status_code == 202
        flagged = lines(cli("admin", "--db", db_url, "review", "list"))
        assert [(e["id"], [f["rule"] for f in e["flags"]]) for e in flagged] == \
            [(ids[0], ["dispute"])]
        # two platforms' matches withdraw an entry at --flood-platforms 2
        for t in (token, other):
            httpx.post(registry.url + "/v1/feedback", headers=bearer(t),
                       json={"feedback": [{"id": ids[1], "verdict": "matched"}]})
        page = httpx.get(registry.url + "/v1/list/changes", headers=bearer(token),
                         params={"cursor": page["cursor"]}).json()
        assert [(c["op"], c["id"]) for c in page["changes"]] == [("delete", ids[1])]
