"""The person's flow in a real browser (Debian's Chromium) against a real registry
(uvicorn on loopback, with a proof of work the page solves in its worker): files chosen,
checked, agreed to, sent; the case number and secret shown once; the status view checks
and takes back the case. Every request the browser makes is captured: none carries the
files' bytes, every body is hash JSON of the registry's shapes, and the registry holds
exactly the hashes tidehash.hash_file computes. The error sentences, a keyboard-only pass
and the 360 px layout too."""

from __future__ import annotations

import json

import httpx
import pytest
from registry.api_helpers import uvicorn_server

from .flow import (
    Capture,
    active_id,
    assert_only_hashes_sent,
    choose_and_wait,
    engine_item,
    file_states,
    no_horizontal_scroll,
    open_page,
    send,
    wait_for_file_chooser,
)

WITHDRAWN = "() => document.getElementById('status-summary').textContent.startsWith('Done.')"
CHECKED = ("() => document.querySelectorAll('#file-list li.ready, #file-list li.refused')"
           ".length === 3")
STORAGE = "JSON.stringify([document.cookie, {...localStorage}, {...sessionStorage}])"
POW_DIFFICULTY = 12  # a real proof of work, solved in the worker, checked by the registry


@pytest.fixture(scope="module")
def flow_registry(tmp_path_factory):
    folder = tmp_path_factory.mktemp("flow-registry")
    url = f"sqlite:///{folder / 'registry.db'}"
    with uvicorn_server(url, folder, pow_difficulty=POW_DIFFICULTY) as server:
        server.db_url = url
        yield server


