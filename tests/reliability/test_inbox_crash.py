"""Receivers and workers as processes on one inbox (SQLite, PostgreSQL), a worker killed mid-run.

Three ``tahdah webhooks serve --no-worker`` processes store 2,000 deliveries, each sent one to
three times to random receivers by a sender that retries as a real one does; two ``tahdah inbox
work`` processes run them. One worker is doomed: after some runs its handlers hang, and once it
holds a full load of rows it is killed with SIGKILL, while deliveries still arrive, and a new
worker takes its place. The killed worker's leases run out and another worker runs its rows.

In the end every delivery was stored once and completed once; only the killed worker's rows
ran twice, the second time as attempt 2 in another process. The handlers log their runs to one
file (:mod:`tests.reliability.crash_hooks`); the deliveries, their copies and where each goes
follow from :data:`SEED`, so a failure can be replayed.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import re
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import attrs

from tahdah_async.cli._inbox import stats_json
from tahdah_async.webhooks import SIGNATURE_HEADER, VERB_HEADER, sign
from tahdah_async.webhooks.inbox import Inbox, State, StoredDelivery
from tahdah_async.webhooks.inbox._url import open_inbox, url_secrets
from tests.cli.helpers import child_env
from tests.engines import postgres as engine

from .crash_hooks import HOLD_AFTER_ENV, LOG_ENV

# The engine's fixtures, for this module.
postgres_server = engine.postgres_server
postgres_dsn = engine.postgres_dsn
postgres_schema = engine.postgres_schema
postgres_inbox_url = engine.postgres_inbox_url

ROOT: Final = Path(__file__).resolve().parents[2]
TARGET: Final = "tests.reliability.crash_hooks:router"
SECRET: Final = "wh_crash_test_s3cret"
SECRET_ENV: Final = "TAHDAH_CRASH_SECRET"

SEED: Final = 20_240_601
"""Seeds the plan of the deliveries: change it to try another, quote it to replay a failure."""
DELIVERIES: Final = 2000
VERBS: Final = ("candidates.created", "candidates.updated")
RECEIVERS: Final = 3
CONCURRENCY: Final = 4
"""Rows each worker runs at once: the rows the doomed worker holds when it is killed."""
LEASE: Final = 10.0
"""Seconds: how long after the kill the doomed worker's rows are claimable again."""
HOLD_AFTER: Final = 20
"""Runs the doomed worker completes before its handlers hang."""
SPREAD: Final = 64
"""Copies of one delivery are sent within this many places of each other in the sending
order: some race each other, some come after the first was stored."""
IN_FLIGHT: Final = 48
ATTEMPTS: Final = 8
"""Sends of one copy before the sender gives up on it."""
RETRY_PAUSE: Final = 0.25
"""Seconds the sender waits before sending a copy again (its backoff, not a synchronisation)."""
REQUEST_TIMEOUT: Final = 60.0
POLL: Final = 0.05
"""Seconds between looks at what other processes did (their progress shows only in files)."""
HANG_GUARD: Final = 600.0
"""Seconds before the whole scenario counts as hung (never reached when it works)."""
OUTPUT_LINES: Final = 40
"""The last lines of each stream of each child that a failure message shows."""

LISTENING: Final = re.compile(r"^listening for webhooks on http://127\.0\.0\.1:(\d+)/$")
ANSWERED: Final = {(200, "stored"), (200, "duplicate")}


# -- the children --------------------------------------------------------------------------


