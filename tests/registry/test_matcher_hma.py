"""The matcher's HMA-compatible routes answer what HMA 2.0's own handlers answer, for
the requests of HMA's own route tests (ThreatExchange's
hasher-matcher-actioner/src/OpenMediaMatch/tests/test_match_api.py and test_api.py):
the same JSON shapes and types, the same 4xx for a bad signal type or hash, /status
503 until loaded. Banks are list files; both stores."""

from __future__ import annotations

import hashlib
import io
import random
import threading

import numpy as np
import pytest
from PIL import Image

import tidehash
from tidehash.registry.sources.base import entry_id_of

from .broken_servers import Reply, scripted
from .matcher_helpers import (
    flip,
    matcher_client,
    random_pdq,
    secret_file,
    wait_for,
    write_config,
    write_hex_list,
)

# HMA's test_compare_hashes specimens (distance 9)
SPECIMEN1 = "facd8bcb2a49bcebdec1985298d5fe84bcd006c187c598c720c3c087b3fdb318"
SPECIMEN2 = "facd8bcb2a49bcebdec1985228d5ae84bcd006c187c598c720c2b087b3fdb318"
# pytx's VideoMD5Signal.get_examples()[0]
VIDEO_MD5 = "cab08b36195edb1a1231d2d09fa450e0"


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    pixels = np.kron(pixels[::8, ::8], np.ones((8, 8, 1), np.uint8))  # blocks: a real image
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def banks(tmp_path):
    """Three banks holding the same PDQ (HMA's client_with_multi_bank_data), one of
    them also the video MD5 and a photo's PDQ."""
    photo = _png(1)
    photo_pdq = tidehash.hash_file(photo).pdq.hex
    for name in ("a", "b", "c"):
        write_hex_list(tmp_path / f"{name}.txt", [SPECIMEN1])
    write_hex_list(tmp_path / "a.txt", [SPECIMEN1, photo_pdq])
    (tmp_path / "md5.txt").write_text(VIDEO_MD5 + "\n")
    config = write_config(tmp_path / "matcher.toml", {
        "BANK_A": {"source": "list:a.txt"}, "BANK_B": {"source": "list:b.txt"},
        "BANK_C": {"source": "list:c.txt"}, "VIDEOS": {"source": "list:md5.txt"}})
    return config, photo, photo_pdq


def test_raw_lookup_shapes_and_bank_filter(banks, db_url):
    config, _photo, _pdq = banks
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        assert client.get("/status").status_code == 200
        assert client.get("/status").text == "I-AM-ALIVE"
        q = {"signal": SPECIMEN1, "signal_type": "pdq"}
        r = client.get("/m/raw_lookup", params=q)
        assert r.status_code == 200
        content_id = entry_id_of(f"list:pdq:{SPECIMEN1}")
        assert r.json() == {"matches": [content_id] * 3}  # one from each bank
        r = client.get("/m/raw_lookup", params={**q, "include_distance": "True"})
        assert r.json() == {"matches": [{"bank_content_id": content_id, "distance": "0"}] * 3}
        for banks_param, n in (("BANK_A", 1), ("BANK_A,BANK_B", 2), ("NON_EXISTENT_BANK", 0)):
            r = client.get("/m/raw_lookup", params={**q, "banks": banks_param})
            assert r.status_code == 200 and len(r.json()["matches"]) == n
        r = client.get("/m/raw_lookup", params={**q, "include_distance": "true",
                                                "banks": "BANK_A,BANK_B"})
        assert len(r.json()["matches"]) == 2
        # a near hash: its distance as HMA's pretty_str, a string
        near = flip(SPECIMEN1, 9, random.Random(3))
        r = client.get("/m/raw_lookup", params={"signal": near, "signal_type": "pdq",
                                                "include_distance": "1", "banks": "BANK_B"})
        assert r.json() == {"matches": [{"bank_content_id": content_id, "distance": "9"}]}
        r = client.get("/m/raw_lookup", params={"signal": VIDEO_MD5, "signal_type": "video_md5"})
        assert r.json() == {"matches": [entry_id_of(f"list:md5:{VIDEO_MD5}")]}


