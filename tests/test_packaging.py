"""pyproject.toml agrees with itself: cibuildwheel's tests install the test extra less
vpdq (Meta's vPDQ builds from source against FFmpeg's development libraries, which the
build containers do not have) and deselect the comparisons with it by name; musllinux
installs that less playwright too (no musllinux wheels; it drives the browser of tests/web,
which the build containers do not run). So a dependency added to the test extra must be
added there."""

from __future__ import annotations

import pathlib
import sys

import pytest

PYPROJECT = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"


def _config() -> dict:
    import tomllib

    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _without(requirements, *names) -> list[str]:
    return sorted(r for r in requirements if not r.startswith(names))


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_the_wheel_tests_install_the_test_extra_but_vpdq_and_deselect_its_tests():
    config = _config()
    test = config["project"]["optional-dependencies"]["test"]
    wheels = config["tool"]["cibuildwheel"]
    assert "test-extras" not in wheels
    assert sorted(wheels["test-requires"]) == _without(test, "vpdq")
    assert any(r.startswith("vpdq") for r in test)
    assert "-k 'not pip_vpdq'" in wheels["test-command"]


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is Python 3.11+")
def test_musllinux_tests_install_that_but_playwright():
    config = _config()
    test = config["project"]["optional-dependencies"]["test"]
    musl = [o for o in config["tool"]["cibuildwheel"]["overrides"]
            if o["select"] == "*-musllinux*"]
    assert len(musl) == 1
    assert "test-extras" not in musl[0]
    assert sorted(musl[0]["test-requires"]) == _without(test, "vpdq", "playwright")
    assert any(r.startswith("playwright") for r in test)
