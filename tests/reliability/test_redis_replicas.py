"""Three receiver replicas sharing one RedisDedupeStore, one killed with SIGKILL mid-run.

Each replica is a process of its own (:mod:`tests.reliability.redis_replica`) in
process-then-ack mode on the test's Redis. A sender posts 2,000 distinct signed deliveries,
each 1 to 3 times, to random replicas, and resends like a real sender: a 2xx ends a copy; a
409, a 5xx or a broken connection means trying again, on a random live replica. Every tenth
delivery fails on its first run (500, its claim released). One replica stops finishing its
runs after 20: once it holds four claims it is killed, and a replacement started; its claims
run out after their lease, and the resends then run elsewhere.

The handler runs' log must show every delivery done exactly once (none lost, none run twice),
the killed replica's unfinished runs run again elsewhere, and nothing else run twice but the
planned failures; every copy must end with a 2xx ``processed`` or ``duplicate``.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import random
import re
import signal
import sys
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Final

import aiohttp
import attrs
import redis.asyncio as aioredis

from tahdah_async.webhooks import SIGNATURE_HEADER, VERB_HEADER, delivery_key, sign
from tests.engines import redis as engine

from .redis_replica import FAILING_EVERY, SECRET_ENV, VERB

# The engine's fixtures, for this module.
redis_server = engine.redis_server
redis_url = engine.redis_url
redis_prefix = engine.redis_prefix
redis_client = engine.redis_client

DELIVERIES: Final = 2000
MOST_COPIES: Final = 3
SEED: Final = 20_240_611
"""Seeds the plan (how many copies of each delivery) and the sender's choice of replicas. The
interleaving of the processes is the machine's, so a failure names the ids involved too."""
IN_FLIGHT: Final = 48
HOLD_AFTER: Final = 20
HELD_BEFORE_KILL: Final = 4
SECRET: Final = "wh_r3plica-s1gning-secret"

RETRY_AFTER_CAP: Final = 0.25
"""The sender honours ``Retry-After`` up to this many seconds: the full 5 s on every 409 would
make the run minutes long without testing anything more."""
PAUSE: Final = 0.05
"""Seconds before resending after an answer without ``Retry-After`` or a broken connection."""
MOST_ATTEMPTS: Final = 400
"""Attempts per copy: a copy whose claim the killed replica held needs the lease (5 s) to run
out, about 20 attempts; far more means something is stuck."""
HANG_GUARD: Final = 300.0
"""Seconds before the test counts as hung (only a real hang reaches it)."""
START_GUARD: Final = 60.0
"""Seconds a replica may take to print its port before it counts as hung."""
POLL: Final = 0.05
ROOT: Final = Path(__file__).resolve().parents[2]
OUTPUT_LIMIT: Final = 4000
# What a replica's stderr must never show: leaked resources, lost tasks or coroutines.
LEAKS: Final = re.compile(
    r"ResourceWarning|Unclosed|never awaited|Task was destroyed|exception was never retrieved"
)
SETTLED: Final = frozenset({"processed", "duplicate"})


# -- the replicas ------------------------------------------------------------------------------


@attrs.define
class Replica:
    """A receiver replica process, serving on a loopback port."""

    process: asyncio.subprocess.Process
    port: int
    stderr: Path

    @classmethod
    async def start(
        cls, redis_url: str, prefix: str, log: Path, stderr: Path, *extra: str
    ) -> Replica:
        """Start a replica and return it once it serves (it is killed if it does not)."""
        with stderr.open("wb") as err:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.reliability.redis_replica",
                redis_url,
                prefix,
                str(log),
                *extra,
                cwd=ROOT,
                env={**os.environ, SECRET_ENV: SECRET},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        try:
            assert process.stdout is not None
            async with asyncio.timeout(START_GUARD):
                line = await process.stdout.readline()
        except BaseException:
            await _reap(process, signal.SIGKILL)
            raise
        if not line.strip().isdigit():
            await _reap(process, signal.SIGKILL)
            raise AssertionError(f"a replica did not start: {line!r}\n{_tail(stderr)}")
        return cls(process, int(line), stderr)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def kill(self) -> int:
        """SIGKILL the replica unless it has exited; return its exit status."""
        return await _reap(self.process, signal.SIGKILL)

    async def stop(self) -> int:
        """SIGTERM the replica, wait for it and return its exit status."""
        return await _reap(self.process, signal.SIGTERM)

    def output(self) -> str:
        """The end of what the replica wrote to stderr."""
        return f"replica pid {self.pid} port {self.port}:\n{_tail(self.stderr)}"