def test_lookup_shapes(banks, db_url):
    config, _photo, _pdq = banks
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        q = {"signal": SPECIMEN1, "signal_type": "pdq"}
        content_id = entry_id_of(f"list:pdq:{SPECIMEN1}")
        r = client.get("/m/lookup", params=q)
        assert r.status_code == 200
        match = [{"bank_content_id": content_id, "distance": "0"}]
        assert r.json() == {"BANK_A": match, "BANK_B": match, "BANK_C": match}
        assert set(client.get("/m/lookup", params={**q, "banks": "BANK_A,BANK_C"}).json()) \
            == {"BANK_A", "BANK_C"}
        assert client.get("/m/lookup", params={**q, "banks": "NON_EXISTENT_BANK"}).json() == {}
        r = client.get("/m/lookup", params={"signal": VIDEO_MD5.upper(),
                                            "signal_type": "video_md5"})
        assert r.json() == {"VIDEOS": [{"bank_content_id": entry_id_of(f"list:md5:{VIDEO_MD5}"),
                                        "distance": "-"}]}


def test_bad_requests_are_4xx_with_a_message(banks, db_url):
    config, _photo, _pdq = banks
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        cases = [
            ("/m/raw_lookup", {"signal": SPECIMEN1, "signal_type": "not_a_type"}, 400,
             "No such SignalType 'not_a_type'"),
            ("/m/raw_lookup", {"signal": "banana", "signal_type": "pdq"}, 400,
             "invalid signal: invalid PDQ hash"),
            # pytx's PDQ check takes lower case only
            ("/m/raw_lookup", {"signal": SPECIMEN1.upper(), "signal_type": "pdq"}, 400,
             "invalid signal: invalid PDQ hash"),
            ("/m/lookup", {"signal_type": "pdq"}, 400,
             "Either url or both signal and signal_type are required"),
            ("/m/lookup", {"signal": "zz", "signal_type": "video_md5"}, 400, None),
            ("/m/lookup", {"url": "https://example.com/a.jpg"}, 403, None),
        ]
        for path, params, status, message in cases:
            r = client.get(path, params=params)
            assert r.status_code == status, (path, params, r.text)
            body = r.json()
            assert set(body) == {"message"} and isinstance(body["message"], str)
            if message is not None:
                assert body["message"] == message
        r = client.get("/no/such/route")
        assert r.status_code == 404 and "message" in r.json()


def test_compare_as_hma(banks, db_url):
    config, _photo, _pdq = banks
    with matcher_client(config, db_url) as (client, _m):
        r = client.post("/m/compare", json={"pdq": [SPECIMEN1, SPECIMEN2]})
        assert r.status_code == 200
        assert r.json() == {"pdq": [True, {"distance": 9}]}
        r = client.post("/m/compare", json={"video_md5": [VIDEO_MD5, VIDEO_MD5.upper()]})
        assert r.json() == {"video_md5": [True, {}]}
        for bad in (["banana"], {"pdq": "banana"}, {"pdq": []}, {"pdq": ["banana", "banana"]},
                    {"pdq": [SPECIMEN1, SPECIMEN2, SPECIMEN1]}, {"nope": [SPECIMEN1, SPECIMEN2]}):
            r = client.post("/m/compare", json=bad)
            assert r.status_code == 400, bad
            assert "message" in r.json()
        r = client.post("/m/compare", content=b"{not json", headers={
            "Content-Type": "application/json"})
        assert r.status_code == 400


