"""Exceptions raised by tidehash."""


class TidehashError(Exception):
    """Base class of tidehash's own errors."""


class DecodeError(TidehashError, ValueError):
    """A file could not be decoded as an image (empty, truncated, corrupt, not an image)."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class ImageTooLargeError(DecodeError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""


class HashFormatError(TidehashError, ValueError):
    """A hash string or array is malformed."""
