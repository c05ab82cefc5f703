"""Feedback on matches goes back to each bank's source in its own protocol, through a
durable queue: a live tidehash registry (real uvicorn on loopback) receives the verdicts
sent to its own feedback route, its NCMEC-style view (PUT .../feedback) and its
StopNCII-style view (SubmitFeedback); a verdict acknowledged with 202 survives kill -9
of the matcher and is delivered after the restart. Both stores."""

from __future__ import annotations

import random

from sqlalchemy import select

from tidehash.registry.server import schema

from .interchange_helpers import live_registry
from .matcher_helpers import (
    live_banks_config,
    matcher_client,
    matcher_process,
    random_image,
    secret_file,
    wait_for,
    write_config,
    write_hex_list,
)


def _feedback_rows(live) -> list:
    f = schema.feedback.c
    with live.db.connect() as conn:
        return sorted((f"{r.entry_id:016x}", r.verdict, r.platform_id)
                      for r in conn.execute(select(f.entry_id, f.verdict, f.platform_id)))


def _content_id(client, bank: str, pdq: str) -> int:
    r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": pdq,
                                            "banks": bank})
    matches = r.json()["matches"]
    return matches[0] if matches else None


def test_feedback_reaches_each_source(db_url, tmp_path):
    rng = random.Random(23)
    with live_registry(db_url, tmp_path) as live:
        items = [random_image(rng) for _ in range(3)]
        case = live.submit(*items)
        entry_of = {e["pdq"]: e["id"] for e in live.active().values()}
        config = live_banks_config(tmp_path, live)
        write_hex_list(tmp_path / "local.txt", [items[0]["pdq"]])
        with matcher_client(config, db_url) as (client, m):
            assert m.wait_ready(60)
            wait_for(lambda: all(_content_id(client, b, items[0]["pdq"]) for b in
                                 ("TH", "NC", "SN")), 30, "the entries in every bank")
            sent = {}
            for bank, item, verdict in (("TH", items[0], "confirmed"),
                                        ("NC", items[1], "rejected"),
                                        ("SN", items[2], "confirmed"),
                                        ("NC", items[0], "confirmed")):
                wait_for(lambda b=bank, i=item: _content_id(client, b, i["pdq"]), 30, "match")
                cid = _content_id(client, bank, item["pdq"])
                r = client.post("/m/feedback", json={"bank": bank, "bank_content_id": cid,
                                                     "verdict": verdict})
                assert r.status_code == 202, r.text
                assert r.json()["state"] == "queued"
                sent[r.json()["id"]] = (bank, cid)
            for fid, (bank, cid) in sent.items():
                wait_for(lambda f=fid: client.get(f"/m/feedback/{f}").json()["state"] == "sent",
                         30, f"feedback {fid} delivered")
                got = client.get(f"/m/feedback/{fid}").json()
                assert got["bank"] == bank and got["bank_content_id"] == cid
                assert got["last_error"] is None
            platform = live.platform_id
            assert _feedback_rows(live) == sorted([
                (entry_of[items[0]["pdq"]], "confirmed", platform),  # the registry's route
                (entry_of[items[1]["pdq"]], "not_ncii", platform),   # NCMEC negative: Not NCII
                (entry_of[items[2]["pdq"]], "confirmed", platform),  # StopNCII: Blocked
                (entry_of[items[0]["pdq"]], "confirmed", platform),  # NCMEC affirmative
            ])
            metrics = client.get("/metrics").text
            assert 'tidehash_matcher_feedback{state="sent"} 4' in metrics

            # refusals: a 4xx with a reason, nothing queued
            cid = _content_id(client, "TH", items[0]["pdq"])
            for body, status in (({"bank": "NOPE", "bank_content_id": cid,
                                   "verdict": "confirmed"}, 404),
                                 ({"bank": "TH", "bank_content_id": cid, "verdict": "maybe"}, 400),
                                 ({"bank": "TH", "bank_content_id": 12345,
                                   "verdict": "confirmed"}, 404),
                                 ({"bank": "TH", "bank_content_id": "12",
                                   "verdict": "confirmed"}, 400),
                                 ({"bank": "TH", "bank_content_id": cid, "verdict": "confirmed",
                                   "extra": 1}, 400),
                                 ({"bank": "LOCAL", "bank_content_id": cid,
                                   "verdict": "confirmed"}, 400)):
                r = client.post("/m/feedback", json=body)
                assert r.status_code == status, (body, r.text)
                assert "message" in r.json()
            assert m.feedback.counts()["queued"] == 0
        live.withdraw(case)


def test_acknowledged_feedback_survives_kill_9(db_url, tmp_path):
    rng = random.Random(29)
    with live_registry(db_url, tmp_path) as live:
        item = random_image(rng)
        live.submit(item)
        entry_id = next(iter(live.active()))
        token = secret_file(tmp_path / "th.token", live.token)
        config = write_config(tmp_path / "m.toml", {"TH": {
            "source": f"tidehash:{live.url}", "credentials_file": str(token),
            "poll_interval": 0.2}})
        with matcher_process(config, db_url, tmp_path) as m:
            q = {"signal_type": "pdq", "signal": item["pdq"]}
            wait_for(lambda: m.http.get("/m/raw_lookup", params=q).json()["matches"], 30,
                     "the entry")
            cid = m.http.get("/m/raw_lookup", params=q).json()["matches"][0]
            secret_file(token, "thp_0000000000000000_not-a-token")  # deliveries now fail
            r = m.http.post("/m/feedback", json={"bank": "TH", "bank_content_id": cid,
                                                 "verdict": "confirmed"})
            assert r.status_code == 202
            fid = r.json()["id"]
            wait_for(lambda: m.http.get(f"/m/feedback/{fid}").json()["attempts"] >= 1, 30,
                     "a failed attempt")
            assert m.http.get(f"/m/feedback/{fid}").json()["state"] == "queued"
            m.kill()
        assert _feedback_rows(live) == []
        secret_file(token, live.token)
        with matcher_process(config, db_url, tmp_path) as m:
            wait_for(lambda: m.http.get(f"/m/feedback/{fid}").json()["state"] == "sent", 90,
                     "the feedback after the restart")
        assert _feedback_rows(live) == [(entry_id, "confirmed", live.platform_id)]
