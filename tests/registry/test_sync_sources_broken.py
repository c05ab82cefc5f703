"""``tidehash sync --from ncmec|stopncii`` against deliberately broken servers on
loopback (broken_servers): malformed entries and pages reported with their position
and skipped, all-zero PDQs refused (ThreatExchange #1609), a next link that fails
retried with backoff and then a clear error with the checkpoint kept (a rerun resumes
there), empty pages with a next link (no endless loop), stale links restarting their
own window (#1744), hostile XML and JSON refused, over-long answers refused. Never a
crash, never a silent drop: every refused entry is counted and listed."""

from __future__ import annotations

import json

import pytest

from tidehash.formats.binary import load_list
from tidehash.registry import listsync
from tidehash.registry.sources import SourceError, entry_id_of, open_source
from tidehash.registry.sources.base import MAX_EMPTY_PAGES

from .api_helpers import pdq
from .broken_servers import (
    FakeNCMEC,
    FakeStopNCII,
    Reply,
    ncmec_entry,
    ncmec_page,
    scripted,
    stopncii_record,
)
from .client_helpers import cli
from .source_helpers import credentials_file, held

MD5 = "0123456789abcdef0123456789abcdef"
SHA = "ab" * 32
ZERO = "0" * 64


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def ncmec(server, **options):
    options.setdefault("sleep", Sleeps())
    options.setdefault("backoff", 0.25)
    return open_source("ncmec", {"url": server.url, "user": "u", "password": "s3cret"},
                       lag=0, **options)


def stopncii(server, **options):
    options.setdefault("sleep", Sleeps())
    return open_source("stopncii", {"url": server.url, "subscription_key": "sub-key",
                                    "fetch_key": "fetch-key"}, **options)


def ids_of(path) -> set:
    return {i for v in held(load_list(path)).values() for i, *_ in v}


def good(n: int, member: int = 7) -> str:
    return ncmec_entry(member, f"e{n}", {"pdq": pdq(n), "md5": f"{n:032x}"})


# ---------------------------------------------------------------------------- entries
def test_ncmec_bad_entries_are_reported_with_their_position_and_skipped(tmp_path):
    page = [good(1),
            ncmec_entry("x", "e2", {"md5": MD5}),                     # member not numeric
            ncmec_entry(7, None, {"md5": MD5}),                       # no id
            ncmec_entry(7, "e4", {"pdq": "zz" * 32, "md5": MD5}),     # bad pdq, md5 kept
            ncmec_entry(7, "e5", {"pdq": ZERO}),                      # #1609: refused
            ncmec_entry(7, "e6", {"pdq": ZERO, "sha256": SHA}),       # sha256 kept
            ncmec_entry(7, "e7", {"sha1": "aa" * 20, "pdna": "x"}),   # nothing usable
            ncmec_entry(7, "e8", {"md5": MD5[:-2]}),                  # wrong length
            "<image><member id='7'>m</member><id>e9</id><fingerprints><pdq>"
            + "a" * 5000 + "</pdq></fingerprints></image>",           # over-long text
            "<junk/>",
            ncmec_entry(7, "v1", {"md5": "ee" * 16, "pdq": pdq(3)}, tag="video"),
            ncmec_entry("1" * 40, "e10", {"md5": MD5})]              # a huge member id
    with scripted(FakeNCMEC([page, [ncmec_entry(7, "e1", tag="deletedImage"),
                                    good(11)]])) as server:
        listed = tmp_path / "l.thl"
        result = listsync.sync_source(listed, ncmec(server))
    refused = {(e["page"], e["entry"]): (e["id"], e["error"]) for e in result["refused"]}
    assert result["errors"] == len(result["refused"]) == len(refused) == 10
    assert set(refused) == {(1, n) for n in range(2, 12)}
    assert refused[(1, 2)][0] is None and "numeric <member id>" in refused[(1, 2)][1]
    assert refused[(1, 3)][0] is None and "id" in refused[(1, 3)][1]
    assert refused[(1, 4)][0] == "ncmec:7:e4" and "not hex" in refused[(1, 4)][1]
    assert "all-zero PDQ" in refused[(1, 5)][1] and "kept" not in refused[(1, 5)][1]
    assert "all-zero PDQ" in refused[(1, 6)][1] and "the others kept" in refused[(1, 6)][1]
    assert "no fingerprint tidehash uses (has sha1, pdna)" in refused[(1, 7)][1]
    assert "wrong length" in refused[(1, 8)][1]
    assert "longer than 4096" in refused[(1, 9)][1]
    assert "<junk> is not an entry" in refused[(1, 10)][1]
    assert refused[(1, 11)][0] is None  # images come first, then videos (v1: 12)
    # a video's pdq is not a video fingerprint: not used, as SHA1 beside an MD5 is
    # (reported only when an entry has nothing tidehash uses)
    want = {"pdq": {(entry_id_of("ncmec:7:e11"), pdq(11), None, "ncmec:7:e11")},
            "md5": {(entry_id_of("ncmec:7:e11"), f"{11:032x}", None, "ncmec:7:e11"),
                    (entry_id_of("ncmec:7:e4"), MD5, None, "ncmec:7:e4"),
                    (entry_id_of("ncmec:7:v1"), "ee" * 16, None, "ncmec:7:v1")},
            "sha256": {(entry_id_of("ncmec:7:e6"), SHA, None, "ncmec:7:e6")},
            "vpdq": set()}
    assert held(load_list(listed)) == want  # e1 added on page 1, deleted on page 2
    assert result["entries"] == 4 and result["pages"] == 2


