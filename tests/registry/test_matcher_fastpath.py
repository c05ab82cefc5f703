"""``GET /m/raw_lookup``'s fast path answers exactly what the route answers: the same
requests (hits at several distances, misses, every flag spelling, bank filters, bad and
missing and extra and encoded parameters, other methods, a token-protected matcher with
no / a wrong / the right token, the banks loading) sent to one matcher with its fast path
on and off give the same status, headers and body bytes; the plain ones are answered by
the fast path itself, everything else by the route. Both stores."""

from __future__ import annotations

import hashlib
import random
import threading

from tidehash.registry.server.matcher.app import create_matcher_app
from tidehash.registry.server.matcher.config import load_config

from .broken_servers import Reply, scripted
from .matcher_helpers import (
    flip,
    matcher_client,
    random_pdq,
    secret_file,
    write_config,
    write_hex_list,
)

MD5 = "cab08b36195edb1a1231d2d09fa450e0"


def _answer(client, app, fast, method: str, url: str, headers: dict):
    saved = app.fast
    app.fast = saved if fast else None
    try:
        r = client.request(method, url, headers=headers, follow_redirects=False)
    finally:
        app.fast = saved
    return r.status_code, sorted(r.headers.items()), r.content


def _compare(client, app, m, requests, headers=None) -> int:
    """Each request with the fast path on and off: the same answer; returns how many
    the fast path answered itself."""
    fast = app.fast
    assert fast is not None
    before = fast.answered

    def counted():  # the operator page's request counts
        return dict(m.requests)

    for method, url in requests:
        c0 = counted()
        on = _answer(client, app, True, method, url, headers or {})
        c1 = counted()
        off = _answer(client, app, False, method, url, headers or {})
        c2 = counted()
        assert on == off, (method, url)
        assert {k: v - c0.get(k, 0) for k, v in c1.items()} == \
            {k: v - c1.get(k, 0) for k, v in c2.items()}, (method, url)
    return fast.answered - before


def _bank(tmp_path, matcher=None):
    rng = random.Random(7)
    listed = [random_pdq(rng) for _ in range(50)]
    write_hex_list(tmp_path / "a.txt", listed)
    write_hex_list(tmp_path / "b.txt", listed[:10])
    (tmp_path / "md5.txt").write_text(MD5 + "\n")
    config = write_config(tmp_path / "m.toml", {
        "A": {"source": "list:a.txt"}, "B": {"source": "list:b.txt"},
        "V": {"source": "list:md5.txt"}}, matcher)
    return config, listed, rng


def test_fast_path_answers_as_the_route(tmp_path, db_url):
    config, listed, rng = _bank(tmp_path)
    base = "/m/raw_lookup?"
    plain = []
    for i, bits in enumerate((0, 1, 5, 17, 31, 32, 40)):
        h = flip(listed[i], bits, rng)
        for extra in ("", "&include_distance=true", "&include_distance=True",
                      "&include_distance=1", "&include_distance=false", "&include_distance=no",
                      "&banks=A", "&banks=B", "&banks=A,B", "&banks=C", "&banks=",
                      "&banks=B&include_distance=on"):
            plain.append(("GET", f"{base}signal_type=pdq&signal={h}{extra}"))
    for _ in range(5):  # misses
        plain.append(("GET", f"{base}signal={random_pdq(rng)}&signal_type=pdq"
                             "&include_distance=true"))
    plain += [("GET", f"{base}signal_type=video_md5&signal={MD5}&include_distance=true"),
              ("GET", f"{base}signal_type=md5&signal={MD5.upper()}"),
              ("GET", f"{base}signal_type=sha256&signal={'ab' * 32}")]
    h = listed[3]
    other = [
        ("GET", f"{base}signal_type=pdq&signal={h}&include_distance=maybe"),
        ("GET", f"{base}signal_type=pdq&signal={h}&include_distance="),
        ("GET", f"{base}signal_type=pdq&signal={h}&include_distance"),
        ("GET", f"{base}signal_type=nope&signal={h}"),
        ("GET", f"{base}signal_type=&signal={h}"),
        ("GET", f"{base}signal_type=PDQ&signal={h}"),
        ("GET", f"{base}signal_type=pdq&signal=banana"),
        ("GET", f"{base}signal_type=pdq&signal={h.upper()}"),
        ("GET", f"{base}signal_type=pdq&signal={h[:-1]}"),
        ("GET", f"{base}signal_type=pdq&signal={h}0"),
        ("GET", f"{base}signal_type=md5&signal=xyz"),
        ("GET", f"{base}signal_type=pdq"),
        ("GET", f"{base}signal={h}"),
        ("GET", "/m/raw_lookup"),
        ("GET", f"{base}signal_type=pdq&signal={h}&extra=1"),
        ("GET", f"{base}signal_type=pdq&signal={h}&"),
        ("GET", f"{base}signal_type=pdq&signal={listed[4]}&signal={h}"),
        ("GET", f"{base}signal_type=%70dq&signal={h}"),
        ("GET", f"{base}signal_type=pdq&signal={h}&banks=A%2CB"),
        ("GET", f"{base}signal_type=pdq&signal={h}&banks=A+B"),
        ("GET", f"{base}signal_type=pdq&signal=%20{h}"),
        ("HEAD", f"{base}signal_type=pdq&signal={h}"),
        ("POST", f"{base}signal_type=pdq&signal={h}"),
        ("GET", f"/m/raw_lookup/?signal_type=pdq&signal={h}"),
    ]
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        app = client.app
        assert _compare(client, app, m, plain) == len(plain)
        assert _compare(client, app, m, other) == 0
        found = client.get(f"{base}signal_type=pdq&signal={listed[0]}&include_distance=true")
        assert found.status_code == 200 and found.json()["matches"][0]["distance"] == "0"