def test_uploads_are_hashed_by_the_matcher(banks, db_url):
    config, photo, photo_pdq = banks
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        r = client.post("/h/hash", files={"photo": ("x.png", photo, "image/png")})
        assert r.status_code == 200
        quality = tidehash.hash_file(photo).pdq.quality
        assert r.json() == {"pdq": photo_pdq if quality >= 50 else ""}
        r = client.post("/h/hash", files={"video": ("v.mp4", b"not really a video", "video/mp4")})
        assert r.json() == {"video_md5": hashlib.md5(b"not really a video").hexdigest()}
        r = client.post("/m/lookup", files={"photo": ("x.png", photo, "image/png")})
        assert r.status_code == 200
        assert r.json() == {"pdq": {"BANK_A": [{
            "bank_content_id": entry_id_of(f"list:pdq:{photo_pdq}"), "distance": "0"}]}}
        r = client.post("/m/lookup", files={"video": ("v.mp4", b"x", "video/mp4")})
        assert r.json() == {"video_md5": {}}
        # HMA's refusals: no file, two files, an unknown content type, a photo that is not one
        for files, status in (({}, 400),
                              ({"photo": ("a.png", photo, "image/png"),
                                "video": ("b.mp4", b"x", "video/mp4")}, 400),
                              ({"audio": ("a.mp3", b"x", "audio/mpeg")}, 400),
                              ({"photo": ("a.png", b"not an image", "image/png")}, 400)):
            r = client.post("/m/lookup", files=files) if files else \
                client.post("/m/lookup", data={"a": "b"})
            assert r.status_code == status, (list(files), r.text)
            assert "message" in r.json()


def test_upload_over_the_limit_is_413(tmp_path, db_url):
    write_hex_list(tmp_path / "a.txt", [SPECIMEN1])
    config = write_config(tmp_path / "m.toml", {"A": {"source": "list:a.txt"}},
                          {"max_upload": 1000})
    with matcher_client(config, db_url) as (client, _m):
        r = client.post("/h/hash", files={"video": ("v", b"x" * 70_000, "video/mp4")})
        assert r.status_code == 413 and r.json() == {"message": "Content too large"}
        r = client.post("/h/hash", files={"video": ("v", b"x" * 900, "video/mp4")})
        assert r.status_code == 200


def test_status_is_503_until_every_bank_has_loaded(tmp_path, db_url):
    """A bank whose source has not answered yet keeps /status at 503 INDEX-NOT-LOADED
    (and the lookups at 503 "index not yet ready"), as HMA answers before its index
    cache is loaded; /status/live is 200 throughout."""
    release = threading.Event()

    def slow(seen):
        release.wait(20)
        return Reply(500, b"{}", "application/json")

    write_hex_list(tmp_path / "a.txt", [SPECIMEN1])
    with scripted(slow) as server:
        token = secret_file(tmp_path / "token", "thp_0000000000000000_x")
        config = write_config(tmp_path / "m.toml", {
            "A": {"source": "list:a.txt"},
            "SLOW": {"source": f"tidehash:{server.url}", "credentials_file": str(token)}})
        with matcher_client(config, db_url, source_options={"attempts": 1}) as (client, m):
            try:
                assert client.get("/status").status_code == 503
                assert client.get("/status").text == "INDEX-NOT-LOADED"
                assert client.get("/status/live").text == "I-AM-ALIVE"
                r = client.get("/m/raw_lookup", params={"signal": SPECIMEN1, "signal_type": "pdq"})
                assert r.status_code == 503 and r.json() == {"message": "index not yet ready"}
            finally:
                release.set()
            assert m.wait_ready(30)
            assert client.get("/status").text == "I-AM-ALIVE"
            r = client.get("/m/raw_lookup", params={"signal": SPECIMEN1, "signal_type": "pdq"})
            assert r.json() == {"matches": [entry_id_of(f"list:pdq:{SPECIMEN1}")]}


