"""pyproject.toml agrees with itself: cibuildwheel's musllinux override installs the test
extra less playwright (no musllinux wheels; it drives the browser of tests/web, which the
build containers do not run), so a dependency added to the test extra must be added there."""

from __future__ import annotations

import pathlib
import sys

import pytest

PYPROJECT = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_musllinux_tests_install_the_test_extra_but_playwright():
    import tomllib

    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    test = config["project"]["optional-dependencies"]["test"]
    musl = [o for o in config["tool"]["cibuildwheel"]["overrides"]
            if o["select"] == "*-musllinux*"]
    assert len(musl) == 1
    assert musl[0]["test-extras"] == []
    assert sorted(musl[0]["test-requires"]) == \
        sorted(r for r in test if not r.startswith("playwright"))
    assert any(r.startswith("playwright") for r in test)
