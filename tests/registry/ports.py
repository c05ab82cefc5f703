"""Loopback ports for the servers the tests start, and whether a port's listener is the
process a test started: a port found free can be taken by another program before the
test's server binds it (the server then fails with 'address in use' and exits, while the
readiness probe is answered by the other program: a test would talk to a stranger)."""

from __future__ import annotations

import os
import pathlib
import socket


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes(port: int) -> set[str]:
    """The socket inodes listening on 127.0.0.1:port (or on every address), from
    /proc/net/tcp."""
    want = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    inodes = set()
    for line in pathlib.Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] in want and fields[3] == "0A":  # 0A: LISTEN
            inodes.add(fields[9])
    return inodes


def owns_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on loopback ``port`` (always
    True where /proc cannot tell, as off Linux)."""
    if not os.path.exists("/proc/net/tcp"):
        return True
    inodes = _listening_inodes(port)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:[") and link[8:-1] in inodes:
            return True
    return False