def test_optional_bearer_token(tmp_path, db_url):
    write_hex_list(tmp_path / "a.txt", [SPECIMEN1])
    token = "a-long-random-token"
    config = write_config(tmp_path / "m.toml", {"A": {"source": "list:a.txt"}},
                          {"token_sha256": hashlib.sha256(token.encode()).hexdigest()})
    q = {"signal": SPECIMEN1, "signal_type": "pdq"}
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        assert client.get("/status").status_code == 200  # a load balancer's probe
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token}):
            r = client.get("/m/raw_lookup", params=q, headers=headers)
            assert r.status_code == 401 and "message" in r.json()
        r = client.get("/m/raw_lookup", params=q, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200 and len(r.json()["matches"]) == 1
        assert client.get("/metrics").status_code == 401


def test_registry_batched_lookup(banks, db_url):
    config, _photo, _pdq = banks
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        near = flip(SPECIMEN1, 5, random.Random(1))
        r = client.post("/v1/lookup", json={"queries": [
            {"pdq": near, "radius": 4}, {"pdq": near}, {"md5": VIDEO_MD5},
            {"pdq": random_pdq(random.Random(9))}]})
        assert r.status_code == 200
        results = r.json()["results"]
        cid = f"{entry_id_of(f'list:pdq:{SPECIMEN1}'):016x}"
        assert results[0] == {"query": 0, "matches": []}
        assert results[1] == {"query": 1, "matches": [
            {"id": cid, "signal": "pdq", "distance": 5, "weak": False, "bank": b}
            for b in ("BANK_A", "BANK_B", "BANK_C")]}
        assert results[2]["matches"] == [{"id": f"{entry_id_of(f'list:md5:{VIDEO_MD5}'):016x}",
                                          "signal": "md5", "bank": "VIDEOS"}]
        assert results[3]["matches"] == []
        r = client.post("/v1/lookup", json={"queries": [{"pdq": "zz"}]})
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")


def _pydantic_errors(r) -> list[tuple]:
    """A 422's body as (type, loc, input) per error, after checking its shape."""
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert isinstance(body, list) and body
    for error in body:
        assert set(error) == {"type", "loc", "msg", "input", "url"}, error
        assert error["url"].startswith("https://errors.pydantic.dev/")
    return [(e["type"], e["loc"], e["input"]) for e in body]


def test_a_query_hmas_request_model_refuses_is_422_with_pydantics_errors(banks, db_url):
    """HMA types its GET queries with pydantic models (ThreatExchange
    hasher-matcher-actioner/src/OpenMediaMatch/schemas/matching.py:15-25 RawLookupRequest:
    signal, signal_type required, include_distance bool; :36-53 LookupRequest:
    bypass_coinflip bool) that flask-openapi3 validates before the handler runs
    (blueprints/matching.py:157 ``raw_lookup(query: RawLookupRequest)``, :283). Its
    refusal is 422 with ``ValidationError.json()`` (flask-openapi3 4.3.2
    ``make_validation_error_response``; ``request._validate_query`` puts the model's
    fields, then every other parameter, in the validated dict), not a ``{"message"}``.
    Measured on HMA's Flask app: ``?signal_type=pdq`` -> 422 ``[{"type": "missing",
    "loc": ["signal"], "msg": "Field required", "input": {"signal_type": "pdq"}, ...}]``."""
    config, _photo, _pdq = banks
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        r = client.get("/m/raw_lookup", params={"signal_type": "pdq", "other": "x"})
        assert _pydantic_errors(r) == [("missing", ["signal"],
                                        {"signal_type": "pdq", "other": "x"})]
        assert r.json()[0]["msg"] == "Field required"
        r = client.get("/m/raw_lookup", params={"signal": SPECIMEN1})
        assert _pydantic_errors(r) == [("missing", ["signal_type"], {"signal": SPECIMEN1})]
        assert _pydantic_errors(client.get("/m/raw_lookup")) == [
            ("missing", ["signal"], {}), ("missing", ["signal_type"], {})]
        q = {"signal": SPECIMEN1, "signal_type": "pdq"}
        for flag in ("maybe", "", " true", "2"):  # pydantic's bool: no space, no other word
            r = client.get("/m/raw_lookup", params={**q, "include_distance": flag})
            assert _pydantic_errors(r) == [("bool_parsing", ["include_distance"], flag)]
        for flag, with_distance in (("TRUE", True), ("on", True), ("Y", True), ("0", False),
                                    ("off", False)):
            r = client.get("/m/raw_lookup", params={**q, "include_distance": flag})
            assert r.status_code == 200
            assert isinstance(r.json()["matches"][0], dict) is with_distance
        r = client.get("/m/lookup", params={**q, "bypass_coinflip": "maybe"})
        assert _pydantic_errors(r) == [("bool_parsing", ["bypass_coinflip"], "maybe")]
        # the model is checked before the handler: even with a url
        r = client.get("/m/lookup", params={"url": "https://example.com/a.jpg",
                                            "bypass_coinflip": "x"})
        assert r.status_code == 422
        # a missing signal on /m/lookup is the handler's 400 (its model has no required field)
        assert client.get("/m/lookup", params={"signal_type": "pdq"}).json() == {
            "message": "Either url or both signal and signal_type are required"}


def test_a_repeated_parameter_counts_by_its_first_value(banks, db_url):
    """HMA reads a query parameter with werkzeug's ``request.args.get`` (flask-openapi3's
    ``request._get_value``; blueprints/matching.py:383 ``request.args.get("banks")``):
    the first of repeated values. Starlette's ``get`` would take the last."""
    config, photo, _pdq = banks
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        cid = entry_id_of(f"list:pdq:{SPECIMEN1}")
        other = random_pdq(random.Random(5))
        r = client.get("/m/raw_lookup", params=[("signal", SPECIMEN1), ("signal", other),
                                                ("signal_type", "pdq")])
        assert r.json() == {"matches": [cid] * 3}
        r = client.get("/m/raw_lookup", params=[("signal", other), ("signal", SPECIMEN1),
                                                ("signal_type", "pdq")])
        assert r.json() == {"matches": []}
        r = client.get("/m/lookup", params=[("signal", SPECIMEN1), ("signal_type", "pdq"),
                                            ("banks", "BANK_B"), ("banks", "BANK_A")])
        assert list(r.json()) == ["BANK_B"]
        r = client.post("/m/lookup?banks=BANK_C&banks=BANK_A",
                        files={"photo": ("x.png", photo, "image/png")})
        assert r.json() == {"pdq": {}}  # the photo's PDQ is in BANK_A only
        r = client.get("/m/index/status", params=[("signal_type", "pdq"),
                                                  ("signal_type", "nope")])
        assert list(r.json()) == ["pdq"]


def test_json_objects_have_their_keys_sorted(tmp_path, db_url):
    """HMA's bodies are Flask's ``jsonify`` (a handler's dict or pydantic ``model_dump``,
    blueprints/matching.py:348, :499), whose JSON provider sorts keys
    (``DefaultJSONProvider.sort_keys = True``): banks, signal types and the index
    status's fields in sorted order, whatever order the banks were configured in.
    Measured on HMA: ``GET /m/index/status`` -> ``{"pdq":{"built_to":-1,"present":false,
    "size":0},"video_md5":{...}}``."""
    for name in ("z", "a"):
        write_hex_list(tmp_path / f"{name}.txt", [SPECIMEN1])
    config = write_config(tmp_path / "m.toml", {"ZED": {"source": "list:z.txt"},
                                                "ALPHA": {"source": "list:a.txt"}})
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        cid = entry_id_of(f"list:pdq:{SPECIMEN1}")
        r = client.get("/m/lookup", params={"signal": SPECIMEN1, "signal_type": "pdq"})
        match = f'[{{"bank_content_id":{cid},"distance":"0"}}]'
        assert r.text == f'{{"ALPHA":{match},"ZED":{match}}}'
        r = client.post("/m/compare", json={"video_md5": [VIDEO_MD5, VIDEO_MD5],
                                            "pdq": [SPECIMEN1, SPECIMEN2]})
        assert r.text == '{"pdq":[true,{"distance":9}],"video_md5":[true,{}]}'
        body = client.get("/m/index/status").text
        assert body.startswith('{"pdq":{"built_to":') and '"present":true,"size":' in body


def _flat_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 120, 120)).save(out, format="PNG")
    return out.getvalue()