def test_stopncii_records_withdrawn_deleted_and_malformed(tmp_path):
    a, b, c = pdq(1), pdq(2), pdq(3)
    pages = [[stopncii_record(a), stopncii_record(b), stopncii_record(c),
              stopncii_record(MD5, "VideoMD5"),
              stopncii_record(pdq(4), "StopNCIISignalType.ImagePDQ"),   # pytx's spelling
              stopncii_record(ZERO),                                    # #1609
              stopncii_record("ab" * 10),                               # wrong length
              stopncii_record(pdq(5), "VideoTMK"),                      # not used
              stopncii_record(pdq(6), 7),                               # wrong type
              stopncii_record(pdq(7), status="Bogus"),
              stopncii_record(pdq(8), caseNumbers=[]),                  # pytx's fix: fine
              "a string", None,
              stopncii_record(pdq(9), lastModtimestamp=10 ** 40)],       # unused: fine
             [stopncii_record(a, status="Withdrawn"),                   # pytx keeps it
              stopncii_record(b, status="Deleted"),
              stopncii_record(MD5, "VideoMD5", status="Received")]]
    with scripted(FakeStopNCII(pages)) as server:
        listed = tmp_path / "l.thl"
        result = listsync.sync_source(listed, stopncii(server))
    errors = {e["entry"]: e["error"] for e in result["refused"]}
    assert sorted(errors) == [6, 7, 8, 9, 10, 12, 13] and result["errors"] == 7
    assert "all-zero PDQ" in errors[6] and "wrong length" in errors[7]
    assert "VideoTMK" in errors[8] and "signalType is not a string" in errors[9]
    assert "Bogus" in errors[10] and "str" in errors[12] and "NoneType" in errors[13]
    got = held(load_list(listed))
    assert {h for _i, h, _q, _l in got["pdq"]} == {c, pdq(4), pdq(8), pdq(9)}
    assert got["md5"] == set()
    fid = f"stopncii:ImagePDQ:{c}"
    assert (entry_id_of(fid), c, None, fid) in got["pdq"]
    assert load_list(listed).extra["registry"]["checkpoint"] == {"time": 1001}


def test_stopncii_a_malformed_page_is_skipped_and_listed_the_next_one_read(tmp_path):
    """ThreatExchange #2004: a page whose records cannot be read does not stop the
    pull: reported, then the next page (its token was readable)."""
    bad = json.dumps({"count": 1, "nextPageToken": "t2", "nextSetTimestamp": "soon",
                      "hasMoreRecords": True, "hashRecords": {"not": "a list"}}).encode()
    pages = [[stopncii_record(pdq(1))], [], [stopncii_record(pdq(2))]]
    with scripted(FakeStopNCII(pages, bodies={1: bad})) as server:
        listed = tmp_path / "l.thl"
        result = listsync.sync_source(listed, stopncii(server))
    assert [(e["page"], e["entry"]) for e in result["refused"]] == [(2, None), (2, None)]
    assert "nextSetTimestamp" in result["refused"][0]["error"]
    assert "hashRecords is a dict" in result["refused"][1]["error"]
    assert {h for _i, h, *_ in held(load_list(listed))["pdq"]} == {pdq(1), pdq(2)}


