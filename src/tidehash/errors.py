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


class ArgumentNeeded(HashFormatError):
    """A list that needs one more argument to be read or written: ``argument`` names
    the parameter (``format``, ``signal``); ``message_for`` words the error for
    another spelling of it (the command line's ``--from``, ``--signal``)."""

    def __init__(self, problem: str, argument: str, choices=()):
        self.problem = problem
        self.argument = argument
        self.choices = tuple(choices)
        super().__init__(self.message_for(f"{argument}="))

    def message_for(self, spelled: str) -> str:
        tail = f" (one of {', '.join(self.choices)})" if self.choices else ""
        return f"{self.problem}; pass {spelled}{tail}"