def test_a_photo_below_pdq_quality_50_is_a_400_on_lookup(tmp_path, db_url):
    """pytx's ``PdqSignal.hash_from_bytes`` answers "" below quality 50
    (python-threatexchange/threatexchange/signal_type/pdq/signal.py:79-83), which HMA's
    ``POST /m/lookup`` then looks up (blueprints/matching.py:379-391 -> ``query_index``
    :200-203): 400 ``invalid signal: invalid PDQ hash``, never a match, even when a bank
    holds that very hash (and a bank's ``min_quality`` is 0). ``POST /h/hash`` answers
    ``{"pdq": ""}``. Both measured on HMA's Flask app with this flat PNG."""
    flat = _flat_png()
    h = tidehash.hash_file(flat).pdq
    assert h.quality < 50
    write_hex_list(tmp_path / "a.txt", [h.hex])
    config = write_config(tmp_path / "m.toml", {"A": {"source": "list:a.txt"}})
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        r = client.post("/m/lookup", files={"photo": ("f.png", flat, "image/png")})
        assert r.status_code == 400
        assert r.json() == {"message": "invalid signal: invalid PDQ hash"}
        r = client.post("/h/hash", files={"photo": ("f.png", flat, "image/png")})
        assert r.json() == {"pdq": ""}


