"""The test servers' port check (tests/registry/ports.py) on real listening sockets."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from .ports import free_port, owns_listener


def test_a_listener_belongs_to_the_process_that_holds_it():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert owns_listener(os.getpid(), port)
        # another process on the machine does not hold it
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            assert not owns_listener(other.pid, port)
        finally:
            other.kill()
            other.wait()


def test_a_stranger_on_the_port_is_seen():
    """The case the check is for: the port a test chose is held by another program."""
    code = ("import socket, sys, time; s = socket.socket(); s.bind(('127.0.0.1', 0)); "
            "s.listen(); print(s.getsockname()[1], flush=True); time.sleep(30)")
    stranger = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        port = int(stranger.stdout.readline())
        assert owns_listener(stranger.pid, port)
        assert not owns_listener(os.getpid(), port)
    finally:
        stranger.kill()
        stranger.wait()


def test_nobody_owns_a_free_port():
    assert not owns_listener(os.getpid(), free_port())
