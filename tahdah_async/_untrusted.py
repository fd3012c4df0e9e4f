"""Untrusted text: every string the SDK derives from a peer's bytes is made here.

A server (or anything between us and it) controls error bodies, reason phrases, header values
and charsets. Text derived from them ends up in exception messages, log lines and hooks, so
:func:`peer_text` makes it safe in one place:

- **bounded**: only a prefix of :data:`WINDOW` characters is ever looked at, and the result
  is at most ``limit`` characters long;
- **linear**: every step is a single forward scan (``str.find`` loops, no backtracking
  regular expression), so a hostile body cannot hold the event loop;
- **masked**: each secret (the API token) is replaced by ``***`` before anything is clipped,
  and a secret cut in two by the window is dropped, never half shown;
- **printable**: control characters become spaces and runs of white space one space.

:func:`decode` turns bytes into text in the charset a ``Content-Type`` names without ever
raising: an unknown, non-text or dangerous codec (``idna``, ``punycode``, ``undefined``) is
read as UTF-8 (so are Python's ``unicode_escape`` codecs).
"""

from __future__ import annotations

import codecs
import html
import string
from collections.abc import Iterable
from typing import Final

__all__ = ["SNIPPET", "WINDOW", "charset_of", "decode", "mask", "peer_text"]

SNIPPET: Final = 300
"""The default longest result of :func:`peer_text`, in characters."""
WINDOW: Final = 64 * 1024
"""How many characters of a peer's text are ever summarised (the rest is not looked at)."""

