"""Helpers of the NCMEC / StopNCII view tests: a live registry (a real uvicorn on
loopback) with an operator token and a platform, the registry's own view of its active
set, and python-threatexchange's own clients and fetch loops pointed at it."""

from __future__ import annotations

import contextlib
import time
from types import SimpleNamespace

import httpx

# python-threatexchange is in the test extra: missing, these tests fail, never skip
from threatexchange.exchanges.clients.ncmec import hash_api  # noqa: E402
from threatexchange.exchanges.clients.stopncii import api as stopncii_api  # noqa: E402
from threatexchange.exchanges.collab_config import CollaborationConfigBase  # noqa: E402
from threatexchange.exchanges.impl.ncmec_api import (  # noqa: E402
    NCMECCollabConfig,
    NCMECSignalExchangeAPI,
)
from threatexchange.exchanges.impl.stop_ncii_api import StopNCIISignalExchangeAPI  # noqa: E402
from threatexchange.signal_type.md5 import VideoMD5Signal  # noqa: E402
from threatexchange.signal_type.pdq.signal import PdqSignal  # noqa: E402

from tidehash.registry.server.db import Database
from tidehash.registry.server.keys import Keys
from tidehash.registry.server.store import Store
from tidehash.registry.server.views import SLACK

from .api_helpers import bearer, uvicorn_server

#: seconds pytx's NCMEC fetch loop stays behind the clock (its ``end_time = now - 5``)
NCMEC_LAG = 5


class Live:
    """A registry server with one platform (every scope); ``http`` an httpx client."""

    def __init__(self, server, db_url: str):
        self.url = server.base_url
        self.db = Database(db_url)
        self.keys = Keys.load(self.db)
        self.store = Store(self.db, self.keys)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        self.operator = bearer(self.store.operator_token()["token"])
        made = self.platform("platform-a")
        self.token = made["token"]
        self.platform_id = made["platform_id"]
        self.cases: list[dict] = []  # {"case_id", "secret", "items"}

    def platform(self, name: str, scopes=None) -> dict:
        body = {"name": name} if scopes is None else {"name": name, "scopes": scopes}
        r = self.http.post("/v1/admin/platforms", json=body, headers=self.operator)
        assert r.status_code == 201, r.text
        return r.json()

    def submit(self, *items) -> dict:
        r = self.http.post("/v1/cases", json={"items": list(items)})
        assert r.status_code == 201, r.text
        case = r.json()
        self.cases.append({**case, "items": list(items)})
        return case

    def withdraw(self, case: dict, items=None) -> None:
        body = {"case_id": case["case_id"], "secret": case["secret"]}
        if items is not None:
            body["items"] = items
        r = self.http.post("/v1/cases/withdraw", json=body)
        assert r.status_code == 200, r.text

    def remove(self, entry_id: str) -> None:
        r = self.http.post(f"/v1/admin/entries/{entry_id}/remove", headers=self.operator)
        assert r.status_code == 200, r.text

    def active(self) -> dict:
        """The registry's active set: entry id -> wire entry (from the change log's own
        reading of the entry table)."""
        from tidehash.registry.server.changelog import Changelog

        _seq, entries = Changelog(self.db, self.keys).active_entries()
        return {e["id"]: e for e in entries}

    def all_entries(self) -> list[dict]:
        """Every published entry (active or not): id, case_id, kind, pdq, md5."""
        from sqlalchemy import select

        from tidehash.registry.server import schema

        e = schema.entry.c
        with self.db.connect() as conn:
            rows = conn.execute(select(e.id, e.case_id, e.kind, e.pdq, e.md5).where(
                e.added_seq.is_not(None))).all()
        return [{"id": f"{r.id:016x}", "case_id": r.case_id, "kind": r.kind,
                 "pdq": r.pdq and bytes(r.pdq).hex(), "md5": r.md5 and bytes(r.md5).hex()}
                for r in rows]

    def settle(self, lag: int) -> None:
        """Mark the head in the views' clock, then wait until a client ``lag`` seconds
        behind the clock sees it."""
        r = self.http.get("/stopncii/v1/FetchHashes", params={"pageSize": 1},
                          headers=self.stopncii_headers())
        assert r.status_code == 200, r.text
        marked = int(time.time())
        while time.time() < marked + lag + SLACK + 1:
            time.sleep(0.2)

    def stopncii_headers(self, token: str | None = None) -> dict:
        token = token or self.token
        return {"x-functions-key": token, "Ocp-Apim-Subscription-Key": token}

    # ------------------------------------------------------------------ pytx
    def ncmec_client(self, token: str | None = None) -> hash_api.NCMECHashAPI:
        env = SimpleNamespace(value=self.url + "/ncmec")
        return hash_api.NCMECHashAPI("any-user", token or self.token, env)

    def ncmec_exchange(self) -> NCMECSignalExchangeAPI:
        collab = NCMECCollabConfig(name="tidehash",
                                   environment=SimpleNamespace(value=self.url + "/ncmec"))
        return NCMECSignalExchangeAPI(collab, "any-user", self.token)

    def stopncii_client(self, token: str | None = None) -> stopncii_api.StopNCIIAPI:
        token = token or self.token
        return stopncii_api.StopNCIIAPI(
            token, token, {stopncii_api.StopNCIIEndpoint.SubmitFeedback: token},
            base_url_override=self.url + "/stopncii/v1")

    def stopncii_exchange(self) -> StopNCIISignalExchangeAPI:
        collab = CollaborationConfigBase(name="tidehash", api="stop_ncii", enabled=True)
        return StopNCIISignalExchangeAPI(collab, self.stopncii_client())

    def close(self) -> None:
        self.http.close()
        self.db.close()


@contextlib.contextmanager
def live_registry(db_url: str, tmp_path, **settings):
    """``settings``: the server's Settings that differ from the tests' (thresholds)."""
    with uvicorn_server(db_url, tmp_path, **settings) as server:
        live = Live(server, db_url)
        try:
            yield live
        finally:
            live.close()


def pull(exchange, state: dict, checkpoint):
    """pytx's fetch loop, merged as pytx merges it (``naive_fetch_merge``); returns the
    last checkpoint."""
    for delta in exchange.fetch_iter([PdqSignal, VideoMD5Signal], checkpoint):
        exchange.naive_fetch_merge(state, delta.updates)
        checkpoint = delta.checkpoint
    return checkpoint


def signals(exchange, collab, state: dict) -> dict:
    """pytx's conversion of the merged state to signal type -> {hash: metadata}."""
    out = exchange.naive_convert_to_signal_type([PdqSignal, VideoMD5Signal], collab, state)
    return {st.get_name(): set(values) for st, values in out.items()}
