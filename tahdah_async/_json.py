"""JSON decoding: orjson's speed, the standard library's answers.

``loads`` uses orjson where it is known to give the same values as ``json.loads`` and the
standard library everywhere else, so results and errors are exactly ``json.loads``'s, about
twice as fast for the large lists the API returns. orjson refuses some documents
``json.loads`` accepts (``NaN``, lone surrogate escapes, UTF-16): those fall back. It would
also turn integers beyond 64 bits into floats, silently: a document with a run of 19 or more
digits (anywhere, even in a string) is left to the standard library, which keeps them exact.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["has_long_digit_run", "loads"]

# Every ASCII digit becomes "0", every other byte a space: a long run of "0" is a long number.
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_NOT_DIGITS = bytes(byte for byte in range(256) if not 0x30 <= byte <= 0x39)
_RUN = 19
_LONG_NUMBER = b"0" * _RUN
# Every run of 19 digits holds a byte at a multiple of 18: only around sampled digits can
# there be one. Past about one sampled digit per KiB (a list of records with ids and dates),
# looking around each costs more than one scan of the whole document.
_STRIDE = _RUN - 1
_DENSE = 1024


def loads(data: bytes | str) -> Any:
    """Decode JSON exactly as ``json.loads`` would.

    Raises:
        ValueError: not JSON (``json.JSONDecodeError``).
        RecursionError: nested too deeply.
    """
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if has_long_digit_run(raw):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def has_long_digit_run(raw: bytes) -> bool:
    """Return whether ``raw`` holds 19 or more ASCII digits in a row.

    Linear in the sampled bytes for a document of mostly text (a long string costs a
    eighteenth of a full scan), and one full scan for a document dense with digits.
    """
    sample = raw[::_STRIDE]
    hits = len(sample.translate(None, _NOT_DIGITS))  # deleting is cheaper than counting
    if not hits:
        return False
    sample = sample.translate(_DIGITS)
    if hits * _DENSE > len(raw):
        return _LONG_NUMBER in raw.translate(_DIGITS)
    at = sample.find(b"0")
    while at != -1:
        middle = at * _STRIDE
        window = raw[max(0, middle - _STRIDE) : middle + _RUN]
        if _LONG_NUMBER in window.translate(_DIGITS):
            return True
        at = sample.find(b"0", at + 1)
    return False
