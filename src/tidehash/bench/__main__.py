"""``python -m tidehash.bench <command> [options]``; ``<command> --help`` for its options."""

from __future__ import annotations

import importlib
import sys

from . import COMMANDS


def _usage() -> str:
    lines = ["usage: python -m tidehash.bench <command> [options]", "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    lines += ["", "python -m tidehash.bench <command> --help  shows the options of a command"]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in COMMANDS:  # each command is the module of its name, with main(argv)
        module = importlib.import_module(f".{command}", __package__)
        return module.main(rest)
    print(f"unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
