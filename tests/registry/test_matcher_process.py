"""``tidehash serve --role matcher --config FILE --db URL --host H --port P`` as its own
process on loopback: HMA's raw lookup over real HTTP, a bad config refused before
anything starts, and the log carries no upload's hash."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys

import httpx
import pytest

from tidehash.registry.sources.base import entry_id_of

from .api_helpers import SRC
from .matcher_helpers import flip, matcher_process, random_pdq, write_config, write_hex_list


def test_serve_role_matcher(tmp_path, db_url):
    rng = random.Random(2)
    listed, other = random_pdq(rng), random_pdq(rng)
    write_hex_list(tmp_path / "a.txt", [listed])
    config = write_config(tmp_path / "m.toml", {"A": {"source": "list:a.txt"}})
    with matcher_process(config, db_url, tmp_path) as m:
        r = httpx.get(m.base_url + "/m/raw_lookup",
                      params={"signal_type": "pdq", "signal": listed})
        assert r.status_code == 200
        assert r.json() == {"matches": [entry_id_of(f"list:pdq:{listed}")]}
        r = httpx.get(m.base_url + "/m/raw_lookup", params={"signal_type": "pdq",
                                                             "signal": other})
        assert r.json() == {"matches": []}
        r = httpx.post(m.base_url + "/h/hash", files={"video": ("secret-name.mp4", b"bytes")})
        assert r.status_code == 200
        upload_md5 = r.json()["video_md5"]
    log = m.log_path.read_text()
    # structured lines: key=value
    assert "event=bank_loaded bank=A entries=0 seq=0" in log
    assert "event=sync bank=A changes=1 entries=1 seq=1" in log
    for private in (listed, other, upload_md5, "secret-name"):
        assert private not in log


def test_serve_role_matcher_refuses_a_bad_config(tmp_path):
    config = tmp_path / "m.toml"
    config.write_text("[bank.A]\nsource = \"nope:x\"\n")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for args in (["--config", str(config)], []):
        r = subprocess.run([sys.executable, "-m", "tidehash.cli", "serve", "--role", "matcher",
                            "--db", str(tmp_path / "m.db"), *args],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 2, r.stderr
        assert "--config" in r.stderr


def _responses(base_url: str, requests: list[bytes]) -> list[bytes]:
    """Each request sent on one keep-alive connection in turn; each whole response
    (status line, headers, body of its content-length) as the bytes that came."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    out = []
    with socket.create_connection((host, int(port)), timeout=30) as s:
        data = b""
        for request in requests:
            s.sendall(request)
            while b"\r\n\r\n" not in data:
                data += s.recv(65536) or b"<closed>"
            head, _, rest = data.partition(b"\r\n\r\n")
            length = int(next(line.split(b":", 1)[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            while len(rest) < length:
                rest += s.recv(65536) or b"<closed>"
            out.append(head + b"\r\n\r\n" + rest[:length])
            data = rest[length:]
    return out


def test_the_same_bytes_from_either_http_stack(tmp_path):
    """uvicorn's C parser and libuv loop (the default where installed) answer exactly
    what its pure-Python h11 and asyncio answer: the fast path's 200s, the route's
    400s and 404s, /status; no Server or Date header from either, no access log, and
    neither log names the sender (a User-Agent, a forwarded address)."""
    pytest.importorskip("httptools")
    pytest.importorskip("uvloop")
    rng = random.Random(5)
    listed = [random_pdq(rng) for _ in range(20)]
    write_hex_list(tmp_path / "a.txt", listed)
    config = write_config(tmp_path / "m.toml", {"A": {"source": "list:a.txt"}})
    identifying = b"User-Agent: secret-agent/1.0\r\nX-Forwarded-For: 198.51.100.7\r\n"
    queries = [f"signal_type=pdq&signal={listed[0]}&include_distance=true",
               f"signal_type=pdq&signal={flip(listed[1], 9, rng)}&include_distance=true",
               f"signal_type=pdq&signal={listed[2]}",
               f"signal_type=pdq&signal={random_pdq(rng)}",
               "signal_type=pdq&signal=zz", "signal_type=nope&signal=ab",
               f"signal_type=pdq&signal={listed[3]}&banks=A,Z",
               f"signal_type=pdq&signal={listed[3]}&extra=1"]
    requests = [b"GET /m/raw_lookup?" + q.encode() + b" HTTP/1.1\r\nHost: m\r\n" + identifying
                + b"\r\n" for q in queries]
    requests += [b"GET /status HTTP/1.1\r\nHost: m\r\n\r\n",
                 b"GET /nope HTTP/1.1\r\nHost: m\r\n\r\n"]
    answers, logs = [], []
    for name, io in (("h11", {"http": "h11", "loop": "asyncio"}),
                     ("httptools", {"http": "httptools", "loop": "uvloop"})):
        (tmp_path / name).mkdir()
        with matcher_process(config, f"sqlite:///{tmp_path / name / 'm.db'}",
                             tmp_path / name, io=io) as m:
            answers.append(_responses(m.base_url, requests))
            with socket.create_connection(("127.0.0.1", int(m.base_url.rsplit(":", 1)[1])),
                                          timeout=30) as s:
                s.sendall(b"GARBAGE \x00\x01 " + identifying + b"\r\n")
                assert s.recv(1024).startswith(b"HTTP/1.1 400 ")
        logs.append(m.log_path.read_text())
    assert answers[0] == answers[1]
    statuses = [a.split(b"\r\n", 1)[0] for a in answers[0]]
    assert statuses == [b"HTTP/1.1 200 OK"] * 4 + [b"HTTP/1.1 400 Bad Request"] * 2 + \
        [b"HTTP/1.1 200 OK"] * 3 + [b"HTTP/1.1 404 Not Found"]
    assert b'{"matches":[{"bank_content_id":' in answers[0][0]
    assert b'"distance":"9"' in answers[0][1]
    for answer in answers[0]:
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert b"\r\nserver:" not in head and b"\r\ndate:" not in head
    for log in logs:
        assert "Invalid HTTP request received" in log  # uvicorn's warning reaches the log
        for private in ("secret-agent", "198.51.100.7", "127.0.0.1", "/m/raw_lookup", *listed):
            assert private not in log
