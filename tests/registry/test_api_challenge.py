"""The proof of work of a submission, through HTTP on both stores: a solved challenge is
accepted once; a forged, expired, reused, unsolved, too easy or missing one is a 400
``challenge`` problem; at difficulty 0 the ``pow`` field is optional and ignored."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

from tidehash.registry import pow as pow_
from tidehash.registry.server.challenge import ChallengeError, Challenges

from .api_helpers import assert_problem, image, running

DIFFICULTY = 8


@pytest.fixture
def hard(db_url):
    with running(db_url, pow_difficulty=DIFFICULTY) as a:
        yield a


def solved(api) -> dict:
    c = api.get("/v1/challenge").json()
    return {"challenge": c["challenge"], "nonce": pow_.solve(c["challenge"], c["difficulty"])}


def unsolving_nonce(challenge: str, difficulty: int) -> str:
    n = 0
    while pow_.check_solution(challenge, str(n), difficulty):
        n += 1
    return str(n)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def payload(challenge: str) -> dict:
    text = challenge.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def submit(api, pow_body, seed=1):
    body = {"items": [image(seed)]}
    if pow_body is not None:
        body["pow"] = pow_body
    return api.post("/v1/cases", json=body)


def test_the_challenge_says_what_to_solve(hard):
    before = int(time.time())
    r = hard.get("/v1/challenge")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    c = r.json()
    assert set(c) == {"challenge", "difficulty", "expires_in", "algorithm"}
    assert (c["difficulty"], c["expires_in"], c["algorithm"]) == (
        DIFFICULTY, 300, "sha256-leading-zero-bits")
    p = payload(c["challenge"])
    assert set(p) == {"v", "n", "d", "e"}
    assert p["v"] == 1 and p["d"] == DIFFICULTY
    assert len(p["n"]) == 32 and int(p["n"], 16) >= 0
    assert before + 300 <= p["e"] <= int(time.time()) + 300
    assert payload(hard.get("/v1/challenge").json()["challenge"])["n"] != p["n"]


def test_a_solved_challenge_is_accepted_once(hard):
    solution = solved(hard)
    r = submit(hard, solution)
    assert r.status_code == 201, r.text
    problem = assert_problem(submit(hard, solution, seed=2), 400, "challenge")
    assert "already used" in problem["detail"]
    assert [e["loc"] for e in problem["errors"]] == ["pow.challenge"]
    # a different solution of the same challenge is the same spent challenge
    other = str(int(solution["nonce"]) + 1)
    while not pow_.check_solution(solution["challenge"], other, DIFFICULTY):
        other = str(int(other) + 1)
    assert_problem(submit(hard, {**solution, "nonce": other}, seed=3), 400, "challenge")


def test_concurrent_spends_of_one_challenge_give_one_case(hard):
    solution = solved(hard)
    statuses = []
    lock = threading.Lock()

    def go(seed):
        r = submit(hard, solution, seed=seed)
        with lock:
            statuses.append(r.status_code)
    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [201] + [400] * 5


def test_an_unsolved_challenge_is_refused(hard):
    c = hard.get("/v1/challenge").json()
    nonce = unsolving_nonce(c["challenge"], DIFFICULTY)
    problem = assert_problem(submit(hard, {"challenge": c["challenge"], "nonce": nonce}),
                             400, "challenge")
    assert "does not solve" in problem["detail"]
    # and it was not spent by the failed attempt
    r = submit(hard, {"challenge": c["challenge"],
                      "nonce": pow_.solve(c["challenge"], DIFFICULTY)})
    assert r.status_code == 201, r.text


def test_a_missing_pow_is_refused(hard):
    problem = assert_problem(submit(hard, None), 400, "challenge")
    assert [e["loc"] for e in problem["errors"]] == ["pow"]


def forgeries(api):
    """Challenges this registry did not sign as they are."""
    real = api.get("/v1/challenge").json()["challenge"]
    encoded, signature = real.split(".")
    p = payload(real)
    easier = b64(json.dumps({**p, "d": 0}, separators=(",", ":")).encode())
    later = b64(json.dumps({**p, "e": p["e"] + 10**6}, separators=(",", ":")).encode())
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    return {
        "easier-payload": f"{easier}.{signature}",
        "longer-life": f"{later}.{signature}",
        "flipped-signature": f"{encoded}.{flipped}",
        "no-signature": encoded,
        "empty-signature": f"{encoded}.",
        "two-dots": f"{real}.x",
        "garbage": "hello",
        "not-ascii": f"{encoded}.\u00e9\u00e9",
        "bad-base64": f"{encoded}.!!!!",
    }


def test_forged_challenges_are_refused(hard, db_url, tmp_path):
    for name, challenge in forgeries(hard).items():
        problem = assert_problem(submit(hard, {"challenge": challenge, "nonce": "0"}),
                                 400, "challenge")
        assert problem["errors"][0]["loc"] == "pow", name
    # signed by another registry (another master key)
    with running(f"sqlite:///{tmp_path / 'other.db'}", pow_difficulty=DIFFICULTY) as other:
        foreign = solved(other)
    problem = assert_problem(submit(hard, foreign), 400, "challenge")
    assert "not a challenge issued by this registry" in problem["detail"]


def test_an_expired_challenge_is_refused(hard):
    keys = hard.services.keys
    past = Challenges(lambda data: keys.mac("challenge", data), DIFFICULTY, 300,
                      clock=lambda: time.time() - 301)
    challenge = past.issue()["challenge"]
    problem = assert_problem(
        submit(hard, {"challenge": challenge, "nonce": pow_.solve(challenge, DIFFICULTY)}),
        400, "challenge")
    assert "expired" in problem["detail"]


def test_a_challenge_easier_than_asked_is_refused(hard):
    keys = hard.services.keys
    easy = Challenges(lambda data: keys.mac("challenge", data), DIFFICULTY - 4, 300).issue()
    challenge = easy["challenge"]
    nonce = pow_.solve(challenge, DIFFICULTY - 4)
    while pow_.check_solution(challenge, nonce, DIFFICULTY):  # solves the easy one only
        nonce = pow_.solve(challenge, DIFFICULTY - 4, start=int(nonce) + 1)
    problem = assert_problem(submit(hard, {"challenge": challenge, "nonce": nonce}),
                             400, "challenge")
    assert "easier" in problem["detail"]


def test_difficulty_zero_needs_no_pow_and_ignores_one(db_url):
    with running(db_url, pow_difficulty=0) as api:
        c = api.get("/v1/challenge").json()
        assert c["difficulty"] == 0
        assert submit(api, None).status_code == 201
        r = submit(api, {"challenge": "not.checked", "nonce": "1"}, seed=2)
        assert r.status_code == 201, r.text
        # ignored means not spent either: the same pow twice is fine
        assert submit(api, {"challenge": "not.checked", "nonce": "1"}, seed=3).status_code == 201
        # the shape is still checked (a strict body)
        r = submit(api, {"challenge": "x", "nonce": "12a"}, seed=4)
        assert [e["loc"] for e in assert_problem(r, 400)["errors"]] == ["pow.nonce"]


# ----------------------------------------------------------------------------- the class

def test_challenges_round_trip_and_report_what_to_spend():
    key = b"k" * 32
    import hashlib
    import hmac

    def mac(data):
        return hmac.new(key, data, hashlib.sha256).digest()
    now = [1_000_000.0]
    ch = Challenges(mac, 4, 60, clock=lambda: now[0])
    issued = ch.issue()
    spend = ch.verify(issued["challenge"], pow_.solve(issued["challenge"], 4))
    p = payload(issued["challenge"])
    assert (spend.nonce, spend.expires) == (p["n"], 1_000_060)
    now[0] = 1_000_060.0  # the last second of its life
    ch.verify(issued["challenge"], pow_.solve(issued["challenge"], 4))
    now[0] = 1_000_061.0
    with pytest.raises(ChallengeError, match="expired"):
        ch.verify(issued["challenge"], pow_.solve(issued["challenge"], 4))
    assert not Challenges(mac, 0, 60).required and ch.required
    with pytest.raises(ValueError):
        Challenges(mac, 33, 60)
    with pytest.raises(ValueError):
        Challenges(mac, 4, 0)
