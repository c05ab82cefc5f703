"""The registry's command line end to end, as a person, a platform and the operator
run it, against a real `tidehash serve` on loopback, on both stores: submit images and
a video, sync, match (the images, a re-encoded copy, the video), withdraw, sync, no
match; a compaction makes the next sync take a snapshot; a sync killed mid-way or fed
a cut stream leaves a valid list, and the next sync resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from images import make_rgb
from PIL import Image
from videos import make_video

from tidehash.formats import load_list

from .client_helpers import SRC, FaultProxy, cli, cli_json, free_port, serve, wait_for


def photo(path, seed: int):
    """A picture with detail at every scale (PDQ quality well above 50)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    arr = np.asarray(Image.fromarray(small).resize((320, 240), Image.BICUBIC))
    blobs = make_rgb("blobs", 240, 320, seed=seed).astype(np.int64)
    Image.fromarray(((arr.astype(np.int64) + blobs) // 2).astype(np.uint8)).save(path)
    return path


def matches(list_path, *queries) -> dict:
    """query -> [(signal, id)] of `tidehash match` (JSON lines)."""
    r = cli("match", *queries, "--against", list_path)
    assert r.returncode == 0, r.stderr
    out: dict = {str(q): [] for q in queries}
    for line in r.stdout.splitlines():
        rec = json.loads(line)
        if "signal" in rec:
            out[rec["query"]].append((rec["signal"], rec["id"]))
    return out


def sync(registry, token_file, list_path, url=None) -> dict:
    return cli_json("sync", "--registry", url or registry.url, "--token-file", token_file,
                    "--into", list_path)


def status_of(registry, case_file) -> list:
    got = cli_json("case", "status", "--registry", registry.url, "--secret-file", case_file)
    return [i["status"] for i in got["items"]]


@pytest.fixture
def registry(db_url, tmp_path):
    with serve(db_url, tmp_path) as reg:
        yield reg


@pytest.fixture
def files(tmp_path):
    a = photo(tmp_path / "a.png", 1)
    b = photo(tmp_path / "b.png", 2)
    Image.open(a).save(tmp_path / "copy.jpg", quality=70)
    clip = make_video(tmp_path / "clip.mp4", frames=75, script=lambda i: "scene")
    return {"a": a, "b": b, "copy": tmp_path / "copy.jpg", "clip": clip}


def test_submit_sync_match_withdraw_sync_no_match(registry, files, tmp_path):
    token = registry.platform("acme", tmp_path)
    listed = tmp_path / "list.thl"
    empty = sync(registry, token, listed)  # nothing listed yet: an empty list file
    assert (empty["mode"], empty["entries"], empty["seq"]) == ("snapshot", 0, 0)
    r = cli("submit", files["a"], files["clip"], "--registry", registry.url)
    assert r.returncode == 0, r.stderr
    case = json.loads(r.stdout)
    assert case["case_id"].startswith("TH-") and case["secret"]
    assert [(i["item"], i["kind"], i["path"]) for i in case["items"]] == [
        (0, "image", str(files["a"])), (1, "video", files["clip"])]
    assert "keep the case id and the secret" in r.stderr and case["secret"] not in r.stderr
    case_file = tmp_path / "case.json"
    case_file.write_text(r.stdout)
    wait_for(lambda: status_of(registry, case_file) == ["active", "active"], "publication")

    first = sync(registry, token, listed)
    assert first["mode"] == "changes"
    assert (first["entries"], first["added"], first["removed"]) == (2, 2, 0)
    assert first["seq"] == first["head"] == 2
    hl = load_list(listed)
    image_id, video_id = sorted(hl.pdq.ids.tolist()), sorted(hl.vpdq.ids.tolist())
    assert len(image_id) == len(video_id) == 1
    assert hl.pdq.label(0) == hl.vpdq.label(0)  # one case: one pseudonym
    assert hl.pdq.label(0) not in (case["case_id"], case["case_id"].replace("-", ""))
    found = matches(listed, files["a"], files["copy"], files["b"], files["clip"])
    assert found[str(files["a"])] and {s for s, _ in found[str(files["a"])]} == \
        {"pdq", "md5", "sha256"}
    assert found[str(files["copy"])] == [("pdq", image_id[0])]  # re-encoded: PDQ only
    assert found[str(files["b"])] == []
    assert {s for s, _ in found[files["clip"]]} == {"vpdq", "md5", "sha256"}
    assert {i for s, i in found[files["clip"]]} == {video_id[0]}
    # a second sync with nothing new changes nothing
    assert sync(registry, token, listed)["mode"] == "changes"

    # the person withdraws the image (the secret from stdin), the platform syncs
    r = cli("withdraw", "--registry", registry.url, "--case", case["case_id"],
            "--secret-file", "-", "--item", "0", input=case["secret"] + "\n")
    assert r.returncode == 0, r.stderr
    assert [i["status"] for i in json.loads(r.stdout)["items"]] == ["withdrawn", "active"]
    after = wait_for(lambda: (lambda s: s if s["removed"] else None)(
        sync(registry, token, listed)), "the withdrawal's publication")
    assert (after["mode"], after["entries"], after["removed"]) == ("changes", 1, 1)
    found = matches(listed, files["a"], files["copy"], files["clip"])
    assert found[str(files["a"])] == found[str(files["copy"])] == []
    assert {i for s, i in found[files["clip"]]} == {video_id[0]}

    # the whole case: nothing matches any more, and the status says so
    cli_json("withdraw", "--registry", registry.url, "--secret-file", case_file)
    assert status_of(registry, case_file) == ["withdrawn", "withdrawn"]
    wait_for(lambda: sync(registry, token, listed)["entries"] == 0 or None, "publication")
    assert all(v == [] for v in matches(listed, files["a"], files["clip"]).values())


def test_a_sync_after_compaction_takes_a_snapshot(registry, files, tmp_path):
    token = registry.platform("acme", tmp_path)
    first = cli_json("submit", files["a"], "--registry", registry.url)
    listed = tmp_path / "list.thl"
    wait_for(lambda: sync(registry, token, listed)["entries"] == 1 or None, "publication")
    cli_json("submit", files["b"], "--registry", registry.url)
    withdrawn = tmp_path / "first.json"
    withdrawn.write_text(json.dumps(first))
    cli_json("withdraw", "--registry", registry.url, "--secret-file", withdrawn)
    wait_for(lambda: registry.admin("publish") and registry.admin("compact", "--keep", "0")
             ["floor"] >= 3 or None, "publication of both")
    result = sync(registry, token, listed)
    assert result["mode"] == "snapshot"
    assert (result["entries"], result["added"], result["removed"]) == (1, 1, 1)
    assert matches(listed, files["a"])[str(files["a"])] == []
    assert matches(listed, files["b"])[str(files["b"])]
    assert sync(registry, token, listed)["mode"] == "changes"


def test_a_cut_stream_or_a_killed_sync_leaves_a_valid_list(registry, files, tmp_path):
    token = registry.platform("acme", tmp_path)
    port = int(registry.url.rsplit(":", 1)[1])
    listed = tmp_path / "list.thl"
    with FaultProxy(("127.0.0.1", port)) as proxy:
        cli_json("submit", files["a"], "--registry", registry.url)
        wait_for(lambda: registry.admin("publish")["head"] >= 1 or None, "publication")
        # a first sync whose stream always loses its trailer: refused, no list
        proxy.set(("before_trailer",))
        r = cli("sync", "--registry", proxy.url, "--token-file", token, "--into", listed)
        assert r.returncode == 1 and "truncated snapshot" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and not listed.exists()
        proxy.set(None)
        assert sync(registry, token, listed, proxy.url)["entries"] == 1
        before = listed.read_bytes()

        # a killed sync (kill -9 mid-snapshot, after a compaction forced one)
        cli_json("submit", files["b"], "--registry", registry.url)
        wait_for(lambda: registry.admin("publish")["head"] >= 2 or None, "publication")
        registry.admin("compact", "--keep", "0")
        proxy.set(("hold", 100))
        env = {**os.environ, "PYTHONPATH": SRC}
        process = subprocess.Popen(
            [sys.executable, "-m", "tidehash.cli", "sync", "--registry", proxy.url,
             "--token-file", str(token), "--into", str(listed)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            wait_for(lambda: proxy.body_bytes_sent >= 100, "the sync to start reading")
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=30)
            proxy.release()
        assert listed.read_bytes() == before  # the old list, whole
        # a temporary file a sync killed while writing would leave is cleared next time
        stale = tmp_path / ".list.thl.0123456789ab.tmp"
        stale.write_bytes(b"partial")
        proxy.set(None)
        result = sync(registry, token, listed, proxy.url)
        assert (result["mode"], result["entries"]) == ("snapshot", 2)
        assert not stale.exists()
        assert matches(listed, files["b"])[str(files["b"])]


def test_the_secret_is_never_a_command_line_argument(registry, files, tmp_path):
    r = cli("withdraw", "--registry", registry.url, "--case", "TH-0000-0000-0000-0000",
            "--secret", "abc")
    assert r.returncode == 2 and "No such option" in r.stderr
    r = cli("withdraw", "--registry", registry.url, "--case", "TH-0000-0000-0000-0000",
            "--secret-file", tmp_path / "missing")
    assert r.returncode == 2 and "missing" in r.stderr
    (tmp_path / "wrong").write_text("not-the-secret\n")
    r = cli("case", "status", "--registry", registry.url, "--case", "TH-0000-0000-0000-0000",
            "--secret-file", tmp_path / "wrong")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "Not found" in r.stderr and "404" in r.stderr


def test_admin_commands(registry, tmp_path):
    added = registry.admin("platform", "add", "acme", "--scope", "list:read")
    assert added["scopes"] == ["list:read"] and added["token"].startswith("thp_")
    r = cli("admin", "--db", registry.db_url, "platform", "add", "acme")
    assert r.returncode == 1 and "exists" in r.stderr
    assert registry.admin("platform", "suspend", "acme") == {"platform": "acme",
                                                              "suspended": True}
    token = tmp_path / "t"
    token.write_text(added["token"])
    r = cli("sync", "--registry", registry.url, "--token-file", token, "--into",
            tmp_path / "l.thl")
    assert r.returncode == 1 and "403" in r.stderr
    registry.admin("platform", "resume", "acme")
    r = cli("admin", "--db", registry.db_url, "platform", "list")
    listed = [json.loads(line) for line in r.stdout.splitlines()]
    assert [p["platform"] for p in listed] == ["acme"] and not listed[0]["suspended"]
    minted = registry.admin("token", "mint", "acme")
    assert registry.admin("token", "revoke", minted["token_id"])["revoked"] is True
    assert registry.admin("operator-token")["token"].startswith("tho_")
    r = cli("admin", "--db", registry.db_url, "entry", "remove", "00000000000000ff")
    assert r.returncode == 1 and "no active entry" in r.stderr
    r = cli("admin", "--db", registry.db_url, "entry", "remove", "xyz")
    assert r.returncode == 2
    r = cli("admin", "--db", registry.db_url, "cases", "--status", "active")
    assert r.returncode == 0 and r.stdout == ""


def test_an_entry_removed_by_the_operator_leaves_the_list(registry, files, tmp_path):
    token = registry.platform("acme", tmp_path)
    cli_json("submit", files["a"], "--registry", registry.url)
    listed = tmp_path / "list.thl"
    wait_for(lambda: sync(registry, token, listed)["entries"] == 1 or None, "publication")
    entry = f"{load_list(listed).pdq.ids[0]:016x}"
    assert registry.admin("entry", "remove", entry) == {"id": entry, "removed": True}
    registry.admin("publish")
    cases = registry.admin("cases", "--status", "removed")
    assert cases["items"]["removed"] == 1
    wait_for(lambda: sync(registry, token, listed)["entries"] == 0 or None, "the tombstone")
    assert matches(listed, files["a"])[str(files["a"])] == []


def test_usage_errors_exit_2(tmp_path):
    for args in (["submit", "x.png"], ["sync", "--registry", "http://h"],
                 ["sync", "--registry", "ftp://h", "--token-file", "-", "--into", "l"],
                 ["case", "status", "--registry", "http://h", "--secret-file", "-"],
                 ["serve", "--db", "foo://x", "--port", "0"],
                 ["serve", "--db", "sqlite:///:memory:", "--port", "0"],
                 ["admin", "--db", "foo://x", "platform", "list"]):
        r = cli(*args, input="", cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())  # nothing was created on the way


def test_plain_http_to_another_machine_is_warned_about(tmp_path):
    r = cli("case", "status", "--registry", "http://registry.invalid", "--case",
            "TH-0000-0000-0000-0000", "--secret-file", "-", "--timeout", "5", input="x")
    assert r.returncode == 1 and "cannot reach the registry" in r.stderr
    assert "http:// is not encrypted" in r.stderr
    r = cli("case", "status", "--registry", "http://127.0.0.1:9", "--case",
            "TH-0000-0000-0000-0000", "--secret-file", "-", input="x")
    assert r.returncode == 1 and "not encrypted" not in r.stderr


def test_serve_without_db_makes_its_database_here(tmp_path):
    env = {**os.environ, "PYTHONPATH": SRC}
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tidehash.cli", "serve", "--port",
                                str(port), "--pow-difficulty", "0"], cwd=tmp_path, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: (tmp_path / "tidehash-registry.db").exists() and cli(
            "case", "status", "--registry", f"http://127.0.0.1:{port}", "--case",
            "TH-0000-0000-0000-0000", "--secret-file", "-", input="x").returncode == 1,
                 "the server", timeout=90)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    # uvicorn shuts down, then dies of the signal it caught (as it was sent)
    assert process.returncode in (0, -signal.SIGTERM), process.stderr.read()
    # admin without --db works on the same file
    r = cli("admin", "platform", "add", "acme", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["token"].startswith("thp_")


def test_serve_without_the_registry_extra_says_what_to_install(tmp_path):
    """The registry's dependencies made unimportable (as when the extra is missing)."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent("""
        import sys
        class Missing:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("fastapi", "sqlalchemy", "uvicorn"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        sys.meta_path.insert(0, Missing())
    """))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), SRC])}
    for args in (["serve", "--port", "0"], ["admin", "platform", "list"]):
        r = subprocess.run([sys.executable, "-m", "tidehash.cli", *args], env=env,
                           capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert r.returncode == 2, r.stderr
        assert 'pip install "tidehash[registry]"' in r.stderr and "Traceback" not in r.stderr
    # the engine's commands do not need it
    r = subprocess.run([sys.executable, "-m", "tidehash.cli", "info"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