_CHARSET_NAME: Final = 64
# Codecs that are text encodings to Python but must not decode peer bytes: idna and punycode
# refuse errors="replace" (a bare UnicodeError) and punycode decodes in quadratic time;
# "undefined" raises on every input; the escape codecs are Python's own (no HTTP charset),
# and unicode-escape warns (DeprecationWarning, an error under -W error) on a bad escape.
_REFUSED_CODECS: Final = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape"}
)
_HIDDEN: Final = ("script", "style")
_MASK: Final = "***"
# str.lower() can change a string's length ("İ" becomes two characters), which would shift
# every index found in the lowered copy; tag names are ASCII, so only ASCII is folded.
_ASCII_LOWER: Final = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def charset_of(content_type: str) -> str | None:
    """Return the ``charset`` parameter of a ``Content-Type`` value, if it names one."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            value = value.strip().strip('"').strip()
            if value:
                return value
    return None


def decode(content: bytes, charset: str | None) -> str:
    """Return ``content`` as text in ``charset`` (UTF-8 when absent or unusable).

    Undecodable bytes are replaced. Never raises: a charset that is unknown, not a text
    encoding, malformed, or one of the codecs unsafe for peer bytes is read as UTF-8.
    """
    codec = _usable_codec(charset) if charset else "utf-8"
    try:
        return content.decode(codec, errors="replace")
    except (LookupError, ValueError, TypeError):  # UnicodeError is a ValueError
        return content.decode("utf-8", errors="replace")


def _usable_codec(charset: str) -> str:
    if len(charset) > _CHARSET_NAME or not charset.isascii() or not charset.isprintable():
        return "utf-8"
    try:
        info = codecs.lookup(charset)
    except (LookupError, ValueError):
        return "utf-8"
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED_CODECS:
        return "utf-8"
    return info.name


def mask(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every occurrence of each non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _MASK)
    return text


def peer_text(
    text: str, *, secrets: Iterable[str] = (), limit: int = SNIPPET, markup: bool = False
) -> str:
    """Return peer-controlled ``text`` made safe for a message or a log line.

    Args:
        text: the text as the peer sent it (decode bytes with :func:`decode` first).
        secrets: strings that must never appear in the result, not even in part at a cut.
        limit: the longest result, in characters (a clipped result ends with ``…``).
        markup: read ``text`` as HTML: its ``<title>`` when it has one, else its text
            without tags, scripts and styles, with character references resolved.

    Returns:
        At most ``limit`` printable characters, white space collapsed, secrets masked,
        computed in time linear in ``min(len(text), WINDOW)``.
    """
    secrets = tuple(s for s in secrets if s)
    truncated = len(text) > WINDOW
    window = _cut(text, WINDOW, secrets) if truncated else text
    if markup:
        window = _unescape(_html_summary(window))
    result = _printable(mask(window, secrets))
    if truncated:
        result = _drop_partial_secret(result, secrets)
    return result if len(result) <= limit else result[: limit - 1] + "…"


def _unescape(text: str) -> str:
    """``text`` with its character references resolved, or as it is if one cannot be.

    ``html.unescape`` turns a numeric reference into an int, so one of over 4,300 digits raises
    ``ValueError``; such a page keeps its references as written.
    """
    try:
        return html.unescape(text)
    except ValueError:
        return text


def _cut(text: str, at: int, secrets: tuple[str, ...]) -> str:
    """``text[:at]``, moved earlier so that no secret straddles the cut."""
    cut = at
    for secret in secrets:
        start = text.find(secret, max(0, at - len(secret) + 1), at + len(secret) - 1)
        if 0 <= start < cut:
            cut = start
    return text[:cut]


def _drop_partial_secret(text: str, secrets: tuple[str, ...]) -> str:
    # A secret hidden behind markup (character references, tags) can be cut by the window
    # before it could be recognised; whatever start of it survived is dropped.
    for secret in secrets:
        for size in range(min(len(secret) - 1, len(text)), 0, -1):
            if text.endswith(secret[:size]):
                text = text[:-size].rstrip()
                break
    return text


def _printable(text: str) -> str:
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _html_summary(page: str) -> str:
    """The ``<title>`` of ``page`` when it has one, else its text without tags.

    One forward pass of ``str.find`` calls: each search starts where the last one ended,
    or gives up for good on a construct that has no end (an unclosed ``<title``, ``<script``
    or ``<``), so the work is linear however many unclosed constructs the page holds.
    """
    low = page.translate(_ASCII_LOWER)
    start = low.find("<title")
    if start >= 0:
        opened = low.find(">", start)
        if opened >= 0:
            closed = low.find("</title", opened)
            if closed >= 0:
                return page[opened + 1 : closed]
    parts: list[str] = []
    pos = 0
    unclosed: set[str] = set()
    while True:
        lt = page.find("<", pos)
        if lt < 0:
            parts.append(page[pos:])
            break
        parts.append(page[pos:lt])
        name = _hidden_tag(low, lt)
        if name is not None and name not in unclosed:
            end = _end_of_hidden(low, name, lt + 1 + len(name))
            if end >= 0:
                parts.append(" ")
                pos = end
                continue
            unclosed.add(name)  # no later <name closes either
        if page.startswith(">", lt + 1):  # "<>" is no tag
            parts.append("<")
            pos = lt + 1
            continue
        gt = page.find(">", lt + 1)
        if gt < 0:  # no tag ends after here: the rest is text
            parts.append(page[lt:])
            break
        parts.append(" ")
        pos = gt + 1
    return "".join(parts)


def _hidden_tag(low: str, lt: int) -> str | None:
    for name in _HIDDEN:
        after = lt + 1 + len(name)
        if low.startswith(name, lt + 1) and (
            after == len(low) or not (low[after].isalnum() or low[after] == "_")
        ):
            return name
    return None


def _end_of_hidden(low: str, name: str, pos: int) -> int:
    """The index after the ``</name>`` closing a hidden element, or -1 when none does."""
    closing = "</" + name
    while True:
        found = low.find(closing, pos)
        if found < 0:
            return -1
        after = found + len(closing)
        while after < len(low) and low[after].isspace():
            after += 1
        if after < len(low) and low[after] == ">":
            return after + 1
        pos = found + 1
