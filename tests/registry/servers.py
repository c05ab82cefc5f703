"""Real registry servers for the tests: ``tidehash serve`` in a subprocess on
127.0.0.1, on a free port, always stopped (``kill -9`` when a test asks for it)."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``tidehash serve`` as a user starts it; ``url``, ``kill()`` (SIGKILL), ``stop()``."""

    def __init__(self, db_url: str, *, publish_delay: float = 0, pow_difficulty: int = 0,
                 port: int | None = None, extra: tuple = ()):
        self.db_url = db_url
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "tidehash.cli", "serve", "--db", db_url, "--host", "127.0.0.1",
               "--port", str(self.port), "--publish-delay", str(publish_delay),
               "--pow-difficulty", str(pow_difficulty), *extra]
        # a file, not a pipe: a pipe nobody reads would stop a talkative server
        self._out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT)
        self.output = b""

    def wait_ready(self, timeout: float = 60) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._collect()
                out = self.output.decode(errors="replace")
                raise RuntimeError(f"tidehash serve exited {self.proc.returncode}: {out}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("tidehash serve did not become ready")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._collect()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._collect()

    def _collect(self) -> None:
        """What the server printed (stdout and stderr), into ``output``."""
        self._out.seek(0)
        self.output = self._out.read()

    def __enter__(self) -> Server:
        return self.wait_ready()

    def __exit__(self, *exc) -> None:
        self.stop()