async def _reap(process: asyncio.subprocess.Process, signum: int) -> int:
    if process.returncode is None:
        process.send_signal(signum)
    code = await process.wait()
    assert process.stdout is not None
    await process.stdout.read()  # to its end, so the pipe is closed with the process
    return code


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-OUTPUT_LIMIT:]
    except OSError as exc:
        return f"(no output: {exc})"


# -- the handler runs' log ---------------------------------------------------------------------


@attrs.frozen
class Run:
    """One line of the log: ``start``, ``fail`` or ``done`` of a delivery in a process."""

    kind: str
    id: int
    pid: int


def read_runs(log: Path) -> list[Run]:
    """Every complete line of the log, in the order written."""
    if not log.exists():
        return []
    text = log.read_text()
    complete = text[: text.rfind("\n") + 1]  # a line still being written is read next time
    return [Run(kind, int(n), int(pid)) for kind, n, pid in map(str.split, complete.splitlines())]


def failure_markers(log: Path) -> set[int]:
    """The ids whose marker file says their run failed on purpose."""
    return {int(path.name.rsplit(".", 1)[1]) for path in log.parent.glob(f"{log.name}.failed.*")}


@attrs.frozen
class Unfinished:
    """A process's runs that have started and neither failed nor returned."""

    held: frozenset[int]
    """Started once the process had finished ``hold_after`` runs: they wait forever."""
    running: frozenset[int]
    """Started before: they finish."""
    done: frozenset[int]
    """The ids whose run returned in the process."""

    @property
    def all(self) -> frozenset[int]:
        return self.held | self.running


def unfinished(runs: Iterable[Run], pid: int, hold_after: int) -> Unfinished:
    """What the runs of process ``pid`` left unfinished, as its ``hold-after`` rule decides."""
    started: dict[int, bool] = {}
    done: set[int] = set()
    for run in runs:
        if run.pid != pid:
            continue
        if run.kind == "start":
            # The replica decides to hold as it logs the start, counting the runs it logged
            # done before (no await between): the same count here says which starts hold.
            started[run.id] = len(done) >= hold_after
        else:
            del started[run.id]
            if run.kind == "done":
                done.add(run.id)
    held = frozenset(n for n, holds in started.items() if holds)
    return Unfinished(held, frozenset(started) - held, frozenset(done))


# -- the sender --------------------------------------------------------------------------------


def body_of(delivery_id: int) -> bytes:
    return json.dumps({"id": delivery_id}).encode()