@attrs.define(eq=False)
class Child:
    """A ``python -m tahdah_async`` process, its output read as it comes (no pipe fills)."""

    name: str
    process: asyncio.subprocess.Process
    out: list[str] = attrs.field(factory=list)
    err: list[str] = attrs.field(factory=list)
    _port: asyncio.Future[int | None] = attrs.field(
        init=False, factory=lambda: asyncio.get_running_loop().create_future()
    )
    _readers: list[asyncio.Task[None]] = attrs.field(init=False, factory=list)

    @classmethod
    async def start(cls, name: str, *args: str, env: Mapping[str, str]) -> Child:
        """Start ``python -m tahdah_async *args`` in the repository's directory."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tahdah_async",
            *args,
            cwd=ROOT,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        child = cls(name, process)
        assert process.stdout is not None
        assert process.stderr is not None
        child._readers = [
            asyncio.create_task(child._read(process.stdout, child.out)),
            asyncio.create_task(child._read(process.stderr, child.err)),
        ]
        return child

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _read(self, stream: asyncio.StreamReader, lines: list[str]) -> None:
        async for raw in stream:
            lines.append(raw.decode(errors="replace").rstrip("\r\n"))
            found = LISTENING.match(lines[-1]) if lines is self.out else None
            if found is not None and not self._port.done():
                self._port.set_result(int(found[1]))
        if lines is self.out and not self._port.done():
            self._port.set_result(None)

    async def port(self) -> int:
        """The port a receiver said it listens on; fail if its output ends first."""
        port = await self._port
        assert port is not None, f"{self.name} ended without listening"
        return port

    async def stop(self) -> int:
        """Ask it to stop (SIGTERM); return its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return await self.finish()

    async def kill(self) -> int:
        """Kill it (SIGKILL) unless it ended; return its exit code."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        return await self.finish()

    async def finish(self) -> int:
        """Wait for its exit and the end of its output; return its exit code."""
        await asyncio.gather(*self._readers)
        return await self.process.wait()

    def output(self, masked: Sequence[str]) -> str:
        """Its last lines, for a failure message, with ``masked`` strings hidden."""
        code = self.process.returncode
        state = "running" if code is None else f"exit code {code}"
        lines = [f"--- {self.name} (pid {self.pid}, {state}) ---"]
        lines += [f"out| {line}" for line in self.out[-OUTPUT_LINES:]]
        lines += [f"err| {line}" for line in self.err[-OUTPUT_LINES:]]
        text = "\n".join(lines)
        for secret in masked:
            text = text.replace(secret, "***")
        return text


# -- the sender ----------------------------------------------------------------------------


@attrs.frozen
class Copy:
    """One copy of a delivery, for one receiver."""

    delivery: int
    verb: str
    body: bytes = attrs.field(repr=False)
    receiver: int


def plan(rng: random.Random) -> list[Copy]:
    """Every copy of every delivery, in sending order."""
    placed = []
    for n in range(DELIVERIES):
        verb = rng.choice(VERBS)
        body = json.dumps({"id": n, "firstName": "Ada", "lastName": f"Crash {n}"}).encode()
        for _ in range(rng.randint(1, 3)):
            copy = Copy(n, verb, body, rng.randrange(RECEIVERS))
            placed.append((n + rng.uniform(0, SPREAD), copy))
    return [copy for _, copy in sorted(placed, key=lambda pair: pair[0])]


@attrs.define
class Sent:
    """What the receivers answered."""

    answers: dict[int, list[tuple[int, str]]] = attrs.field(
        factory=lambda: collections.defaultdict(list)
    )
    """The last answer to each copy (status, ``status`` word), by delivery."""
    statuses: collections.Counter[int] = attrs.field(factory=collections.Counter)
    """Every answer's status, those retried too."""
    connection_errors: int = 0
    unsure: set[int] = attrs.field(factory=set)
    """Deliveries with a copy that may have been stored without its answer arriving."""

    def summary(self) -> str:
        answered = sum(map(len, self.answers.values()))
        resent = self.statuses.total() + self.connection_errors - answered
        return (
            f"{answered} copies answered, {resent} sent again; answers by status "
            f"{dict(self.statuses)}, {self.connection_errors} connection errors"
        )