def platform_snapshot(server) -> list[dict]:
    """The registry's list as a platform reads it (a platform added on its database)."""
    from tidehash.registry.server.db import Database
    from tidehash.registry.server.keys import Keys
    from tidehash.registry.server.store import Store

    db = Database(server.db_url)
    try:
        store = Store(db, Keys.load(db))
        name = f"flow-platform-{len(store.list_platforms())}"
        token = store.add_platform(name)["token"]
    finally:
        db.close()
    r = httpx.get(server.base_url + "/v1/list/snapshot",
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    lines = [json.loads(line) for line in r.text.splitlines()]
    return [line for line in lines if "trailer" not in line]


def case_status(server, case_id: str, secret: str) -> dict:
    r = httpx.post(server.base_url + "/v1/cases/status",
                   json={"case_id": case_id, "secret": secret})
    assert r.status_code == 200, r.text
    return r.json()


def test_the_whole_flow_sends_only_hashes(browser, flow_registry, flow_files):
    context = browser.new_context()
    try:
        capture = Capture(context)
        base = flow_registry.base_url
        page, errors = open_page(context, base + "/")
        choose_and_wait(page, list(flow_files.values()))
        states = file_states(page)
        assert [n for n, (cls, _) in states.items() if "refused" in cls] == ["notes.txt"]
        assert states["notes.txt"][1] == \
            "Can't be used: This isn't a photo or video this page can read."
        assert "low" in states["plain.png"][0] and "plain or blurry" in states["plain.png"][1]
        assert states["video.mp4"][1] == "Ready (video)"
        assert page.text_content("#summary") == "4 files are ready to send. 1 can't be used."

        page.click("#to-consent")
        assert active_id(page) == "consent-title"
        assert "You are about to send the fingerprints of 4 files." in \
            page.text_content("#step-consent")
        page.click("#send")  # not agreed yet: the page asks, nothing is sent
        assert page.text_content("#consent-error") == \
            "Please tick the box to say you understand what is sent."
        assert not [u for _m, u, _b in capture.all() if "/v1/" in u]
        page.check("#agree")
        page.click("#send")
        page.wait_for_selector("#step-done:not([hidden])", timeout=60_000)
        assert active_id(page) == "done-title"
        case_id, secret = page.text_content("#case-id"), page.text_content("#case-secret")
        assert case_id.startswith("TH-") and len(secret) >= 32
        assert "shown only once" in page.text_content("#step-done")
        # the downloadable note holds both
        with page.expect_download() as dl:
            page.click("#download")
        note = open(dl.value.path(), encoding="utf-8").read()
        assert f"Case number: {case_id}" in note and f"Secret code: {secret}" in note
        assert dl.value.suggested_filename == f"case-{case_id}.txt"

        # nothing of the secret stays in the browser's storage or the address
        assert secret not in page.url
        stored = page.evaluate(STORAGE)
        assert secret not in stored and stored == '["",{},{}]'

        # the status view: check, then take back after a confirmation
        page.click("#nav-status")
        assert active_id(page) == "status-title"
        assert page.url == base + "/#status"
        page.fill("#status-case", case_id.lower().replace("-", ""))  # as a person may type it
        page.fill("#status-secret", secret)
        page.click("#status-check")
        page.wait_for_selector("#status-result:not([hidden])")
        assert active_id(page) == "result-title"
        assert page.locator("#status-items li").count() == 4
        page.click("#withdraw")
        assert active_id(page) == "confirm-title"
        page.click("#withdraw-no")
        assert case_status(flow_registry, case_id, secret)["items"][0]["status"] == "active"
        page.click("#withdraw")
        page.click("#withdraw-yes")
        page.wait_for_function(WITHDRAWN)
        assert page.locator("#status-items li.withdrawn").count() == 4
        assert {i["status"] for i in case_status(flow_registry, case_id, secret)["items"]} \
            == {"withdrawn"}
        assert errors == []
    finally:
        context.close()

    # every request: the worker's too (it fetches the wasm and hash-wasm)
    urls = [u for _m, u, _b in capture.routed]
    assert any(u.endswith(".wasm") for u in urls) and any(u.endswith("/hash-wasm.js") for u in urls)
    assert sorted(u[len(base):] for m, u, _b in capture.routed if m == "POST") == \
        ["/v1/cases", "/v1/cases/status", "/v1/cases/withdraw"]
    bodies = assert_only_hashes_sent(capture, flow_files, base, secret)
    assert len(bodies) == 2  # the event stream and the route saw the same one
    sent = bodies[0]["items"]
    want = [engine_item(flow_files[n])
            for n in ("photo-1.jpg", "photo-2.png", "plain.png", "video.mp4")]
    assert sent == want  # (what the registry keeps of them: the next test)


def test_the_list_holds_exactly_the_hashes(browser, flow_registry, flow_files):
    """Sent from the page, read back from the registry as a platform reads the list."""
    context = browser.new_context()
    try:
        page, errors = open_page(context, flow_registry.base_url + "/")
        paths = [flow_files[n] for n in ("photo-1.jpg", "plain.png", "video.mp4")]
        before = {e["id"] for e in platform_snapshot(flow_registry)}
        choose_and_wait(page, paths)
        send(page)
        assert errors == []
    finally:
        context.close()
    new = [e for e in platform_snapshot(flow_registry) if e["id"] not in before]
    fields = ("kind", "pdq", "quality", "md5", "sha256")
    got = sorted(tuple(e.get(k) for k in fields) for e in new)
    want = sorted(tuple(engine_item(p).get(k) for k in fields) for p in paths)
    assert got == want


def test_errors_are_sentences(browser, flow_files, tmp_path):
    """The registry stopped after the page loaded; a 429 with Retry-After (from a proxy
    in front: the registry itself has no rate limit); a wrong secret (the registry's 404)."""
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    context = browser.new_context()
    try:
        cm = uvicorn_server(url, tmp_path)
        server = cm.__enter__()
        try:
            base = server.base_url
            page, errors = open_page(context, base + "/")
            # a wrong secret: the registry's 404, in words
            page.click("#nav-status")
            page.fill("#status-case", "TH-0000-0000-0000-0000")
            page.fill("#status-secret", "not-the-secret")
            page.click("#status-check")
            page.wait_for_selector("#status-error:not([hidden])")
            assert page.text_content("#status-error") == (
                "We couldn't find a case with that number and secret code. Check both for "
                "typos and try again.")
            page.click("#nav-send")
            choose_and_wait(page, [flow_files["photo-1.jpg"]])
            page.click("#to-consent")
            page.check("#agree")

            # rate-limited: the sentence says how long to wait
            def limited(route):
                route.fulfill(status=429, headers={"Retry-After": "120"},
                              content_type="application/problem+json",
                              body='{"title": "too many requests", "status": 429}')

            context.route("**/v1/challenge", limited)
            page.click("#send")
            page.wait_for_selector("#consent-error:not([hidden])")
            assert page.text_content("#consent-error") == (
                "Lots of people are sending right now, so the service asked us to slow "
                "down. Please wait 2 minutes and try again. Your files are still here.")
            assert active_id(page) == "consent-title"
            context.unroute("**/v1/challenge", limited)

            # the registry's own answers, as it words them, for what the page cannot
            # provoke: a challenge spent or expired twice over, a 4xx with its reason
            def answer(status, slug, detail):
                def handler(route):
                    if route.request.method != "POST":
                        return route.continue_()
                    route.fulfill(status=status, content_type="application/problem+json",
                                  body=json.dumps({"type": f"https://tidehash.org/problems/{slug}",
                                                   "title": slug, "status": status,
                                                   "detail": detail}))
                return handler

            for handler, words in [
                (answer(400, "challenge", "the challenge has expired"),
                 "The safety check took too long and ran out of time. Please press Send again."),
                (answer(400, "invalid-request", "items[0].pdq: an all-zero PDQ hash"),
                 "The service couldn't accept this. It said: “items[0].pdq: an all-zero PDQ "
                 "hash”. Please check and try again, or try later."),
            ]:
                context.route("**/v1/cases", handler)
                page.click("#send")
                page.wait_for_function("w => document.getElementById('consent-error')"
                                       ".textContent === w", arg=words)
                context.unroute("**/v1/cases", handler)
        finally:
            cm.__exit__(None, None, None)
        # the registry is gone now (the page and its worker were loaded before)
        page.click("#send")
        page.wait_for_function(
            "() => document.getElementById('consent-error').textContent.includes('reach')")
        assert page.text_content("#consent-error") == (
            "We couldn't reach the service. Check your internet connection and try again. "
            "Your files are still here.")
        assert page.locator("#file-list li.ready").count() == 1
        assert errors == [] or all("Failed to load resource" in e or "ERR_" in e for e in errors)
    finally:
        context.close()


def tab_to(page, element_id: str, limit: int = 40, back: bool = False) -> None:
    for _ in range(limit):
        if active_id(page) == element_id:
            return
        page.keyboard.press("Shift+Tab" if back else "Tab")
    raise AssertionError(f"Tab never reached #{element_id} (at #{active_id(page)})")


def test_keyboard_only_at_360_px(browser, flow_registry, flow_files):
    """Every step by the keyboard alone, on a 360 px wide phone screen: focus moves to
    each step's heading, and no step scrolls sideways."""
    context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=1)
    try:
        choosers: list = []
        page, errors = open_page(context, flow_registry.base_url + "/", file_choosers=choosers)
        widths = {"choose": no_horizontal_scroll(page)}
        tab_to(page, "choose")
        page.keyboard.press("Enter")
        wait_for_file_chooser(page, choosers).set_files([str(flow_files[n])
                                 for n in ("photo-1.jpg", "video.mp4", "notes.txt")])
        page.wait_for_function(CHECKED)
        page.wait_for_function("() => !document.getElementById('to-consent').disabled")
        widths["files"] = no_horizontal_scroll(page)
        tab_to(page, "to-consent")
        page.keyboard.press("Enter")
        assert active_id(page) == "consent-title"
        widths["consent"] = no_horizontal_scroll(page)
        tab_to(page, "agree")
        page.keyboard.press("Space")
        assert page.is_checked("#agree")
        tab_to(page, "send")
        page.keyboard.press("Enter")
        page.wait_for_selector("#step-done:not([hidden])", timeout=60_000)
        assert active_id(page) == "done-title"
        widths["done"] = no_horizontal_scroll(page)
        case_id, secret = page.text_content("#case-id"), page.text_content("#case-secret")
        tab_to(page, "nav-status", back=True)
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.activeElement.id === 'status-title'")
        tab_to(page, "status-case")
        page.keyboard.type(case_id)
        page.keyboard.press("Tab")
        assert active_id(page) == "status-secret"
        page.keyboard.type(secret)
        page.keyboard.press("Enter")  # submits the form
        page.wait_for_function("() => document.activeElement.id === 'result-title'")
        widths["status"] = no_horizontal_scroll(page)
        tab_to(page, "withdraw")
        page.keyboard.press("Enter")
        assert active_id(page) == "confirm-title"
        widths["confirm"] = no_horizontal_scroll(page)
        tab_to(page, "withdraw-yes")
        page.keyboard.press("Enter")
        page.wait_for_function(WITHDRAWN)
        assert {i["status"] for i in case_status(flow_registry, case_id, secret)["items"]} \
            == {"withdrawn"}
        # the focused element is drawn with an outline (a visible focus)
        outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
        assert outline == "solid", outline
        assert max(widths.values()) <= 360, widths
        assert errors == []
    finally:
        context.close()


def test_the_proof_of_work_is_the_clients(page):
    """solveChallenge (the worker's SHA-256, the prefix's blocks compressed once) finds
    the nonce tidehash.registry.pow.solve finds, for challenges whose ":" + nonce ends
    in every position of the last block, and both builds' worker refuse nonsense."""
    import random

    from tidehash.registry import pow as proof_of_work

    rng = random.Random(5)
    challenges = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEF0123456789-_.")
                          for _ in range(n)) for n in list(range(40, 136)) + [1, 300]]
    got = page.page.evaluate(
        "async (cs) => Promise.all(cs.map(c => th.solveChallenge(c, 9)))", challenges)
    assert got == [proof_of_work.solve(c, 9) for c in challenges]
    assert page.page.evaluate("async () => await th.solveChallenge('x', 0)") == "0"
    errors = page.page.evaluate("""async () => Promise.all([['', 4], ['a b', 4], ['a', 33],
        ['a', 1.5]].map(([c, d]) => th.solveChallenge(c, d).then(() => null, e => e.message)))""")
    assert all(errors), errors