@attrs.frozen
class Answer:
    """One attempt at sending one copy of a delivery, and what came of it."""

    id: int
    copy: int
    port: int
    status: int | None
    """``None``: the connection failed or broke."""
    what: str

    @property
    def settled(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@attrs.define
class Sender:
    """Sends copies of deliveries to random live replicas, resending until a 2xx."""

    session: aiohttp.ClientSession
    live: list[Replica]
    choices: random.Random
    in_flight: asyncio.Semaphore = attrs.field(factory=lambda: asyncio.Semaphore(IN_FLIGHT))
    answers: list[Answer] = attrs.Factory(list)
    finals: dict[tuple[int, int], Answer] = attrs.Factory(dict)

    async def send(self, delivery_id: int, copy: int) -> None:
        """Send one copy until it is answered 2xx, or ``MOST_ATTEMPTS`` times."""
        body = body_of(delivery_id)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(body, SECRET),
            VERB_HEADER: VERB,
        }
        for _ in range(MOST_ATTEMPTS):
            pause = PAUSE
            async with self.in_flight:
                replica = self.choices.choice(self.live)  # live now, not when the copy queued
                try:
                    async with self.session.post(replica.url, data=body, headers=headers) as r:
                        status, text = r.status, await r.text()
                        retry_after = r.headers.get("Retry-After")
                except aiohttp.ClientError as exc:
                    status, text, retry_after = None, type(exc).__name__, None
            answer = Answer(delivery_id, copy, replica.port, status, _word(text))
            self.answers.append(answer)
            self.finals[delivery_id, copy] = answer
            if answer.settled:
                return
            if retry_after is not None:
                pause = min(float(retry_after), RETRY_AFTER_CAP)
            await asyncio.sleep(pause)  # the sender's back-off, as a real one pauses

    def unexpected(self, killed_port: int, failing: Collection[int]) -> list[Answer]:
        """The answers no correct receiver gives here."""

        def expected(answer: Answer) -> bool:
            if answer.status is None:
                return answer.port == killed_port  # its connections broke when it was killed
            if (answer.status, answer.what) == (500, "handler_failed"):
                return answer.id in failing
            if (answer.status, answer.what) == (409, "in_progress"):
                return True
            return answer.status == 200 and answer.what in SETTLED

        return [answer for answer in self.answers if not expected(answer)]


def _word(text: str) -> str:
    try:
        word = json.loads(text)["status"]
    except (ValueError, TypeError, KeyError):
        return text[:200]
    return str(word)


# -- the kill ----------------------------------------------------------------------------------


async def unclaimed(client: aioredis.Redis, prefix: str, ids: Collection[int]) -> bool:
    """Whether no delivery in ``ids`` is claimed in the store (each is committed, normally)."""
    if not ids:
        return True
    names = [prefix + delivery_key(hashlib.sha256(body_of(n)).hexdigest()) for n in ids]
    values = await client.mget(names)
    return not any(isinstance(value, bytes) and value.startswith(b"p:") for value in values)


async def kill_when_holding(
    doomed: Replica, log: Path, client: aioredis.Redis, prefix: str, sender: Sender
) -> None:
    """SIGKILL ``doomed`` once it holds enough claims and has nothing else half done."""
    # Other processes' progress shows only in files and in Redis: polled, with the hang
    # guard as bound. Killed between a run's "done" and its commit, the replica would leave a
    # claim that expires and a delivery that runs twice, rightly (process-then-ack is
    # at-least-once); so it is killed only when no run it finished still holds its claim.
    while True:
        state = unfinished(read_runs(log), doomed.pid, HOLD_AFTER)
        if (
            len(state.held) >= HELD_BEFORE_KILL
            and not state.running
            and await unclaimed(client, prefix, state.done)
        ):
            break
        await asyncio.sleep(POLL)
    sender.live.remove(doomed)
    code = await doomed.kill()
    assert code == -signal.SIGKILL, doomed.output()


# -- the test ----------------------------------------------------------------------------------


