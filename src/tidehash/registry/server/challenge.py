"""Proof-of-work challenges (README.md, ``GET /v1/challenge``).

A challenge is ``base64url(payload) + "." + base64url(hmac)``: the payload
``{"v":1,"n":"<32 hex nonce>","d":difficulty,"e":expiry_unix}`` is signed with the
server's ``challenge`` key, so the server keeps no state until a case spends it. Its
single use is enforced by the store: ``Store.create_case(challenge_nonce=...,
challenge_expires=...)`` records the nonce in the case's own transaction and refuses a
nonce seen before (the record can be dropped after the expiry)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hmac
import json
import secrets
import time
from typing import Callable

from ..pow import ALGORITHM, MAX_DIFFICULTY, check_solution

VERSION = 1
#: a challenge longer than this is not one of ours (ours are about 130 characters)
MAX_LENGTH = 512


class ChallengeError(Exception):
    """The challenge is forged, malformed, expired or unsolved (a 400, slug
    ``challenge``); the message says which, for the person's client."""


@dataclasses.dataclass(frozen=True)
class Spend:
    """What the store records to make the challenge single use."""

    nonce: str
    expires: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text or len(text) % 4 == 1 or not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Challenges:
    """Issues and verifies challenges. ``mac(data) -> bytes`` is the keyed hash
    (``lambda data: keys.mac("challenge", data)``); ``clock`` gives unix seconds."""

    def __init__(self, mac: Callable[[bytes], bytes], difficulty: int, ttl: int,
                 clock: Callable[[], float] = time.time):
        if not isinstance(difficulty, int) or not 0 <= difficulty <= MAX_DIFFICULTY:
            raise ValueError(f"difficulty must be in 0..{MAX_DIFFICULTY}, got {difficulty!r}")
        if not isinstance(ttl, int) or ttl <= 0:
            raise ValueError(f"challenge ttl must be a positive number of seconds, got {ttl!r}")
        self._mac = mac
        self.difficulty = difficulty
        self.ttl = ttl
        self._clock = clock

    @property
    def required(self) -> bool:
        """False at difficulty 0: a submission's ``pow`` is then optional and ignored."""
        return self.difficulty > 0

    def issue(self) -> dict:
        """The body of ``GET /v1/challenge``."""
        payload = {"v": VERSION, "n": secrets.token_hex(16), "d": self.difficulty,
                   "e": int(self._clock()) + self.ttl}
        encoded = _b64encode(json.dumps(payload, separators=(",", ":")).encode("ascii"))
        challenge = f"{encoded}.{_b64encode(self._mac(encoded.encode('ascii')))}"
        return {"challenge": challenge, "difficulty": self.difficulty, "expires_in": self.ttl,
                "algorithm": ALGORITHM}

    def verify(self, challenge: str, nonce: str) -> Spend:
        """Check signature, expiry, difficulty and solution; return what to spend.
        Raises ChallengeError. Whether it was spent before is the store's to say."""
        if not isinstance(challenge, str) or len(challenge) > MAX_LENGTH \
                or challenge.count(".") != 1:
            raise ChallengeError("not a challenge issued by this registry")
        encoded, signature = challenge.split(".")
        try:
            given = _b64decode(signature)
        except (ValueError, binascii.Error):
            raise ChallengeError("not a challenge issued by this registry") from None
        expected = self._mac(encoded.encode("ascii", "replace"))
        if not hmac.compare_digest(given, expected):
            raise ChallengeError("not a challenge issued by this registry")
        try:
            payload = json.loads(_b64decode(encoded))
            version, spend_nonce = payload["v"], payload["n"]
            difficulty, expires = payload["d"], payload["e"]
        except (ValueError, binascii.Error, KeyError, TypeError):
            # signed by us but unreadable: a key shared with an incompatible version
            raise ChallengeError("not a challenge issued by this registry") from None
        if version != VERSION or not isinstance(spend_nonce, str) \
                or type(difficulty) is not int or type(expires) is not int:
            raise ChallengeError("a challenge of another version; get a new one")
        if expires < self._clock():
            raise ChallengeError("the challenge has expired; get a new one")
        if difficulty < self.difficulty:
            # issued before the difficulty was raised
            raise ChallengeError("the challenge is easier than this registry now asks; "
                                 "get a new one")
        if not check_solution(challenge, nonce, difficulty):
            raise ChallengeError("the nonce does not solve the challenge")
        return Spend(nonce=spend_nonce, expires=expires)