async def send_all(bases: Sequence[str], copies: Sequence[Copy], sent: Sent) -> None:
    """Send every copy, signed, at most :data:`IN_FLIGHT` at once."""
    queue: Iterator[Copy] = iter(copies)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=IN_FLIGHT)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

        async def sender() -> None:
            for copy in queue:  # shared: each copy is taken by one sender
                await send_copy(session, bases[copy.receiver], copy, sent)

        async with asyncio.TaskGroup() as group:
            for _ in range(IN_FLIGHT):
                group.create_task(sender())


async def send_copy(session: aiohttp.ClientSession, url: str, copy: Copy, sent: Sent) -> None:
    """Send one copy as a real sender does: until a 2xx or 4xx, retrying 409, 5xx and
    connection errors up to :data:`ATTEMPTS` times."""
    headers = {
        SIGNATURE_HEADER: sign(copy.body, SECRET),
        VERB_HEADER: copy.verb,
        "Content-Type": "application/json",
    }
    answer = (0, "gave up")
    for _ in range(ATTEMPTS):
        try:
            async with session.post(url, data=copy.body, headers=headers) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError):
            # The copy may have been stored and only the answer lost.
            sent.connection_errors += 1
            sent.unsure.add(copy.delivery)
        else:
            sent.statuses[status] += 1
            answer = (status, _what(text))
            if status != 409 and status < 500:
                break
        await asyncio.sleep(RETRY_PAUSE)
    sent.answers[copy.delivery].append(answer)


def _what(text: str) -> str:
    try:
        return str(json.loads(text)["status"])
    except (ValueError, TypeError, KeyError):
        return f"not a receiver's answer: {text[:200]!r}"


# -- the runs log --------------------------------------------------------------------------


@attrs.frozen(order=True)
class Run:
    """One handler run, as the log has it (its ``start`` and ``done`` lines are equal)."""

    delivery: int
    inbox_id: int
    attempt: int
    pid: int


def read_log(log: Path) -> list[tuple[str, Run]]:
    """Every ``start`` and ``done`` line, in the order they were written."""
    if not log.exists():
        return []
    lines = (line.split() for line in log.read_text().splitlines())
    return [(event, Run(*map(int, fields))) for event, *fields in lines]


def runs(entries: list[tuple[str, Run]], event: str) -> list[Run]:
    """The runs with an ``event`` line (``start`` or ``done``), in log order."""
    return [run for seen, run in entries if seen == event]


def hanging(entries: list[tuple[str, Run]], pid: int) -> set[Run]:
    """The runs of the doomed process ``pid`` that hang: those started after its
    :data:`HOLD_AFTER`-th ``done`` line.

    A handler counts its run and logs ``done`` with no ``await`` between, and checks the count
    and logs ``start`` likewise, so the log's order is the order the count saw.
    """
    done, found = 0, set()
    for event, run in entries:
        if run.pid == pid and event == "done":
            done += 1
        elif run.pid == pid and done >= HOLD_AFTER:
            found.add(run)
    return found


# -- the scenario --------------------------------------------------------------------------


