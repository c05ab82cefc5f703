"""``tidehash serve --role matcher --config FILE --db URL --host H --port P`` as its own
process on loopback: HMA's raw lookup over real HTTP, a bad config refused before
anything starts, and the log carries no upload's hash."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import httpx

from tidehash.registry.sources.base import entry_id_of

from .api_helpers import SRC
from .matcher_helpers import matcher_process, random_pdq, write_config, write_hex_list


def test_serve_role_matcher(tmp_path, db_url):
    rng = random.Random(2)
    listed, other = random_pdq(rng), random_pdq(rng)
    write_hex_list(tmp_path / "a.txt", [listed])
    config = write_config(tmp_path / "m.toml", {"A": {"source": "list:a.txt"}})
    with matcher_process(config, db_url, tmp_path) as m:
        r = httpx.get(m.base_url + "/m/raw_lookup",
                      params={"signal_type": "pdq", "signal": listed})
        assert r.status_code == 200
        assert r.json() == {"matches": [entry_id_of(f"list:pdq:{listed}")]}
        r = httpx.get(m.base_url + "/m/raw_lookup", params={"signal_type": "pdq",
                                                             "signal": other})
        assert r.json() == {"matches": []}
        r = httpx.post(m.base_url + "/h/hash", files={"video": ("secret-name.mp4", b"bytes")})
        assert r.status_code == 200
        upload_md5 = r.json()["video_md5"]
    log = m.log_path.read_text()
    # structured lines: key=value
    assert "event=bank_loaded bank=A entries=0 seq=0" in log
    assert "event=sync bank=A changes=1 entries=1 seq=1" in log
    for private in (listed, other, upload_md5, "secret-name"):
        assert private not in log


def test_serve_role_matcher_refuses_a_bad_config(tmp_path):
    config = tmp_path / "m.toml"
    config.write_text("[bank.A]\nsource = \"nope:x\"\n")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for args in (["--config", str(config)], []):
        r = subprocess.run([sys.executable, "-m", "tidehash.cli", "serve", "--role", "matcher",
                            "--db", str(tmp_path / "m.db"), *args],
                           capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 2, r.stderr
        assert "--config" in r.stderr
