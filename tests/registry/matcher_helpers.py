"""Helpers of the matcher tests: configs, list files, random hashes, a matcher in
process (the ASGI app with its lifespan, behind Starlette's TestClient) or as its own
``tidehash serve --role matcher`` process on loopback (kill -9 and restart)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time

import httpx
from starlette.testclient import TestClient

from tidehash.registry.server.matcher.app import create_matcher_app
from tidehash.registry.server.matcher.config import load_config

from .api_helpers import SRC
from .ports import free_port, owns_listener


def random_pdq(rng: random.Random) -> str:
    while True:
        value = rng.getrandbits(256)
        if value:
            return f"{value:064x}"


def random_md5(rng: random.Random) -> str:
    return f"{rng.getrandbits(128):032x}"


def random_image(rng: random.Random) -> dict:
    """A submission item: an image with a PDQ (quality 50..100) and an MD5."""
    return {"kind": "image", "pdq": random_pdq(rng), "quality": rng.randint(50, 100),
            "md5": random_md5(rng)}


def live_banks_config(tmp_path, live):
    """A config following a live registry three ways: TH (its own feed), NC (its NCMEC
    view), SN (its StopNCII view), with their credentials files; plus LOCAL, a list
    file ``local.txt`` (created empty if missing)."""
    token = live.token
    th = secret_file(tmp_path / "th.token", token)
    nc = secret_file(tmp_path / "nc.json", json.dumps({"user": "platform", "password": token}))
    sn = secret_file(tmp_path / "sn.json", json.dumps({"subscription_key": token,
                                                        "fetch_key": token}))
    local = tmp_path / "local.txt"
    if not local.exists():
        local.write_text("")
    return write_config(tmp_path / "matcher.toml", {
        "TH": {"source": f"tidehash:{live.url}", "credentials_file": str(th),
               "poll_interval": 0.2},
        "NC": {"source": f"ncmec:{live.url}/ncmec", "credentials_file": str(nc),
               "poll_interval": 0.5},
        "SN": {"source": f"stopncii:{live.url}/stopncii/v1", "credentials_file": str(sn),
               "poll_interval": 0.5},
        "LOCAL": {"source": "list:local.txt"}})


def flip(pdq: str, bits: int, rng: random.Random) -> str:
    value = int(pdq, 16)
    for b in rng.sample(range(256), bits):
        value ^= 1 << b
    return f"{value:064x}"


def write_config(path, banks: dict, matcher: dict | None = None):
    """A TOML config: ``banks`` name -> {key: value} (strings, ints, floats, bools)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        return json.dumps(str(v))

    lines = []
    if matcher:
        lines.append("[matcher]")
        lines += [f"{k} = {value(v)}" for k, v in matcher.items()]
    for name, table in banks.items():
        lines.append(f"[bank.{name}]")
        lines += [f"{k} = {value(v)}" for k, v in table.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_hex_list(path, hashes: list[str]) -> None:
    """A list of hex lines, replaced atomically (as a tool writing a list would)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write("".join(h + "\n" for h in hashes))
    os.replace(tmp, path)


def secret_file(path, text: str):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return path


@contextlib.contextmanager
def matcher_client(config_path, db_url: str, **options):
    """The matcher app in this process; yields (TestClient, Matcher)."""
    app = create_matcher_app(load_config(config_path), db_url, **options)
    with TestClient(app) as client:
        yield client, app.state.matcher


def wait_for(predicate, timeout: float = 30, what: str = "the condition"):
    """Polls ``predicate`` until it is true; returns the seconds it took."""
    start = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


class MatcherProcess:
    def __init__(self, process, base_url: str, log_path):
        self.process = process
        self.base_url = base_url
        self.log_path = log_path
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def kill(self) -> None:
        """kill -9: nothing is flushed or closed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.http.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.http.close()


SERVE_MATCHER_SCRIPT = """
import json, sys
from tidehash.registry.server.matcher.config import load_config
from tidehash.registry.server.matcher.run import serve_matcher
serve_matcher(load_config(sys.argv[1]), sys.argv[2], "127.0.0.1", int(sys.argv[3]),
              io=json.loads(sys.argv[4]))
"""


@contextlib.contextmanager
def matcher_process(config_path, db_url: str, log_dir, *, ready: bool = True,
                    io: dict | None = None):
    """``tidehash serve --role matcher`` on a free loopback port (with ``io``, uvicorn's
    ``{"http": ..., "loop": ...}``: ``run.serve_matcher`` called with them instead); waits
    for /status/live (and /status 200 with ``ready``); always stopped."""
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    port = free_port()
    log_path = log_dir / f"matcher-{port}.log"
    if io is None:
        argv = [sys.executable, "-m", "tidehash.cli", "serve", "--role", "matcher", "--config",
                str(config_path), "--db", db_url, "--host", "127.0.0.1", "--port", str(port)]
    else:
        argv = [sys.executable, "-c", SERVE_MATCHER_SCRIPT, str(config_path), db_url,
                str(port), json.dumps(io)]
    with open(log_path, "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=env)
    m = MatcherProcess(process, f"http://127.0.0.1:{port}", log_path)
    try:
        path = "/status" if ready else "/status/live"
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("the matcher exited: " + log_path.read_text()[-3000:])
            try:
                # from this matcher, not from a program that took the port first
                if httpx.get(m.base_url + path, timeout=2).status_code == 200 \
                        and owns_listener(process.pid, port):
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the matcher did not start: " + log_path.read_text()[-3000:])
            time.sleep(0.05)
        yield m
    finally:
        m.stop()
