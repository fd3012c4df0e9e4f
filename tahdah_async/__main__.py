"""``python -m tahdah_async``: the ``tahdah`` command."""

from .cli import console_main

console_main()
