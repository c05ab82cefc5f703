"""The tidehash registry: the service (``tidehash.registry.server``, extra
``tidehash[registry]``) and its clients (``Client``: standard library only).

See README.md in this folder for the API, the identifiers and the storage."""

from __future__ import annotations

__all__ = ["Client", "RegistryError"]


def __getattr__(name):
    if name in __all__:
        from . import client
        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
