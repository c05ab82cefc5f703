"""Helpers of the client and CLI tests: the command line run as a user runs it, a real
`tidehash serve` on a free loopback port, and a TCP proxy in front of it that can cut,
hold or corrupt the snapshot stream (a dropped connection, a killed sync, a bad byte)."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import tidehash

from .pg import database_url  # noqa: F401 (used by the tests that import it from here)
from .ports import free_port, owns_listener

#: the tidehash these tests imported (in-place build or installed), for subprocesses
SRC = str(pathlib.Path(tidehash.__file__).resolve().parents[1])


def cli(*args, input: str | None = None, timeout: float = 180,
        cwd=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    return subprocess.run([sys.executable, "-m", "tidehash.cli", *map(str, args)], env=env,
                          input=input, capture_output=True, text=True, timeout=timeout,
                          cwd=cwd)


def cli_json(*args, **kwargs):
    """The one JSON object a command printed (it must succeed)."""
    r = cli(*args, **kwargs)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    return json.loads(lines[0])


class Registry:
    """A running `tidehash serve`: ``url``, ``db_url``, ``admin(...)``."""

    def __init__(self, url: str, db_url: str, process, log: pathlib.Path):
        self.url = url
        self.db_url = db_url
        self.process = process
        self.log = log

    def admin(self, *args):
        return cli_json("admin", "--db", self.db_url, *args)

    def platform(self, name: str, folder: pathlib.Path) -> pathlib.Path:
        """A new platform; the file holding what `admin platform add` printed."""
        r = cli("admin", "--db", self.db_url, "platform", "add", name)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["token"].startswith("thp_")
        path = folder / f"{name}.json"
        path.write_text(r.stdout)
        return path


def _get(url: str, timeout: float = 2) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@contextlib.contextmanager
def serve(db_url: str, log_dir: pathlib.Path, *, publish_delay: float = 0,
          pow_difficulty: int = 4, options: tuple = ()):
    """`tidehash serve` in its own process on a free loopback port, until the block
    ends (SIGTERM, then SIGKILL); ``options``: more of its command-line options."""
    env = {k: v for k, v in os.environ.items() if k != "TIDEHASH_ISA"}
    env["PYTHONPATH"] = SRC
    for attempt in range(3):
        port = free_port()
        log = log_dir / f"serve-{port}.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "tidehash.cli", "serve", "--db", db_url, "--host",
                 "127.0.0.1", "--port", str(port), "--publish-delay", str(publish_delay),
                 "--pow-difficulty", str(pow_difficulty), *options],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and process.poll() is None:
                # from this server, not from a program that took the port first
                if _get(url + "/readyz") == 200 and owns_listener(process.pid, port):
                    break
                time.sleep(0.1)
            if process.poll() is None and time.monotonic() < deadline:
                yield Registry(url, db_url, process, log)
                return
            if attempt == 2:
                raise RuntimeError("tidehash serve did not start: "
                                   + log.read_text(errors="replace")[-3000:])
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_for(predicate, what: str, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


# ----------------------------------------------------------------------------- the proxy
class FaultProxy:
    """A TCP proxy on a free loopback port in front of ``target`` (host, port). Its
    ``fault`` applies to the responses of the snapshot route, for the next ``times``
    of them (``times`` None: all):

    * ("cut", n): the response ends after n bytes of its body (as sent: with the
      chunked framing), the connection closed;
    * ("before_trailer",): the response ends just before the trailer line;
    * ("flip",): one hex digit of the first PDQ hash in the stream changed;
    * ("hold", n): n bytes of the body are sent, then nothing until ``release()``.

    ``requests`` records every request's line and headers; ``snapshot_requests`` each
    snapshot request's Range and If-Range headers and the response's status line."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.fault = None
        self.times: int | None = None
        self.requests: list[tuple[str, dict, bytes]] = []
        self.snapshot_requests: list[dict] = []
        self.body_bytes_sent = 0  # of the last faulted response
        self._released = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def set(self, fault, times: int | None = None) -> None:
        self.fault, self.times = fault, times
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self._closed = True
        self._released.set()
        with contextlib.suppress(OSError):
            self._sock.close()
        for t in self._threads:
            t.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    @staticmethod
    def _read_head(sock) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return data, b""
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head + b"\r\n\r\n", rest

    def _serve(self, client) -> None:
        with contextlib.closing(client), \
                contextlib.closing(socket.create_connection(self.target)) as upstream:
            head, rest = self._read_head(client)
            if not head:
                return
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            while len(rest) < length:
                chunk = client.recv(65536)
                if not chunk:
                    break
                rest += chunk
            upstream.sendall(head + rest)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            headers = {}
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name:
                    headers[name.strip().lower().decode()] = value.strip().decode()
            self.requests.append((request_line, headers, rest))
            is_snapshot = request_line.startswith("GET ") and " /v1/list/snapshot" in request_line
            fault = None
            if is_snapshot:
                record = {"range": headers.get("range"), "if_range": headers.get("if-range")}
                self.snapshot_requests.append(record)
                if self.fault is not None and (self.times is None or self.times > 0):
                    fault = self.fault
                    if self.times is not None:
                        self.times -= 1
            self._pump(upstream, client, fault, record if is_snapshot else None)

    def _pump(self, upstream, client, fault, record) -> None:
        resp_head, body = self._read_head(upstream)
        if record is not None:
            record["status"] = resp_head.split(b"\r\n", 1)[0].decode("latin-1")
        client.sendall(resp_head)
        sent = 0
        buffered = b""
        while True:
            data = body if body else upstream.recv(65536)
            body = b""
            if not data:
                break
            if fault is None:
                client.sendall(data)
                continue
            kind = fault[0]
            if kind in ("cut", "hold"):
                room = fault[1] - sent
                client.sendall(data[:room])
                sent += len(data[:room])
                self.body_bytes_sent = sent
                if sent >= fault[1]:
                    if kind == "hold":
                        self._released.wait(timeout=120)
                    return
            elif kind == "before_trailer":
                buffered += data
                at = buffered.find(b'{"trailer"')
                if at >= 0:
                    client.sendall(buffered[:at])
                    return
                keep = len(b'{"trailer"')
                client.sendall(buffered[:-keep])
                buffered = buffered[-keep:]
            elif kind == "flip":
                buffered += data
                at = buffered.find(b'"pdq":"')
                if at >= 0 and len(buffered) > at + 8:
                    i = at + 7
                    digit = b"1" if buffered[i:i + 1] != b"1" else b"2"
                    buffered = buffered[:i] + digit + buffered[i + 1:]
                    client.sendall(buffered)
                    buffered = b""
                    fault = None
        if buffered:
            client.sendall(buffered)


def random_items(rng, n: int) -> list:
    """n image items with random hashes (the README's shape)."""
    return [{"kind": "image", "pdq": rng.bytes(32).hex(), "quality": int(rng.integers(50, 101)),
             "md5": rng.bytes(16).hex(), "sha256": rng.bytes(32).hex()} for _ in range(n)]
