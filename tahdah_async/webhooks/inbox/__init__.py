"""A durable webhook inbox: verify, store, answer 2xx, then process, retry, park and replay.

Three implementations of one :class:`Inbox` protocol:

- :class:`MemoryInbox`: tests and single-process use; loses everything on a crash.
- :class:`SQLiteInbox`: the embedded default, for the processes of one host.
- :class:`PostgresInbox`: for receivers and workers on several hosts (``tahdah-async[postgres]``).
"""

from ._base import (
    DEFAULT_RETENTION,
    ERROR_LIMIT,
    EVERYTHING,
    KEPT_HEADERS,
    Clock,
    Inbox,
    InboxStats,
    NewDelivery,
    Selection,
    State,
    StoredDelivery,
    utc_now,
)
from ._memory import MemoryInbox
from ._postgres import PostgresInbox
from ._postgres import schema_sql as postgres_schema_sql
from ._sqlite import SQLiteInbox
from ._url import open_inbox

__all__ = [
    "DEFAULT_RETENTION",
    "ERROR_LIMIT",
    "EVERYTHING",
    "KEPT_HEADERS",
    "Clock",
    "Inbox",
    "InboxStats",
    "MemoryInbox",
    "NewDelivery",
    "PostgresInbox",
    "SQLiteInbox",
    "Selection",
    "State",
    "StoredDelivery",
    "open_inbox",
    "postgres_schema_sql",
    "utc_now",
]