def test_fast_path_keeps_the_token_check(tmp_path, db_url):
    token = "a-long-random-token"
    config, listed, _rng = _bank(
        tmp_path, {"token_sha256": hashlib.sha256(token.encode()).hexdigest()})
    requests = [("GET", f"/m/raw_lookup?signal_type=pdq&signal={listed[0]}"),
                ("GET", f"/m/raw_lookup?signal_type=pdq&signal={listed[1]}&include_distance=1"),
                ("GET", "/m/raw_lookup?signal_type=pdq&signal=banana")]
    with matcher_client(config, db_url) as (client, m):
        assert m.wait_ready(30)
        app = client.app
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": token},
                        {"Authorization": f"bearer {token}"}, {"X-Token": token}):
            assert _compare(client, app, m, requests, headers) == 0
            assert client.get(requests[0][1], headers=headers).status_code == 401
        for right in (f"Bearer {token}", f"Bearer  {token} "):
            assert _compare(client, app, m, requests, {"Authorization": right}) == 2


def test_fast_path_while_the_banks_load(tmp_path, db_url):
    release = threading.Event()

    def slow(seen):
        release.wait(20)
        return Reply(500, b"{}", "application/json")

    write_hex_list(tmp_path / "a.txt", ["ab" * 32])
    with scripted(slow) as server:
        token = secret_file(tmp_path / "token", "thp_0000000000000000_x")
        config = write_config(tmp_path / "m.toml", {
            "A": {"source": "list:a.txt"},
            "SLOW": {"source": f"tidehash:{server.url}", "credentials_file": str(token)}})
        requests = [("GET", f"/m/raw_lookup?signal_type=pdq&signal={'ab' * 32}")]
        with matcher_client(config, db_url, source_options={"attempts": 1}) as (client, m):
            try:
                assert client.get(requests[0][1]).status_code == 503
                assert _compare(client, client.app, m, requests) == 0
            finally:
                release.set()
            assert m.wait_ready(30)
            assert _compare(client, client.app, m, requests) == 1


def test_fast_path_setting(tmp_path):
    config, _listed, _rng = _bank(tmp_path)
    db = f"sqlite:///{tmp_path / 'm.db'}"
    assert create_matcher_app(load_config(config), db).fast is not None
    assert create_matcher_app(load_config(config), db, fast_path=False).fast is None
    off = write_config(tmp_path / "off.toml", {"A": {"source": "list:a.txt"}},
                       {"fast_path": False})
    assert create_matcher_app(load_config(off), db).fast is None
    assert create_matcher_app(load_config(off), db, fast_path=True).fast is not None
