"""Reading what a registry sends: JSON that fails only with a ValueError (standard library
only; the client and the list sync both use it)."""

from __future__ import annotations

import json


def _not_json(name: str):
    raise ValueError(f"{name} is not JSON")


def loads(raw):
    """``json.loads`` of what a registry sent, every way it can fail a ValueError:
    nesting deeper than the interpreter recurses (the decoder's RecursionError) and
    ``NaN`` / ``Infinity`` (not JSON) too, so that a hostile or broken answer is a
    clear error, never a traceback."""
    try:
        return json.loads(raw, parse_constant=_not_json)
    except RecursionError:
        raise ValueError("nested too deeply") from None