async def test_a_killed_replica_loses_nothing_and_runs_nothing_twice(
    tmp_path: Path, redis_url: str, redis_prefix: str, redis_client: aioredis.Redis
) -> None:
    log = tmp_path / "runs.log"
    plan = random.Random(SEED)
    copies = {n: plan.randint(1, MOST_COPIES) for n in range(DELIVERIES)}
    everything = frozenset(copies)
    failing = frozenset(n for n in everything if n % FAILING_EVERY == 0)
    replicas: list[Replica] = []
    senders: list[Sender] = []

    def progress() -> str:
        kinds = collections.Counter(run.kind for run in read_runs(log))
        settled = sum(answer.settled for sender in senders for answer in sender.finals.values())
        doomed_now = unfinished(read_runs(log), replicas[0].pid, HOLD_AFTER) if replicas else None
        return f"runs {dict(kinds)}, copies settled {settled}, the doomed replica's {doomed_now}"

    async def start(*extra: str) -> Replica:
        stderr = tmp_path / f"replica-{len(replicas)}.err"
        replica = await Replica.start(redis_url, redis_prefix, log, stderr, *extra)
        replicas.append(replica)
        return replica

    async def kill_and_replace(sender: Sender) -> None:
        await kill_when_holding(doomed, log, redis_client, redis_prefix, sender)
        sender.live.append(await start())

    try:
        async with asyncio.timeout(HANG_GUARD):
            doomed = await start("hold-after", str(HOLD_AFTER))
            for _ in range(2):
                await start()
            timeout = aiohttp.ClientTimeout(total=None)  # the hang guard bounds the run
            async with aiohttp.ClientSession(timeout=timeout) as session:
                sender = Sender(session, list(replicas), random.Random(SEED + 1))
                senders.append(sender)
                async with asyncio.TaskGroup() as group:
                    group.create_task(kill_and_replace(sender))
                    for n, count in copies.items():
                        for copy in range(count):
                            group.create_task(sender.send(n, copy))
            survivors = [replica for replica in replicas if replica is not doomed]
            codes = [await replica.stop() for replica in survivors]
    except TimeoutError:
        raise AssertionError(f"hung: {progress()}; seed {SEED}") from None
    finally:
        for replica in replicas:
            await replica.kill()

    outputs = "\n".join(replica.output() for replica in replicas)
    context = f"seed {SEED}\n{outputs}"
    assert codes == [0] * len(survivors), context
    for replica in survivors:
        assert not LEAKS.search(_tail(replica.stderr)), replica.output()

    runs = read_runs(log)
    starts = collections.Counter(run.id for run in runs if run.kind == "start")
    done = collections.Counter(run.id for run in runs if run.kind == "done")
    failed = collections.Counter(run.id for run in runs if run.kind == "fail")
    done_in = {run.id: run.pid for run in runs if run.kind == "done"}
    held = unfinished(runs, doomed.pid, HOLD_AFTER).all

    # Nothing lost, nothing run twice.
    lost = sorted(everything - done.keys())
    twice = sorted(n for n, count in done.items() if count > 1)
    assert not lost, f"lost {lost[:20]}; {context}"
    assert not twice, f"run twice {twice[:20]}; {context}"
    # Every planned failure happened once, and only those.
    assert failed == collections.Counter(failing), context
    assert failure_markers(log) == failing
    # Only the killed replica left runs unfinished; each of them ran again, elsewhere.
    assert len(held) >= HELD_BEFORE_KILL, context
    for pid in {run.pid for run in runs} - {doomed.pid}:
        # No hold rule in the others: every run they started must have failed or returned.
        assert not unfinished(runs, pid, len(runs) + 1).all, f"pid {pid}; {context}"
    assert all(done_in[n] != doomed.pid for n in held), context
    # What ran more than once: exactly the held runs and the planned failures.
    assert {n for n, count in starts.items() if count > 1} == held | failing, context
    expected_starts = {n: 1 + (n in held) + (n in failing) for n in everything}
    assert dict(starts) == expected_starts, context

    # Every copy ended with a 2xx, and nothing answered what a correct receiver does not.
    assert len(sender.finals) == sum(copies.values())
    unsettled = [answer for answer in sender.finals.values() if not answer.settled]
    assert not unsettled, f"{len(unsettled)} copies unsettled: {unsettled[:10]}; {context}"
    unexpected = sender.unexpected(doomed.port, failing)
    assert not unexpected, f"{len(unexpected)} unexpected: {unexpected[:10]}; {context}"
    # One "processed" per delivery, except that a run the killed replica finished may have
    # lost its answer with the connection: that copy was resent and heard "duplicate".
    processed = collections.Counter(a.id for a in sender.finals.values() if a.what == "processed")
    assert all(count == 1 for count in processed.values()), context
    assert {n for n in everything if done_in[n] != doomed.pid} <= processed.keys(), context

    attempts = collections.Counter((answer.status, answer.what) for answer in sender.answers)
    print(f"held {len(held)}, attempts {sum(attempts.values())}: {dict(attempts)}")
