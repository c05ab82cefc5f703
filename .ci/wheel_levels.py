"""pytest plugin of .ci/wheel for its runs at a level other than the default one.

A test that takes the `isa` or `native_isa` fixture of tests/conftest.py (or is
parametrized by an argument of that name) already runs once per level the CPU has, with
that level forced by `tidehash.use_isa` or passed to `tidehash._native`; TIDEHASH_ISA
changes nothing for it. This plugin deselects those, so that a run with TIDEHASH_ISA set
runs only the tests that use the level in force by default. The deselected count is in
pytest's closing line; a run left with no test exits 5, which .ci/wheel counts as a failure.
"""

from __future__ import annotations

LEVEL_PARAMS = {"isa", "native_isa"}


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = set(callspec.params) if callspec is not None else set()
        (drop if params & LEVEL_PARAMS else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
