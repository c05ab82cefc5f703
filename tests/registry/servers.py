"""Real registry servers for the tests: ``tidehash serve`` in a subprocess on
127.0.0.1, on a free port, always stopped (``kill -9`` when a test asks for it)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import tempfile
import time

import httpx

from .ports import free_port, owns_listener


class Server:
    """``tidehash serve`` as a user starts it; ``url``, ``kill()`` (SIGKILL), ``stop()``."""

    def __init__(self, db_url: str, *, publish_delay: float = 0, pow_difficulty: int = 0,
                 port: int | None = None, extra: tuple = ()):
        self.db_url = db_url
        self._options = ["--publish-delay", str(publish_delay),
                         "--pow-difficulty", str(pow_difficulty), *extra]
        # a port of its own choosing is chosen again if another program took it first
        self._tries = 1 if port else 3
        self._start(port or free_port())

    def _start(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        cmd = [sys.executable, "-m", "tidehash.cli", "serve", "--db", self.db_url,
               "--host", "127.0.0.1", "--port", str(port), *self._options]
        # a file, not a pipe: a pipe nobody reads would stop a talkative server
        self._out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, stdout=self._out, stderr=subprocess.STDOUT)
        self.output = b""

    def wait_ready(self, timeout: float = 60) -> Server:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._collect()
                self._tries -= 1
                if self.proc.returncode == 3 and self._tries > 0:  # the port was taken
                    self._start(free_port())
                    continue
                out = self.output.decode(errors="replace")
                raise RuntimeError(f"tidehash serve exited {self.proc.returncode}: {out}")
            with contextlib.suppress(httpx.HTTPError):
                # the answer must come from this server, not from whoever holds the port
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200 \
                        and owns_listener(self.proc.pid, self.port):
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