async def crash_scenario(url: str, tmp_path: Path) -> None:
    """Run the scenario on the inbox ``url`` and check everything it promises."""
    log = tmp_path / "runs.log"
    env = child_env(
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        **{SECRET_ENV: SECRET, LOG_ENV: str(log)},
    )
    # Debug mode would make the children twice as slow. Without it their stderr stays empty
    # unless something goes wrong (a lost lease, a failed write), and the test says so.
    for name in ("PYTHONASYNCIODEBUG", "PYTHONDEVMODE"):
        env.pop(name, None)
    serve = ["webhooks", "serve", TARGET, "--inbox", url, "--secret-env", SECRET_ENV]
    serve += ["--port", "0", "--no-worker"]
    work = ["inbox", "work", TARGET, "--inbox", url, "--concurrency", str(CONCURRENCY)]
    work += ["--lease", str(LEASE)]
    copies = plan(random.Random(SEED))
    masked = (SECRET, *url_secrets(url))
    children: list[Child] = []
    sent = Sent()
    facts = [f"seed {SEED}"]

    async def spawn(name: str, *args: str, **extra: str) -> Child:
        child = await Child.start(name, *args, env={**env, **extra})
        children.append(child)
        return child

    try:
        # The test's own connection creates the schema before the children race to.
        async with asyncio.timeout(HANG_GUARD), open_inbox(url) as inbox:
            receivers = [await spawn(f"receiver {i}", *serve) for i in range(RECEIVERS)]
            workers = [await spawn("worker", *work)]
            doomed = await spawn("doomed worker", *work, **{HOLD_AFTER_ENV: str(HOLD_AFTER)})
            bases = [f"http://127.0.0.1:{await receiver.port()}/" for receiver in receivers]

            async with asyncio.TaskGroup() as group:
                sending = group.create_task(send_all(bases, copies, sent))
                # Polled, with the hang guard as bound: other processes' progress is in files.
                while True:
                    entries = read_log(log)
                    held = hanging(entries, doomed.pid)
                    if len(held) >= CONCURRENCY:
                        break
                    assert doomed.process.returncode is None, "the doomed worker exited"
                    assert len(runs(entries, "done")) < DELIVERIES, (
                        "every delivery ran before the doomed worker held its rows"
                    )
                    await asyncio.sleep(POLL)
                await doomed.kill()
                facts.append(f"doomed worker {doomed.pid} killed holding {sorted(held)}")
                facts.append(f"killed while sending: {not sending.done()}")
                workers.append(await spawn("replacement worker", *work))
            facts.append(f"sender: {sent.summary()}")

            alive = [*receivers, *workers]
            while (stats := await inbox.stats()).by_state[State.DONE] < DELIVERIES:
                assert stats.by_state[State.DEAD] == 0, f"dead deliveries: {stats}"
                assert all(c.process.returncode is None for c in alive), "a child exited"
                await asyncio.sleep(POLL)
            codes = await asyncio.gather(*(child.stop() for child in alive))
            entries = read_log(log)
            rows = await all_rows(inbox)
            stats = await inbox.stats()
            counter = await spawn("inbox stats", "inbox", "stats", "--inbox", url, "--json")
            counted = await counter.finish()

        assert dict(zip([c.name for c in alive], codes, strict=True)) == {c.name: 0 for c in alive}
        verbs = {copy.delivery: copy.verb for copy in copies}
        check_rows(rows, verbs)
        check_runs(runs(entries, "start"), runs(entries, "done"), rows, held, doomed.pid)
        check_answers(sent, copies)
        assert counted == 0
        check_counts(json.loads("\n".join(counter.out)), stats_json(stats), verbs)
        assert {child.name: child.err for child in children if child.err} == {}
        printed = "\n".join(line for child in children for line in child.out)
        assert [secret for secret in masked if secret in printed] == []
    except TimeoutError:
        error = AssertionError(f"the scenario did not end within {HANG_GUARD} s")
        error.add_note(_story(facts, children, masked))
        raise error from None
    except Exception as exc:
        exc.add_note(_story(facts, children, masked))
        raise
    finally:
        await asyncio.gather(*(child.kill() for child in children))


async def all_rows(inbox: Inbox) -> list[StoredDelivery]:
    rows: list[StoredDelivery] = []
    while batch := await inbox.rows(limit=500, after_id=rows[-1].id if rows else 0):
        rows += batch
    return rows


def body_id(row: StoredDelivery) -> int:
    return int(json.loads(row.body)["id"])


def check_rows(rows: list[StoredDelivery], verbs: Mapping[int, str]) -> None:
    """One row per delivery, with the verb it was sent with, all ``done``."""
    assert sorted(map(body_id, rows)) == list(range(DELIVERIES))
    assert {body_id(row): row.verb for row in rows} == verbs
    assert {row.id: row.state for row in rows if row.state is not State.DONE} == {}


