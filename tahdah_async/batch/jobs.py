"""The common batch jobs: import learners onto an experience, and top up many balances.

Both write a report as they go and resume from one: an item the report says is done is
skipped, a learner already created is only registered, and a credit change whose call may
have been sent is sent again with the same idempotency key, so nothing is applied twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._converter import StructureError, structure, to_camel
from ..errors import AuthenticationError, ConflictError, PermissionDeniedError
from ..models import Candidate, EventTemplateCredit, LearnerRegistration
from ._report import ReportRow, ReportWriter, describe, resume_rows
from ._runner import (
    AlreadyDone,
    BatchError,
    BatchResult,
    Gate,
    ItemResult,
    Progress,
    run_batch,
    run_chunked,
)
from ._throttle import Throttle

if TYPE_CHECKING:
    from .._client import TahdahClient

__all__ = [
    "CreditChange",
    "ImportedLearner",
    "Learner",
    "LearnerFileError",
    "add_credits",
    "import_learners",
    "read_learners",
]


STOP_ON: tuple[type[Exception], ...] = (AuthenticationError,)
"""Errors that stop a job at once: a refused API key would refuse every later call too."""
IMPORT_STOP_ON: tuple[type[Exception], ...] = (AuthenticationError, PermissionDeniedError)
"""An import acts for one legal entity: a 403 there would refuse every learner too."""


# -- learners ------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Learner:
    """A learner to import: the candidate to create and how to register it."""

    candidate: Candidate
    behavior: int | None = None
    """The registration behaviour code (``None``: the job's default)."""
    registration_date: dt.date | None = None
    """The registration date (``None``: the job's default, today)."""
    line: int | None = None
    """Where the learner came from in a file, for messages."""

    @property
    def key(self) -> str:
        """The learner's key in reports: its external id, else its email, else its line."""
        for value in (self.candidate.external_id, self.candidate.email):
            if isinstance(value, str) and value.strip():
                return value.strip()
        if self.line is not None:
            return f"line {self.line}"
        raise ValueError("a learner needs an external_id or an email to be resumable")


@attrs.frozen
class ImportedLearner:
    """An imported learner: its candidate id and its registration on the experience."""

    candidate_id: int | str
    candidate_experience_id: str


class LearnerFileError(ValueError):
    """A learners file that cannot be imported; the message has a ``path:line: problem``
    line for each bad line (the first 20, then a count of the rest).

    Args:
        message: the message.
        path: the file.
        problems: every bad line, as ``(line, problem)`` pairs; ``line`` 1 is the header.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        problems: Sequence[tuple[int, str]] = (),
    ) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        """The file, when the error is about one."""
        self.problems = tuple(problems)
        """Every bad line, as ``(line, problem)`` pairs, in file order (none are left out)."""


LEARNER_PROBLEMS_SHOWN: Final = 20
"""How many bad lines a :class:`LearnerFileError` message lists before counting the rest."""

_REGISTRATION_COLUMNS = ("behavior", "registration_date")
_CANDIDATE_COLUMNS = tuple(
    field.name for field in attrs.fields(Candidate) if field.name not in ("id", "extra", "tags")
)
_NAME_COLUMNS = ("first_name", "last_name")
"""The columns a learner cannot do without: the API refuses a candidate without either."""
_SHOWN_VALUE = 60  # the most characters of a bad value quoted in a message


def read_learners(path: str | os.PathLike[str]) -> list[Learner]:
    """Read learners from a CSV file with a header row.

    Columns (snake_case or the API's camelCase): ``first_name``, ``last_name``, ``email``,
    ``external_id``, ``date_of_birth`` for the candidate, and optionally ``behavior`` and
    ``registration_date`` for the registration. Every learner needs a ``first_name`` and a
    ``last_name`` (the API refuses a candidate without them), and an ``external_id`` or an
    ``email``, unique in the file, to be its key in reports. An email must have the shape of
    one: a single ``@`` between a name and a domain, and no spaces.

    The whole file is read before anything is refused, so one error names every bad line.

    Raises:
        FileNotFoundError: no such file.
        LearnerFileError: an unknown, repeated or missing column (line 1), or rows with
            malformed fields, bad values, missing names or duplicate learners: a
            ``path:line: problem`` line for each bad line, and all of them in ``problems``.
    """
    with Path(path).open(encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file)
        header = next(reader, None)
        if header is None:
            raise LearnerFileError(f"{path}: the file is empty (it needs a header row)", path=path)
        columns = [_snake(name.strip()) for name in header]
        problem = _header_problem(header, columns)
        if problem is not None:
            # Every row would be wrong the same way: the header is the one bad line.
            raise _file_error(path, [(1, problem)])
        learners: list[Learner] = []
        problems: list[tuple[int, str]] = []
        seen: dict[str, int] = {}
        for values in reader:
            line = reader.line_num
            if not any(value.strip() for value in values):
                continue
            if len(values) != len(columns):
                problems.append((line, f"{len(values)} fields, but the header has {len(columns)}"))
                continue
            row = {c: v.strip() for c, v in zip(columns, values, strict=True) if v.strip()}
            learner, wrong = _learner(row, line)
            key = row.get("external_id") or row.get("email")
            if key is not None:
                if key in seen:
                    wrong.append(f"learner {key!r} is already on line {seen[key]}")
                else:
                    seen[key] = line
            if wrong:
                problems.append((line, "; ".join(wrong)))
            elif learner is not None:
                learners.append(learner)
    if problems:
        raise _file_error(path, problems)
    return learners


_KNOWN_COLUMNS = _CANDIDATE_COLUMNS + _REGISTRATION_COLUMNS


def _header_problem(header: list[str], columns: list[str]) -> str | None:
    """What is wrong with the header row, if anything (every fault of it, in one text)."""
    wrong = []
    unknown = [h for h, c in zip(header, columns, strict=True) if c not in _KNOWN_COLUMNS]
    if unknown:
        listed = ", ".join(_quoted(name) for name in unknown)
        plural = "s" if len(unknown) > 1 else ""
        wrong.append(f"unknown column{plural} {listed} (known: {', '.join(_KNOWN_COLUMNS)})")
    twice = sorted({c for c in columns if columns.count(c) > 1})
    for column in twice:
        spelled = [h.strip() for h, c in zip(header, columns, strict=True) if c == column]
        wrong.append(f"the column {column} appears twice (as {', '.join(map(_quoted, spelled))})")
    missing = [name for name in _NAME_COLUMNS if name not in columns]
    if missing:
        wrong.append(
            f"no {' and no '.join(missing)} column (every learner needs a first_name "
            "and a last_name)"
        )
    return "; ".join(wrong) or None


def _file_error(path: str | os.PathLike[str], problems: list[tuple[int, str]]) -> LearnerFileError:
    lines = [f"{path}:{line}: {problem}" for line, problem in problems[:LEARNER_PROBLEMS_SHOWN]]
    more = len(problems) - LEARNER_PROBLEMS_SHOWN
    if more > 0:
        lines.append(f"... and {more:,} more bad line{'s' if more > 1 else ''}")
    return LearnerFileError("\n".join(lines), path=path, problems=problems)


def _learner(row: dict[str, str], line: int) -> tuple[Learner | None, list[str]]:
    """The learner of one row, or ``None``; and every problem of the row."""
    wrong: list[str] = []
    missing = [name for name in _NAME_COLUMNS if name not in row]
    if missing:
        wrong.append(f"the learner needs a {' and a '.join(missing)}")
    if "external_id" not in row and "email" not in row:
        wrong.append("the learner needs an external_id or an email")
    if "email" in row and not _looks_like_email(row["email"]):
        wrong.append(
            f"email {_quoted(row['email'])} is not an email address "
            "(one @ between a name and a domain, no spaces)"
        )
    fields = {name: value for name, value in row.items() if name in _CANDIDATE_COLUMNS}
    candidate = None
    try:
        candidate = structure({to_camel(name): value for name, value in fields.items()}, Candidate)
    except StructureError as exc:
        for found in exc.problems:
            column = _snake(found.wire_path)
            shown = f" ({_quoted(row[column])})" if column in row else ""
            wrong.append(f"{column or 'the row'}: {found.message}{shown}")
    behavior = date = None
    if "behavior" in row:
        if re.fullmatch(r"-?[0-9]+", row["behavior"]):
            behavior = int(row["behavior"])
        else:
            wrong.append(f"behavior must be an integer, got {_quoted(row['behavior'])}")
    if "registration_date" in row:
        try:
            date = dt.date.fromisoformat(row["registration_date"])
        except ValueError:
            wrong.append(
                "registration_date must be a date (YYYY-MM-DD), "
                f"got {_quoted(row['registration_date'])}"
            )
    if wrong or candidate is None:
        return None, wrong
    learner = Learner(candidate=candidate, behavior=behavior, registration_date=date, line=line)
    return learner, wrong


def _looks_like_email(text: str) -> bool:
    """A shape check only (one ``@``, a name and a domain, no spaces): the API judges the rest."""
    name, at, domain = text.partition("@")
    return bool(at and name and domain) and "@" not in domain and not any(c.isspace() for c in text)


def _quoted(text: str) -> str:
    """``text`` quoted for a message: bounded, and with control characters escaped (repr)."""
    if len(text) > _SHOWN_VALUE:
        text = text[: _SHOWN_VALUE - 3] + "..."
    return repr(text)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


async def import_learners(
    client: TahdahClient,
    legal_entity_id: int,
    experience_id: int,
    learners: Iterable[Learner | Candidate],
    *,
    behavior: int | None = None,
    registration_date: dt.date | None = None,
    concurrency: Gate = 8,
    chunk_size: int = 100,
    report: str | os.PathLike[str] | None = None,
    resume: Mapping[str, ReportRow] | str | os.PathLike[str] | bool | None = None,
    progress: Callable[[Progress], object] | None = None,
    fail_fast: bool = False,
) -> BatchResult[Learner, ImportedLearner]:
    """Create each learner as a candidate, then register them on an experience in chunks.

    Args:
        client: the client (a :class:`Throttle` given as ``concurrency`` also hears the
            429s it retries).
        legal_entity_id: the legal entity the experience belongs to.
        experience_id: the experience to register on.
        learners: :class:`Learner` items (see :func:`read_learners`) or candidates.
        behavior: the registration behaviour code for learners without their own.
        registration_date: the registration date for learners without their own (today).
        concurrency: the most calls at once (an int, a limiter or a :class:`Throttle`).
        chunk_size: learners per register call.
        report: a report file (CSV, or JSON lines for ``.jsonl``) written as learners finish:
            ``ok`` with the candidate id, ``created`` when only the candidate exists yet,
            ``failed`` with the error.
        resume: what to resume from: ``True`` for the ``report`` file, the path of an
            earlier run's report, or its rows (from :func:`read_report`). Done learners are
            skipped and created ones only registered. A report file that does not exist yet
            is a first run, so ``report="import.csv", resume=True`` serves every run.
        progress: called with a :class:`Progress` of learners after each outcome.
        fail_fast: stop at the first failure (a key refused with 401 or 403 always stops
            the job).

    Raises:
        ValueError: a learner without a behaviour code when ``behavior`` is not given, two
            learners with the same key, ``resume=True`` without ``report``, or a ``resume``
            file that is not a report. Nothing is sent then.
        TypeError: a ``resume`` of another type. Nothing is sent then.
        OSError: a ``resume`` path that cannot be read, such as a directory.
    """
    items = [item if isinstance(item, Learner) else Learner(candidate=item) for item in learners]
    keys: set[str] = set()
    for item in items:
        if item.key in keys:
            raise ValueError(f"two learners have the key {item.key!r}")
        keys.add(item.key)
        if item.behavior is None and behavior is None:
            raise ValueError(f"learner {item.key!r} has no behavior and no default was given")
    rows = resume_rows(resume, report=report)
    date = registration_date or dt.date.today()
    client = _throttled(client, concurrency)
    writer = _writer(report)
    tally = Progress(len(items))
    outcomes: dict[str, ItemResult[Learner, ImportedLearner]] = {}

    def settle(result: ItemResult[Learner, ImportedLearner], ident: object = "") -> None:
        nonlocal tally
        outcomes[result.key] = result
        error = "" if result.error is None else describe(result.error)
        writer.write(ReportRow(result.key, result.outcome, _str(ident), error))
        if result.outcome != "cancelled":
            tally = attrs.evolve(tally, **{result.outcome: getattr(tally, result.outcome) + 1})
            if progress is not None:
                progress(tally)

    try:
        existing: dict[str, int | str] = {}
        resumed: set[str] = set()  # created by an earlier run, perhaps registered too
        to_create: list[Learner] = []
        for item in items:
            row = rows.get(item.key)
            if row is not None and row.done:
                settle(ItemResult(item.key, item, "skipped"), row.id)
            elif row is not None and row.id:
                existing[item.key] = _int_or_str(row.id)
                resumed.add(item.key)
            else:
                to_create.append(item)

        async def create(item: Learner) -> int | str:
            made = await client.candidates.create(item.candidate)
            if not isinstance(made.id, int | str):
                raise BatchError("the API returned no id for the new candidate")
            writer.write(ReportRow(item.key, "created", _str(made.id)))
            return made.id

        class Created:
            """Phase 1 outcomes, as they happen: a created learner waits for phase 2."""

            def record(self, result: ItemResult[Learner, int | str]) -> None:
                if result.outcome == "ok":
                    assert result.value is not None
                    existing[result.key] = result.value
                else:
                    settle(ItemResult(result.key, result.item, result.outcome, error=result.error))

        created = await run_batch(
            to_create,
            create,
            concurrency=concurrency,
            key=_key,
            fail_fast=fail_fast,
            stop_on=IMPORT_STOP_ON,
            recorder=Created(),
        )
        stopped_by = created.stopped_by

        def registration(item: Learner) -> LearnerRegistration:
            code = item.behavior if item.behavior is not None else behavior
            assert code is not None
            return LearnerRegistration(
                candidate_id=int(existing[item.key]),
                behavior=code,
                registration_date=item.registration_date or date,
            )

        async def register(chunk: list[Learner]) -> list[ImportedLearner]:
            made = await client.learning_experiences.register_learners(
                legal_entity_id, experience_id, [registration(item) for item in chunk]
            )
            by_candidate = {str(result.candidate_id): result for result in made}
            missing = [item.key for item in chunk if str(existing[item.key]) not in by_candidate]
            if missing:
                raise BatchError(f"the response has no registration for {', '.join(missing)}")
            return [
                ImportedLearner(
                    existing[item.key],
                    by_candidate[str(existing[item.key])].candidate_experience_id,
                )
                for item in chunk
            ]

        async def register_again(item: Learner) -> ImportedLearner:
            # An interrupted run may have registered it before its report said so.
            try:
                (made,) = await register([item])
            except ConflictError:
                raise AlreadyDone(ImportedLearner(existing[item.key], "")) from None
            return made

        class Registered:
            """Phase 2 outcomes, reported as they happen."""

            def record(self, result: ItemResult[Learner, ImportedLearner]) -> None:
                settle(result, existing[result.key])

        ready = [item for item in items if item.key in existing]
        if stopped_by is None:
            # Learners an earlier run created go one by one, so one already registered (409)
            # is told apart from the rest; the new ones go in chunks.
            again = await run_batch(
                [item for item in ready if item.key in resumed],
                register_again,
                concurrency=concurrency,
                key=_key,
                fail_fast=fail_fast,
                stop_on=IMPORT_STOP_ON,
                recorder=Registered(),
            )
            stopped_by = again.stopped_by
        if stopped_by is None:
            registered = await run_chunked(
                [item for item in ready if item.key not in resumed],
                register,
                chunk_size=chunk_size,
                concurrency=concurrency,
                key=_key,
                fail_fast=fail_fast,
                stop_on=IMPORT_STOP_ON,
                recorder=Registered(),
            )
            stopped_by = registered.stopped_by
        for item in ready:
            if item.key not in outcomes:
                settle(ItemResult(item.key, item, "cancelled"), existing[item.key])
    finally:
        writer.close()
    done = tuple(outcomes[item.key] for item in items if item.key in outcomes)
    return BatchResult(done, stopped_by)


def _key(item: Learner) -> str:
    return item.key


# -- credits -------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class CreditChange:
    """Credit changes for one legal entity, made in one call."""

    legal_entity_id: int
    credits: Sequence[EventTemplateCredit | Mapping[str, Any]]
    order_number: str | None = None
    idempotency_key: str | None = None
    """The change's key (default: generated, or the one an interrupted run reported)."""
    key: str | None = None
    """The change's key in reports (default: the legal entity id)."""

    @property
    def report_key(self) -> str:
        return self.key if self.key is not None else str(self.legal_entity_id)


async def add_credits(
    client: TahdahClient,
    changes: Iterable[CreditChange],
    *,
    concurrency: Gate = 8,
    report: str | os.PathLike[str] | None = None,
    resume: Mapping[str, ReportRow] | str | os.PathLike[str] | bool | None = None,
    progress: Callable[[Progress], object] | None = None,
    fail_fast: bool = False,
) -> BatchResult[CreditChange, str]:
    """Add (or remove) event credits across many legal entities, one call each.

    Before each call the report gets a ``started`` row with the idempotency key, and after
    it an ``ok`` or ``failed`` row. Resuming from it skips the changes done and sends the
    others with the key reported for them, so the server refuses any change an interrupted
    run did apply instead of applying it twice; such a change is ``skipped`` (the reference
    documents a reused key as an error, and a 409 for a reported key is read as that).

    Args:
        client: the client (a :class:`Throttle` given as ``concurrency`` also hears the
            429s it retries).
        changes: the changes, one call each.
        concurrency: the most calls at once (an int, a limiter or a :class:`Throttle`).
        report: a report file (CSV, or JSON lines for ``.jsonl``) written as changes go:
            ``started`` and then ``ok`` with the idempotency key, or ``failed`` with the error.
        resume: what to resume from: ``True`` for the ``report`` file, the path of an
            earlier run's report, or its rows (from :func:`read_report`). A report file that
            does not exist yet is a first run, so ``report="credits.csv", resume=True`` serves
            every run.
        progress: called with a :class:`Progress` of changes after each outcome.
        fail_fast: stop at the first failure (a key refused with 401 always stops the job).

    Returns:
        Each change's outcome; an ``ok`` value is the idempotency key sent.

    Raises:
        ValueError: two changes with the same report key, ``resume=True`` without
            ``report``, or a ``resume`` file that is not a report. Nothing is sent then.
        TypeError: a ``resume`` of another type. Nothing is sent then.
        OSError: a ``resume`` path that cannot be read, such as a directory.
    """
    items = list(changes)
    seen: set[str] = set()
    for item in items:
        if item.report_key in seen:
            raise ValueError(f"two credit changes have the key {item.report_key!r}")
        seen.add(item.report_key)
    rows = resume_rows(resume, report=report)
    client = _throttled(client, concurrency)
    sent: dict[str, str] = {}  # report key -> idempotency key
    writer = _writer(report, id_of=lambda result: sent.get(result.key, ""))
    with writer:

        async def add(item: CreditChange) -> str:
            row = rows.get(item.report_key)
            reported = row.id if row is not None and row.id else None
            key = sent[item.report_key] = item.idempotency_key or reported or str(uuid.uuid4())
            writer.write(ReportRow(item.report_key, "started", key))
            try:
                return await client.event_credits.add(
                    item.legal_entity_id,
                    item.credits,
                    order_number=item.order_number,
                    idempotency_key=key,
                )
            except ConflictError:
                if key != reported:
                    raise
                # The key an interrupted run reported was used: that run applied the change.
                raise AlreadyDone(key) from None

        return await run_batch(
            items,
            add,
            concurrency=concurrency,
            key=lambda item: item.report_key,
            done={key for key, row in rows.items() if row.done},
            fail_fast=fail_fast,
            stop_on=STOP_ON,
            progress=progress,
            recorder=writer,
        )


# -- shared --------------------------------------------------------------------------------


class _NoReport:
    """Stands in for a :class:`ReportWriter` when no report was asked for."""

    def __enter__(self) -> _NoReport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def close(self) -> None:
        return None

    def write(self, row: ReportRow) -> None:
        return None

    def record(self, result: ItemResult[Any, Any]) -> None:
        return None


def _writer(report: str | os.PathLike[str] | None, **options: Any) -> ReportWriter | _NoReport:
    return ReportWriter(report, **options) if report is not None else _NoReport()


def _throttled(client: TahdahClient, concurrency: Gate) -> TahdahClient:
    if isinstance(concurrency, Throttle):
        return client.with_options(on_retry=concurrency.on_retry)
    return client


def _int_or_str(value: str) -> int | str:
    return int(value) if value.isdigit() else value


def _str(value: object) -> str:
    return "" if value is None else str(value)