# ---------------------------------------------------------------------------- paging faults
@pytest.mark.parametrize("fault", ["500", "cut", "truncated-xml", "not-xml"])
def test_a_failing_next_link_keeps_the_checkpoint_and_a_rerun_resumes(tmp_path, fault):
    replies = {"500": Reply(500, b"oops"),
               "cut": Reply(body=ncmec_page([good(5)], None), length=10_000),
               "truncated-xml": Reply(body=ncmec_page([good(5)], None)[:150]),
               "not-xml": Reply(body=b"<html>gateway error</html>")}
    fake = FakeNCMEC([[good(1), good(2)], [good(3)], [good(4)]],
                     faults={1: [replies[fault]] * 50})
    listed = tmp_path / "l.thl"
    with scripted(fake) as server:
        sleeps = Sleeps()
        with pytest.raises(SourceError) as info:
            listsync.sync_source(listed, ncmec(server, attempts=4, sleep=sleeps))
        message = str(info.value)
        assert "/v2/entries" in message and "s3cret" not in message
        if fault in ("500", "cut"):
            assert ("HTTP 500" if fault == "500" else "cut off") in message
            assert "4 attempts" in message and sleeps == [0.25, 0.5, 1.0]
        else:
            assert "not an NCMEC page" in message and "3 attempts" in message
        first_pass = len(server.requests)
        state = load_list(listed).extra["registry"]["checkpoint"]
        assert state["next"].endswith("start=1&size=1000&max=99")
        assert ids_of(listed) == {entry_id_of("ncmec:7:e1"), entry_id_of("ncmec:7:e2")}
        assert info.value.result["checkpoint"] == state
        # the server is mended: the rerun starts at the link it stopped at
        fake.faults.clear()
        result = listsync.sync_source(listed, ncmec(server))
        assert server.requests[first_pass].query["start"] == "1"
        assert server.requests[first_pass].query["from"] == \
            server.requests[0].query["from"]
        assert result["checkpoint"] == {"time": state["to"]} and result["pages"] == 2
    assert ids_of(listed) == {entry_id_of(f"ncmec:7:e{i}") for i in (1, 2, 3, 4)}


def test_the_cli_reports_a_stopped_pull_and_the_rerun_finishes(tmp_path):
    fake = FakeNCMEC([[good(1), ncmec_entry(7, "z", {"pdq": ZERO})], [good(2)]],
                     faults={1: [Reply(503, b"busy")] * 100})
    creds = credentials_file(tmp_path / "c.json", {"url": "", "user": "u",
                                                   "password": "s3cret"})
    listed = tmp_path / "l.thl"
    with scripted(fake) as server:
        credentials_file(creds, {"url": server.url, "user": "u", "password": "s3cret"})
        r = cli("sync", "--from", "ncmec", "--credentials", creds, "--into", listed,
                "--timeout", "5")
        assert r.returncode == 1 and "Traceback" not in r.stderr
        assert "HTTP 503" in r.stderr and "attempts" in r.stderr
        assert "kept at the last page applied" in r.stderr
        assert "refused: page 1 entry 2 (ncmec:7:z): " in r.stderr
        assert "s3cret" not in r.stderr + r.stdout
        fake.faults.clear()
        r = cli("sync", "--from", "ncmec", "--credentials", creds, "--into", listed)
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["entries"] == 2 and out["added"] == 1 and out["errors"] == 0


def test_a_stale_next_link_restarts_the_same_window(tmp_path):
    """ThreatExchange #1744: the window is read again with its own from and to."""
    fake = FakeNCMEC([[good(1)], [good(2)], [good(3)]],
                     faults={2: [Reply(410, b"<error>expired</error>")]})
    with scripted(fake) as server:
        listed = tmp_path / "l.thl"
        result = listsync.sync_source(listed, ncmec(server))
        seen = [(r.query.get("from"), r.query.get("to"), r.query.get("start"))
                for r in server.requests]
    window = seen[0][:2]
    assert seen == [(*window, None), (*window, "1"), (*window, "2"), (*window, None),
                    (*window, "1"), (*window, "2")]
    assert result["entries"] == 3


