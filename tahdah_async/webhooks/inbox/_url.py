"""Inbox URLs: one string names an inbox, for the command line and for configuration.

========================================  ==============================================
``memory:``                               :class:`MemoryInbox` (this process only)
``sqlite:///relative/path.db``            :class:`SQLiteInbox` on a path relative to the
                                          current directory (three slashes)
``sqlite:////absolute/path.db``           :class:`SQLiteInbox` on an absolute path (four)
``postgresql://user:pw@host:5432/db``     :class:`PostgresInbox` (also ``postgres://``);
                                          ``?schema=NAME`` picks the schema
========================================  ==============================================

The SQLite forms follow SQLAlchemy's. Messages about a URL never show its password.
"""

from __future__ import annotations

import urllib.parse
from typing import Final

from ._base import Inbox

__all__ = ["ACCEPTED_FORMS", "open_inbox", "redact_url", "url_secrets"]

ACCEPTED_FORMS: Final = (
    "memory:, sqlite:///relative/path.db, sqlite:////absolute/path.db, "
    "or postgresql://user:password@host:5432/database[?schema=NAME]"
)
"""The inbox URL forms, as an error message lists them."""

_POSTGRES: Final = ("postgresql", "postgres")
_SQLITE_PREFIX: Final = "sqlite:///"
_MASK: Final = "***"
_PASSWORD_PARAMS: Final = frozenset({"password", "passfile"})


def open_inbox(url: str) -> Inbox:
    """Return the inbox a URL names, not yet opened (use ``async with`` or ``open()``).

    Args:
        url: ``memory:``, ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``,
            or ``postgresql://user:password@host:port/database`` (``postgres://`` too, with
            the other parameters asyncpg reads from a DSN; ``?schema=NAME`` is the schema
            of the inbox's table and is not passed on to the server).

    Raises:
        ValueError: the URL is none of these forms (the message never shows a password).
        ImportError: a PostgreSQL URL without asyncpg installed (the ``postgres`` extra).
    """
    if not isinstance(url, str):
        raise TypeError("an inbox URL is a str")
    scheme = url.partition(":")[0].lower()
    if url in ("memory:", "memory://"):
        from ._memory import MemoryInbox

        return MemoryInbox()
    if scheme == "sqlite":
        return _sqlite(url)
    if scheme in _POSTGRES:
        return _postgres(url)
    raise ValueError(f"{_describe(url)} is not an inbox URL: use {ACCEPTED_FORMS}")


def redact_url(url: str) -> str:
    """Return ``url`` with its password (in the authority or the query) shown as ``***``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return _describe(url)
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at and ":" in userinfo:
        netloc = f"{userinfo.partition(':')[0]}:{_MASK}@{host}"
    query = parts.query
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if any(name in _PASSWORD_PARAMS for name, _ in pairs):
        query = urllib.parse.urlencode(
            [(n, _MASK if n in _PASSWORD_PARAMS else v) for n, v in pairs], safe="*"
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    # Assembled by hand: urlunsplit drops the "//" of an empty authority (postgresql:///db).
    shown = f"{parts.scheme}://{netloc}{parts.path}"
    return f"{shown}?{query}" if query else shown


def url_secrets(url: str) -> tuple[str, ...]:
    """Return the passwords in ``url``, to mask in messages that might quote them."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return (url,)
    found: list[str] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        password = userinfo.partition(":")[2]
        found += [password, urllib.parse.unquote(password)]
    for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True):
        if name in _PASSWORD_PARAMS:
            found.append(value)
    return tuple(dict.fromkeys(s for s in found if s))


def _sqlite(url: str) -> Inbox:
    if not url.startswith(_SQLITE_PREFIX):
        raise ValueError(
            "an SQLite inbox URL is sqlite:///relative/path.db (three slashes) or "
            "sqlite:////absolute/path.db (four); it names no host"
        )
    path = url.removeprefix(_SQLITE_PREFIX)
    if "?" in path or "#" in path:
        raise ValueError("an SQLite inbox URL takes no query or fragment")
    path = urllib.parse.unquote(path)
    if not path or path.endswith("/"):
        raise ValueError("the SQLite inbox URL names no file: sqlite:///path/to/inbox.db")
    if path == ":memory:":
        raise ValueError(
            "an in-memory SQLite database is private to one connection: use memory: instead"
        )
    from ._sqlite import SQLiteInbox

    return SQLiteInbox(path)


def _postgres(url: str) -> Inbox:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{redact_url(url)} is not a valid PostgreSQL URL") from None
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in pairs if name == "schema"]
    if len(schemas) > 1:
        raise ValueError("give the inbox URL's ?schema= once")
    if schemas and not schemas[0]:
        raise ValueError("the inbox URL's ?schema= is empty")
    dsn = url
    if schemas:
        query = urllib.parse.urlencode([(n, v) for n, v in pairs if n != "schema"])
        dsn = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
    try:
        from ._postgres import PostgresInbox
    except ImportError as exc:
        if exc.name != "asyncpg":
            raise
        raise ImportError(
            "a PostgreSQL inbox needs asyncpg: pip install 'tahdah-async[postgres]'",
            name="asyncpg",
        ) from None
    if schemas:
        return PostgresInbox(dsn, schema=schemas[0])
    return PostgresInbox(dsn)


def _describe(url: str) -> str:
    """What an error may say about an unrecognised URL: its scheme, never the rest."""
    scheme, colon, _ = url.partition(":")
    if colon and scheme.isascii() and scheme.isidentifier() and len(scheme) <= 32:
        return f"a {scheme}: URL"
    return "the text given"