def check_runs(
    starts: list[Run], dones: list[Run], rows: list[StoredDelivery], held: set[Run], doomed: int
) -> None:
    """Every delivery was done once; only the killed worker's rows ran twice, the second time
    as attempt 2 in another process."""
    assert len(held) == CONCURRENCY
    done_per_delivery = collections.Counter(run.delivery for run in dones)
    assert {n: done_per_delivery[n] for n in range(DELIVERIES) if done_per_delivery[n] != 1} == {}
    assert len(dones) == DELIVERIES
    # Each run names its delivery's row.
    assert {(run.delivery, run.inbox_id) for run in starts} == {(body_id(r), r.id) for r in rows}
    held_ids = {run.delivery for run in held}
    starts_per_delivery = collections.Counter(run.delivery for run in starts)
    assert {n for n, count in starts_per_delivery.items() if count > 1} == held_ids
    assert all(starts_per_delivery[n] == 2 for n in held_ids)
    reruns = {(run.delivery, run.attempt) for run in starts if run.pid != doomed}
    assert {(n, attempt) for n, attempt in reruns if n in held_ids} == {(n, 2) for n in held_ids}
    finished = {(run.delivery, run.attempt, run.pid == doomed) for run in dones}
    assert {(n, a, by_doomed) for n, a, by_doomed in finished if n in held_ids} == {
        (n, 2, False) for n in held_ids
    }
    assert {run.attempt for run in starts if run.delivery not in held_ids} == {1}
    assert {body_id(row): row.attempts for row in rows} == {
        n: 2 if n in held_ids else 1 for n in range(DELIVERIES)
    }


def check_answers(sent: Sent, copies: Sequence[Copy]) -> None:
    """Every copy was answered 200 ``stored`` or ``duplicate``, and each delivery stored once.

    The inbox's ``put`` is atomic on the delivery's key, so of copies racing each other one is
    ``stored`` and the others ``duplicate``. Only a copy whose answer was lost on the way (a
    connection error) may leave its delivery with no ``stored`` answer at all.
    """
    per_delivery = collections.Counter(copy.delivery for copy in copies)
    assert {n: len(answers) for n, answers in sent.answers.items()} == dict(per_delivery)
    wrong = {n: a for n, a in sent.answers.items() if not set(a) <= ANSWERED}
    assert wrong == {}
    assert {status for status in sent.statuses if status >= 500} <= {503}
    stored = {n: answers.count((200, "stored")) for n, answers in sent.answers.items()}
    assert {n: count for n, count in stored.items() if count != 1 and n not in sent.unsure} == {}
    assert all(stored[n] <= 1 for n in sent.unsure)


def check_counts(printed: Any, counted: Any, verbs: Mapping[int, str]) -> None:
    """``tahdah inbox stats --json`` printed what the inbox counts: every delivery done,
    by verb as sent."""
    per_verb = collections.Counter(verbs.values())
    assert printed == counted
    assert printed == {
        "by_state": {state.value: DELIVERIES if state is State.DONE else 0 for state in State},
        "by_verb": {verb: {"done": count} for verb, count in sorted(per_verb.items())},
        "oldest_pending": None,
    }


def _story(facts: list[str], children: list[Child], masked: Sequence[str]) -> str:
    return "\n".join([*facts, *(child.output(masked) for child in children)])


# -- the tests -----------------------------------------------------------------------------


async def test_sqlite_inbox_loses_and_repeats_nothing_when_a_worker_is_killed(
    tmp_path: Path,
) -> None:
    await crash_scenario(f"sqlite:///{tmp_path / 'inbox.db'}", tmp_path)


async def test_postgres_inbox_loses_and_repeats_nothing_when_a_worker_is_killed(
    tmp_path: Path, postgres_inbox_url: str
) -> None:
    await crash_scenario(postgres_inbox_url, tmp_path)