def test_a_stale_stopncii_token_restarts_from_the_last_set_time(tmp_path):
    fake = FakeStopNCII([[stopncii_record(pdq(1))], [stopncii_record(pdq(2))],
                         [stopncii_record(pdq(3))]],
                        faults={1: [Reply(400, b'{"title": "bad-cursor"}',
                                          "application/json")]})
    with scripted(fake) as server:
        listed = tmp_path / "l.thl"
        result = listsync.sync_source(listed, stopncii(server))
        seen = [(r.query["startTimestamp"], r.query.get("nextPageToken"))
                for r in server.requests]
    # page 0 said every record before 1000 was sent: the pull starts again there
    assert seen == [("0", None), ("0", "t1"), ("1000", None), ("1000", "t1"),
                    ("1000", "t2")]
    assert result["checkpoint"] == {"time": 1002} and result["entries"] == 3


def test_empty_pages_with_a_next_link_do_not_loop(tmp_path):
    endless = FakeNCMEC([[]] * 1000)
    with scripted(endless) as server:
        with pytest.raises(SourceError, match="empty pages in a row"):
            listsync.sync_source(tmp_path / "a.thl", ncmec(server))
        assert len(server.requests) == MAX_EMPTY_PAGES + 1
    # a few empty pages are fine
    with scripted(FakeNCMEC([[], [], [good(1)], [], [good(2)]])) as server:
        assert listsync.sync_source(tmp_path / "b.thl", ncmec(server))["entries"] == 2

    def same_link(seen):
        return Reply(body=ncmec_page([good(1)], "/v2/entries?start=1&max=9&size=5"))
    with scripted(same_link) as server:
        with pytest.raises(SourceError, match="repeats"):
            listsync.sync_source(tmp_path / "c.thl", ncmec(server))
        assert len(server.requests) == 2
    # StopNCII: hasMoreRecords with empty pages, and a token that repeats
    with scripted(FakeStopNCII([[]] * 1000)) as server:
        with pytest.raises(SourceError, match="empty pages in a row"):
            listsync.sync_source(tmp_path / "d.thl", stopncii(server))
        assert len(server.requests) == MAX_EMPTY_PAGES + 1
    looping = json.dumps({"count": 0, "nextPageToken": "t1", "nextSetTimestamp": 5,
                          "hasMoreRecords": True, "hashRecords": []}).encode()
    with scripted(FakeStopNCII([[], []], bodies={1: looping})) as server:
        with pytest.raises(SourceError, match="repeats"):
            listsync.sync_source(tmp_path / "e.thl", stopncii(server))


def test_the_checkpoint_never_moves_backwards(tmp_path):
    pages = [[stopncii_record(pdq(1))], [stopncii_record(pdq(2))]]
    with scripted(FakeStopNCII(pages, next_set={0: 50, 1: 5})) as server:
        listed = tmp_path / "l.thl"
        listsync.sync_source(listed, stopncii(server))
        assert load_list(listed).extra["registry"]["checkpoint"] == {"time": 50}
        # the next pull starts at 50; a server answering an earlier time does not move it
        pages.append([stopncii_record(pdq(3))])
        result = listsync.sync_source(listed, stopncii(server))
        assert server.requests[-1].query["startTimestamp"] == "50"
        assert result["checkpoint"]["time"] >= 50



def test_the_ncmec_checkpoint_never_moves_backwards(tmp_path):
    """NCMEC's window ends at the clock (less the lag): a clock set back reads no
    window and leaves the checkpoint where it was; the next window starts there."""
    from tidehash.registry.sources.ncmec import format_time

    now = [2_000_000_000]
    with scripted(FakeNCMEC([[good(1)]])) as server:
        listed = tmp_path / "l.thl"
        listsync.sync_source(listed, ncmec(server, clock=lambda: now[0]))
        assert load_list(listed).extra["registry"]["checkpoint"] == {"time": 2_000_000_000}
        before, asked = listed.read_bytes(), len(server.requests)
        now[0] -= 3600  # the machine's clock set back an hour
        result = listsync.sync_source(listed, ncmec(server, clock=lambda: now[0]))
        assert result["checkpoint"] == {"time": 2_000_000_000} and result["pages"] == 0
        assert len(server.requests) == asked and listed.read_bytes() == before
        now[0] += 7200
        result = listsync.sync_source(listed, ncmec(server, clock=lambda: now[0]))
        window = server.requests[-1].query
        assert (window["from"], window["to"]) == (format_time(2_000_000_000),
                                                  format_time(now[0]))
        assert result["checkpoint"] == {"time": now[0]}
    assert ids_of(listed) == {entry_id_of("ncmec:7:e1")}

