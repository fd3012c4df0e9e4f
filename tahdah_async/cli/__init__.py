"""The ``tahdah`` command (also ``python -m tahdah_async``); needs the ``cli`` extra.

Exit codes, for scripts:

====  ==========================================================================
0     success
1     the API answered an error, some batch items failed, or a webhook was refused
2     bad usage or input: unknown option, missing or malformed file, bad JSON
3     the API refused the token (401 or 403)
4     no answer from the API or the receiver (connection failure or timeout)
130   interrupted
====  ==========================================================================
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

__all__ = ["EXIT_AUTH", "EXIT_FAILED", "EXIT_OK", "EXIT_UNREACHABLE", "EXIT_USAGE", "main"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_UNREACHABLE = 4
EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tahdah`` command with ``argv`` (default: the process arguments)."""
    try:
        from ._commands import run
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        if exc.name not in ("click", "rich"):
            raise
        print(
            "the tahdah command needs its extra dependencies: pip install 'tahdah-async[cli]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return run(list(sys.argv[1:] if argv is None else argv))


def console_main() -> None:
    """The console script's entry point."""
    sys.exit(main())