def _multipart(parts: list[tuple[list[str], bytes]]) -> tuple[bytes, dict]:
    boundary = "tidehash-boundary"
    body = b""
    for headers, data in parts:
        body += (f"--{boundary}\r\n" + "".join(h + "\r\n" for h in headers)
                 + "\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def test_uploads_are_read_as_werkzeug_reads_them(banks, db_url):
    """HMA takes the upload from werkzeug's ``request.files`` (blueprints/hashing.py:226-
    256): a part is a file when its Content-Disposition has a ``filename`` (even ""), any
    other part is a form field whatever its Content-Type, and a file's bytes are hashed as
    sent (no Content-Transfer-Encoding decoding). Measured on HMA's Flask app: the MD5s
    below, and 400 ``Missing multipart/form-data file upload`` for a part without a
    filename."""
    config, _photo, _pdq = banks
    disposition = 'Content-Disposition: form-data; name="video"'
    with matcher_client(config, db_url) as (client, m):
        def post(parts):
            body, headers = _multipart(parts)
            return client.post("/h/hash", content=body, headers=headers)

        r = post([([disposition + '; filename=""'], b"abc")])
        assert r.json() == {"video_md5": hashlib.md5(b"abc").hexdigest()}
        r = post([([disposition + '; filename="v"', "Content-Transfer-Encoding: base64"],
                   b"YWJj")])
        assert r.json() == {"video_md5": hashlib.md5(b"YWJj").hexdigest()}
        r = post([([disposition, "Content-Type: application/octet-stream"], b"abc")])
        assert r.status_code == 400
        assert r.json() == {"message": "Missing multipart/form-data file upload"}
        r = post([([disposition + '; filename="v"'], b"abc"),
                  (['Content-Disposition: form-data; name="note"',
                    "Content-Type: application/json"], b"{}")])
        assert r.json() == {"video_md5": hashlib.md5(b"abc").hexdigest()}


def test_the_types_parameter_of_an_upload(banks, db_url):
    """HMA's uploads take ``?types=`` (blueprints/hashing.py:302-329, read at :313): a
    comma-separated choice among the content type's enabled signal types (a photo: pdq,
    a video: video_md5), blanks skipped; another name is 400 ``signal type 'X' doesn't
    exist or is disabled``, nothing chosen 400 ``empty signal type selection``. Measured
    on HMA's Flask app."""
    config, photo, _pdq = banks
    video = {"video": ("v.mp4", b"abc", "video/mp4")}
    md5 = {"video_md5": hashlib.md5(b"abc").hexdigest()}
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        for query in ("types=video_md5", "types=video_md5,", "types=%20video_md5%20",
                      "types=video_md5,video_md5", "types=video_md5&types=pdq"):
            r = client.post(f"/h/hash?{query}", files=video)
            assert r.status_code == 200 and r.json() == md5, query
        for query, message in (("types=", "empty signal type selection"),
                               ("types=,", "empty signal type selection"),
                               ("types=x,video_md5",
                                "signal type 'x' doesn't exist or is disabled"),
                               ("types=pdq&types=video_md5",
                                "signal type 'pdq' doesn't exist or is disabled")):
            for path in ("/h/hash", "/m/lookup"):
                r = client.post(f"{path}?{query}", files=video)
                assert r.status_code == 400 and r.json() == {"message": message}, query
        r = client.post("/m/lookup?types=pdq", files={"photo": ("x.png", photo, "image/png")})
        assert r.status_code == 200 and list(r.json()) == ["pdq"]


def test_compare_takes_a_json_body_only(banks, db_url):
    """HMA's ``/m/compare`` reads ``request.get_json()`` (blueprints/matching.py:533),
    which refuses a body whose Content-Type is not ``application/json`` or
    ``application/*+json`` with werkzeug's 415, the blueprint's handler giving it as
    ``{"message"}`` (utils/flask_utils.py:18-24). Measured on HMA's Flask app."""
    config, _photo, _pdq = banks
    refused = {"message": "Did not attempt to load JSON data because the request "
                          "Content-Type was not 'application/json'."}
    body = b'{"pdq": ["%s", "%s"]}' % (SPECIMEN1.encode(), SPECIMEN2.encode())
    with matcher_client(config, db_url) as (client, _m):
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            headers = {} if content_type is None else {"Content-Type": content_type}
            r = client.post("/m/compare", content=body, headers=headers)
            assert r.status_code == 415 and r.json() == refused, content_type
        for content_type in ("application/json", "Application/JSON; charset=utf-8",
                             "application/vnd.example+json"):
            r = client.post("/m/compare", content=body, headers={"Content-Type": content_type})
            assert r.json() == {"pdq": [True, {"distance": 9}]}, content_type


def test_index_status_sizes_are_per_signal_type(tmp_path, db_url):
    """HMA's ``GET /m/index/status`` (blueprints/matching.py:447-499) gives each signal
    type its index checkpoint's ``total_hash_count``, which is the count of that type's
    signals (storage/postgres/impl.py:645-673, ``ContentSignal`` rows of the type): the
    PDQ and the video MD5 sizes differ; an entry removed from a bank leaves the count."""
    rng = random.Random(11)
    pdqs = [random_pdq(rng) for _ in range(3)]
    write_hex_list(tmp_path / "p.txt", pdqs)
    write_hex_list(tmp_path / "q.txt", pdqs[:1])
    (tmp_path / "v.txt").write_text(VIDEO_MD5 + "\n")
    config = write_config(tmp_path / "m.toml", {
        "P": {"source": "list:p.txt"}, "Q": {"source": "list:q.txt"},
        "V": {"source": "list:v.txt"}})

    def sizes(client):
        body = client.get("/m/index/status").json()
        assert all(body[t]["present"] is True for t in body)
        return {t: body[t]["size"] for t in body}

    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        assert sizes(client) == {"pdq": 4, "video_md5": 1}
        assert client.get("/m/index/status", params={"signal_type": "video_md5"}).json()[
            "video_md5"]["size"] == 1
        write_hex_list(tmp_path / "p.txt", pdqs[1:])
        wait_for(lambda: sizes(client) == {"pdq": 3, "video_md5": 1}, 20,
                 "the removal counted")


def test_a_pdq_at_distance_31_matches_and_32_does_not(tmp_path, db_url):
    """HMA's PDQ index matches up to its threshold 31 inclusive
    (python-threatexchange/threatexchange/signal_type/pdq/pdq_index.py:31-32
    ``get_match_threshold``), and ``/m/compare`` calls 31 a match (signal.py:67-76,
    signal_base.py ``from_simple_dist``: ``dist <= threshold``). Measured on HMA's Flask
    app: flips of 30 and 31 bits found, 32 and 33 not. A bank's default ``pdq_radius``."""
    write_hex_list(tmp_path / "a.txt", [SPECIMEN1])
    config = write_config(tmp_path / "m.toml", {"A": {"source": "list:a.txt"}})
    cid = entry_id_of(f"list:pdq:{SPECIMEN1}")
    rng = random.Random(4)
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        for bits in (30, 31, 32, 33):
            near = flip(SPECIMEN1, bits, rng)
            r = client.get("/m/raw_lookup", params={"signal": near, "signal_type": "pdq",
                                                    "include_distance": "true"})
            expected = [{"bank_content_id": cid, "distance": str(bits)}] if bits <= 31 else []
            assert r.json() == {"matches": expected}, bits
            r = client.post("/m/compare", json={"pdq": [SPECIMEN1, near]})
            assert r.json() == {"pdq": [bits <= 31, {"distance": bits}]}