# ---------------------------------------------------------------------------- hostile
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY a "aaaaaaaaaa">'
          + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">'
                     % ((98 + i,) + (97 + i,) * 10) for i in range(9))
          + b"]><queryResult>&j;</queryResult>")
XXE = (b'<?xml version="1.0"?><!DOCTYPE q [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b"<queryResult><images><image><member id='1'>&x;</member></image></images>"
       b"</queryResult>")
DEEP = b"<queryResult>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</queryResult>"


@pytest.mark.parametrize("body,why", [(LAUGHS, "DOCTYPE"), (XXE, "DOCTYPE"),
                                      (DEEP, "nested deeper"),
                                      (b"<queryResult><images>", "not well-formed"),
                                      (b"\xff\xfe<a/>", "not well-formed"),
                                      (b'{"json": true}', "not well-formed"),
                                      (b"<other/>", "<other>, not <queryResult>")])
def test_hostile_xml_is_refused_clearly(tmp_path, body, why):
    with scripted(lambda seen: Reply(body=body)) as server:
        with pytest.raises(SourceError) as info:
            listsync.sync_source(tmp_path / "l.thl", ncmec(server))
    assert why in str(info.value) and "not an NCMEC page" in str(info.value)
    assert not (tmp_path / "l.thl").exists()


@pytest.mark.parametrize("body,why", [
    (b"[" * 200_000 + b"]" * 200_000, "not JSON"),
    (b'{"hasMoreRecords": NaN}', "NaN is not JSON"),
    (b'[1, 2]', "a JSON list, not an object"),
    (b'{"hasMoreRecords": "yes", "hashRecords": []}', "hasMoreRecords is not true"),
    (b'{"hasMoreRecords": true, "nextPageToken": 5}', "without a nextPageToken"),
    (b'{"hasMoreRecords": false, "nextSetTimestamp": ' + b"9" * 100_000 + b"}", None),
    (b"\xff not utf-8", "not JSON")])
def test_hostile_json_is_refused_clearly(tmp_path, body, why):
    with scripted(lambda seen: Reply(body=body, content_type="application/json")) as server:
        if why is None:  # a huge number: the field is wrong, the page is read
            result = listsync.sync_source(tmp_path / "l.thl", stopncii(server))
            assert result["errors"] == 1 and "digits" in result["refused"][0]["error"]
            assert result["checkpoint"] == {"time": 0}
            return
        with pytest.raises(SourceError) as info:
            listsync.sync_source(tmp_path / "l.thl", stopncii(server))
    assert why in str(info.value)
    assert not (tmp_path / "l.thl").exists()


def test_over_long_answers_are_refused(tmp_path):
    big = ncmec_page([good(i) for i in range(200)], None)
    with scripted(lambda seen: Reply(body=big)) as server:
        with pytest.raises(SourceError, match="over the 10000"):
            listsync.sync_source(tmp_path / "l.thl", ncmec(server, max_bytes=10_000))
        # a declared length over the limit is refused before anything is read
    with scripted(lambda seen: Reply(body=b"", length=1 << 40)) as server:
        with pytest.raises(SourceError, match="an answer of 1099511627776 bytes"):
            listsync.sync_source(tmp_path / "l.thl", ncmec(server))
    assert not (tmp_path / "l.thl").exists()


def test_credentials_travel_only_in_headers(tmp_path):
    with scripted(FakeNCMEC([[good(1)]])) as server:
        listsync.sync_source(tmp_path / "n.thl", ncmec(server))
        (req,) = server.requests
    assert req.headers["authorization"] == "Basic dTpzM2NyZXQ="  # u:s3cret
    assert "s3cret" not in json.dumps(req.query)
    with scripted(FakeStopNCII([[stopncii_record(pdq(1))]])) as server:
        listsync.sync_source(tmp_path / "s.thl", stopncii(server))
        (req,) = server.requests
    assert req.headers["ocp-apim-subscription-key"] == "sub-key"
    assert req.headers["x-functions-key"] == "fetch-key"
    assert req.query == {"startTimestamp": "0", "pageSize": "1000"}

    def redirect(seen):
        return Reply(302, b"")
    with scripted(redirect) as server:
        with pytest.raises(SourceError, match="redirected"):
            listsync.sync_source(tmp_path / "r.thl", ncmec(server))
        assert len(server.requests) == 1
