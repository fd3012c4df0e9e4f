"""Batch reports: a row per item (item, outcome, id, error), as CSV or JSON lines.

Rows are written and flushed as outcomes arrive, so the report of an interrupted run says
exactly what was done; :func:`read_report` gives it back, and :func:`resume_rows` turns a
job's ``resume`` argument into the rows it resumes from.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeAlias

import attrs

from ._runner import ItemResult

__all__ = [
    "DONE_OUTCOMES",
    "ReportFormat",
    "ReportRow",
    "ReportWriter",
    "read_report",
    "resume_rows",
]

ReportFormat: TypeAlias = Literal["csv", "jsonl"]
FIELDS = ("item", "outcome", "id", "error")
DONE_OUTCOMES = frozenset({"ok", "skipped"})
"""Outcomes that mean an item needs nothing more."""


@attrs.frozen
class ReportRow:
    """One line of a report."""

    item: str
    outcome: str
    id: str = ""
    """What the item produced (a new candidate's id, an idempotency key...), if anything."""
    error: str = ""

    @property
    def done(self) -> bool:
        return self.outcome in DONE_OUTCOMES


def report_format(path: str | os.PathLike[str]) -> ReportFormat:
    """The format a report path implies: ``.jsonl``/``.ndjson`` for JSON lines, else CSV."""
    suffix = Path(path).suffix.lower()
    return "jsonl" if suffix in (".jsonl", ".ndjson", ".json") else "csv"


class ReportWriter:
    """Appends a row per item outcome to a file, flushing each one.

    Use it as a ``recorder`` of :func:`run_batch`, or call :meth:`write` directly::

        with ReportWriter("report.csv") as report:
            await run_batch(items, work, recorder=report)

    Args:
        path: the report file; appended to when it exists (so a resumed run extends it).
        format: ``"csv"`` or ``"jsonl"`` (default: from the file name).
        id_of: what to write as an item's id, from its :class:`ItemResult` (default: the
            value itself when it is a str or int, else its ``id`` attribute).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        format: ReportFormat | None = None,
        id_of: Callable[[ItemResult[Any, Any]], object] | None = None,
    ) -> None:
        self.path = Path(path)
        self.format = format or report_format(path)
        if self.format not in ("csv", "jsonl"):
            raise ValueError(f"unknown report format {self.format!r}: use 'csv' or 'jsonl'")
        self._id_of = id_of or _default_id
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._file: IO[str] = self.path.open("a", encoding="utf-8", newline="")
        self._csv = csv.writer(self._file) if self.format == "csv" else None
        if self._csv is not None and fresh:
            self._csv.writerow(FIELDS)
            self._file.flush()

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def record(self, result: ItemResult[Any, Any]) -> None:
        """Write an :class:`ItemResult` (a :class:`Recorder` for :func:`run_batch`)."""
        ident = _text(self._id_of(result))
        error = "" if result.error is None else describe(result.error)
        self.write(ReportRow(result.key, result.outcome, ident, error))

    def write(self, row: ReportRow) -> None:
        """Write one row and flush it."""
        values = (row.item, row.outcome, row.id, row.error)
        if self._csv is not None:
            self._csv.writerow(values)
        else:
            self._file.write(json.dumps(dict(zip(FIELDS, values, strict=True))) + "\n")
        self._file.flush()


def read_report(
    path: str | os.PathLike[str], *, format: ReportFormat | None = None
) -> dict[str, ReportRow]:
    """Read a report: the last row of each item, by item key.

    Args:
        format: ``"csv"`` or ``"jsonl"`` (default: from the file name, as when written).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a line that is not a report row (with its line number).
    """
    text = Path(path).read_text(encoding="utf-8")
    rows: dict[str, ReportRow] = {}
    if (format or report_format(path)) == "jsonl":
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                row = _row(_json_line(line, path, number), path, number)
                rows[row.item] = row
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if reader.fieldnames is not None and list(reader.fieldnames) != list(FIELDS):
        raise ValueError(f"{path}: not a batch report (its header must be {','.join(FIELDS)})")
    for record in reader:
        if None in record:  # more fields than the header
            raise ValueError(f"{path}:{reader.line_num}: not a report row (too many fields)")
        row = _row(record, path, reader.line_num)
        rows[row.item] = row
    return rows


def resume_rows(
    resume: Mapping[str, ReportRow] | str | os.PathLike[str] | bool | None,
    *,
    report: str | os.PathLike[str] | None = None,
) -> Mapping[str, ReportRow]:
    """The rows a batch job resumes from, given its ``resume`` and ``report`` arguments.

    A missing report file is a first run, with nothing to resume from, so the same call
    serves the first run and every rerun::

        rows = resume_rows(True, report="import.csv")   # {} until import.csv exists

    Args:
        resume: ``True`` for the ``report`` file, a path for that report file, the rows
            themselves (as :func:`read_report` gives them), or ``None``/``False`` to start
            afresh.
        report: the job's report file, which ``resume=True`` reads.

    Returns:
        The last row of each item by its key; empty when there is nothing to resume from.

    Raises:
        ValueError: ``resume=True`` without ``report``, an empty path, or an existing file
            that is not a report (with its line number).
        TypeError: ``resume`` of another type, or a mapping holding other than
            :class:`ReportRow` values.
        OSError: a path that cannot be read as a file, such as a directory.
    """
    if resume is None or resume is False:
        return {}
    if resume is True:
        if report is None:
            raise ValueError("resume=True resumes from the report file: pass report= too")
        return _read_if_there(report)
    if isinstance(resume, str | os.PathLike):
        return _read_if_there(resume)
    if isinstance(resume, Mapping):
        wrong = next((row for row in resume.values() if not isinstance(row, ReportRow)), None)
        if wrong is not None:
            raise TypeError(
                f"resume maps item keys to ReportRow values, not {type(wrong).__name__}"
            )
        return resume
    raise TypeError(
        "resume must be True, a report path, a mapping of ReportRow or None, "
        f"not {type(resume).__name__}"
    )


def _read_if_there(path: str | os.PathLike[str]) -> dict[str, ReportRow]:
    if not os.fspath(path):
        raise ValueError("resume: the report path is empty")
    try:
        return read_report(path)
    except FileNotFoundError:
        return {}  # a first run: no report yet


def done_keys(rows: Mapping[str, ReportRow]) -> set[str]:
    """The items a report says need nothing more."""
    return {key for key, row in rows.items() if row.done}


def describe(error: BaseException) -> str:
    """One line naming an error: its class and message."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _default_id(result: ItemResult[Any, Any]) -> object:
    value = result.value
    if value is None or isinstance(value, str | int):
        return value
    return getattr(value, "id", "")


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _json_line(line: str, path: object, number: int) -> Any:
    try:
        return json.loads(line)
    except ValueError:
        raise ValueError(f"{path}:{number}: not a JSON line") from None


def _row(record: Any, path: object, number: int) -> ReportRow:
    if (
        not isinstance(record, dict)
        or not all(isinstance(record.get(name), str) for name in FIELDS)
        or not record["item"]
        or not record["outcome"]
    ):
        raise ValueError(f"{path}:{number}: not a report row (want {', '.join(FIELDS)})")
    return ReportRow(record["item"], record["outcome"], record["id"], record["error"])
