"""Benchmarks: the SDK against the library under it, as ratios measured in one run.

    python benchmarks/bench.py [--quick] [--only NAME ...] [--json PATH]

Every figure is a ratio against a baseline measured in the same run; variants alternate
within each round and the medians over rounds are reported. Servers run as separate
processes; with two or more cores, servers and load generators are pinned to different ones.
The table is printed and written as JSON (default ``benchmarks/results.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import aiohttp

if TYPE_CHECKING:
    from tahdah_async.webhooks.inbox import Inbox

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
CORES = sorted(os.sched_getaffinity(0))
SERVER_CPU = CORES[0]
CLIENT_CPU = CORES[1] if len(CORES) > 1 else CORES[0]

Row = dict[str, Any]


# -- processes -----------------------------------------------------------------------------


@contextmanager
def server(
    kind: str, *args: str, count: int = 1, env: dict[str, str] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Start ``count`` ``servers.py KIND`` processes pinned to the server core, sharing one
    port (``SO_REUSEPORT``) when several; yield the URL and the first one's other lines."""
    processes: list[subprocess.Popen[str]] = []
    environment = None if env is None else {**os.environ, **env}

    def start(port: str) -> tuple[str, list[str]]:
        command = [PYTHON, str(HERE / "servers.py"), kind, "--port", port, *args]
        if count > 1:
            command.append("--reuse-port")
        if len(CORES) > 1 and shutil.which("taskset"):
            command = ["taskset", "-c", str(SERVER_CPU), *command]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
        processes.append(proc)
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        if not first.startswith("listening on "):
            raise RuntimeError(f"the {kind} server did not start: {first!r}")
        extra = []
        if kind == "fake":
            extra = [proc.stdout.readline().strip() for _ in range(2)]
        return first.removeprefix("listening on "), extra

    try:
        url, extra = start("0")
        for _ in range(count - 1):
            start(url.rpartition(":")[2])
        yield url, extra
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.wait(timeout=30)


def pin_self() -> None:
    if len(CORES) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})


def median(values: list[float]) -> float:
    return statistics.median(values)


# -- 1. client throughput and latency ------------------------------------------------------


async def client_round(url: str, calls_c1: int, calls_c32: int) -> dict[str, float]:
    from tahdah_async import RetryPolicy, TahdahClient

    path = "/api/trustgroups/legalentities/1/trustgroups"
    results: dict[str, float] = {}
    async with (
        aiohttp.ClientSession() as session,
        TahdahClient("bench-token", base_url=url, retry=RetryPolicy()) as tahdah,
    ):

        async def raw() -> None:
            async with session.get(url + path, headers={"Authorization": "Bearer x"}) as r:
                await r.json()

        async def sdk() -> None:
            await tahdah.trust_groups.list(1)

        variants: dict[str, Callable[[], Awaitable[None]]] = {"raw": raw, "sdk": sdk}
        for call in variants.values():  # warm both pools and code paths
            for _ in range(200):
                await call()
        # c=1: the variants alternate call by call, so drift in the machine hits both alike.
        latencies: dict[str, list[float]] = {name: [] for name in variants}
        for index in range(calls_c1):
            names = list(variants) if index % 2 == 0 else list(reversed(variants))
            for name in names:
                started = time.perf_counter()
                await variants[name]()
                latencies[name].append(time.perf_counter() - started)
        for name, values in latencies.items():
            results[f"{name}_c1_median_s"] = median(values)
        # c=32: blocks of calls, alternating, several times.
        spent = dict.fromkeys(variants, 0.0)
        block = max(200, calls_c32 // 5)
        for index in range(5):
            names = list(variants) if index % 2 == 0 else list(reversed(variants))
            for name in names:
                spent[name] += await _concurrently(variants[name], block, 32)
        for name in variants:
            results[f"{name}_c32_rps"] = 5 * block / spent[name]
    return results


async def _concurrently(call: Callable[[], Awaitable[None]], calls: int, workers: int) -> float:
    """Seconds for ``calls`` calls made by ``workers`` concurrent workers."""
    remaining = calls

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - started


def bench_client(rounds: int, quick: bool) -> list[Row]:
    calls_c1, calls_c32 = (300, 1000) if quick else (1500, 6000)
    with server("api") as (url, _):
        per_round = [asyncio.run(client_round(url, calls_c1, calls_c32)) for _ in range(rounds)]
    med = {k: median([r[k] for r in per_round]) for k in per_round[0]}
    added_us = (med["sdk_c1_median_s"] - med["raw_c1_median_s"]) * 1e6
    return [
        {
            "benchmark": "client latency, c=1 (median)",
            "baseline": f"raw aiohttp {med['raw_c1_median_s'] * 1e6:.0f} us",
            "sdk": f"{med['sdk_c1_median_s'] * 1e6:.0f} us ({added_us:+.0f} us per call)",
            "ratio": med["sdk_c1_median_s"] / med["raw_c1_median_s"],
            "target": "<= 1.05",
            "met": med["sdk_c1_median_s"] / med["raw_c1_median_s"] <= 1.05,
        },
        {
            "benchmark": "client throughput, c=32",
            "baseline": f"raw aiohttp {med['raw_c32_rps']:.0f} req/s",
            "sdk": f"{med['sdk_c32_rps']:.0f} req/s",
            "ratio": med["sdk_c32_rps"] / med["raw_c32_rps"],
            "target": ">= 0.90",
            "met": med["sdk_c32_rps"] / med["raw_c32_rps"] >= 0.90,
        },
    ]


# -- 2. decoding a large response ----------------------------------------------------------


def bench_decode(rounds: int, quick: bool) -> list[Row]:
    from yarl import URL

    from tahdah_async import Response, TrustGroupMember
    from tahdah_async._decode import decode

    members = [
        {
            "trustGroupId": 4102,
            "legalEntityId": 100000 + i,
            "name": f"Member organisation {i}",
            "addedAt": "2026-11-01T10:00:00Z",
            "status": "active",
        }
        for i in range(5000)
    ]
    body = json.dumps(members).encode()
    url = URL("http://127.0.0.1/api/trustgroups/legalentities/1/legalentities")
    response = Response(
        method="GET",
        url=url,
        status=200,
        reason="OK",
        headers=_json_headers(),
        content=body,
        elapsed=0.0,
    )
    assert len(decode(response, list[TrustGroupMember])) == 5000
    repeats = 3 if quick else 7
    plain: list[float] = []
    sdk: list[float] = []
    for index in range(rounds * 3):
        pair = [
            ("plain", lambda: json.loads(body)),
            ("sdk", lambda: decode(response, list[TrustGroupMember])),
        ]
        for name, run in pair if index % 2 == 0 else reversed(pair):
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                run()
                times.append(time.perf_counter() - started)
            (plain if name == "plain" else sdk).append(median(times))
    ratio = median(sdk) / median(plain)
    return [
        {
            "benchmark": "decode 5,000 trust-group members",
            "baseline": f"json.loads {median(plain) * 1e3:.1f} ms",
            "sdk": f"{median(sdk) * 1e3:.1f} ms (into models)",
            "ratio": ratio,
            "target": "<= 3.0",
            "met": ratio <= 3.0,
        },
        _parse_memory(members * 10),
    ]


def _parse_memory(members: list[dict[str, Any]]) -> Row:
    """Peak memory while parsing a large list: the SDK's parser against ``json.loads``.

    The peak (traced by ``tracemalloc``) holds the parsed objects, the same for both, and
    whatever the parser keeps while it works.
    """
    import tracemalloc

    from tahdah_async import _json

    body = json.dumps(members).encode()
    peaks = {}
    for name, parse in (("plain", json.loads), ("sdk", _json.loads)):
        tracemalloc.start()
        parse(body)
        peaks[name] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    megabytes = len(body) / 1e6
    plain, sdk = peaks["plain"], peaks["sdk"]
    return {
        "benchmark": f"parse peak memory, {len(members):,} members ({megabytes:.1f} MB of JSON)",
        "baseline": f"json.loads {plain / 1e6:.0f} MB ({plain / len(body):.1f}x the body)",
        "sdk": f"{sdk / 1e6:.0f} MB ({sdk / len(body):.1f}x the body, msgspec)",
        "ratio": peaks["sdk"] / peaks["plain"],
        "target": "(reported)",
        "met": None,
    }


def _json_headers() -> Any:
    from multidict import CIMultiDict, CIMultiDictProxy

    return CIMultiDictProxy(CIMultiDict({"Content-Type": "application/json"}))


# -- 3. webhook receiver under wrk -----------------------------------------------------------

VERB = "candidates.created"
WARM_VERB = "candidates.updated"
"""The verb of warm-up requests: an inbox's measured rows are counted by verb."""
STORE_RATE_GUESS = 5000
"""Deliveries per second an inbox stores here, about: three times as many distinct bodies per
second of wrk never run out (if they do, the rows say how many requests were duplicates)."""

WRK_SCRIPT = """
-- Send the signed requests of a file (a line: verb, signature, body) in turn.
local data = {data}

function init(args)
  requests = {{}}
  for line in io.lines(data) do
    local verb, signature, body = line:match("^(%S+) (%x+) (.*)$")
    requests[#requests + 1] = wrk.format("POST", "/", {{
      ["Content-Type"] = "application/json",
      ["Webhook-Verb"] = verb,
      ["Webhook-Signature"] = signature,
    }}, body)
  end
  sent = 0
end

function request()
  sent = sent + 1
  return requests[(sent - 1) % #requests + 1]
end
"""


class Wrk(NamedTuple):
    """What wrk printed: requests per second, requests completed, how many were not 2xx."""

    rps: float
    requests: int
    non_2xx: int


def wrk_run(url: str, script: Path, seconds: int) -> Wrk:
    """Run wrk (one thread, 32 connections) on the client core for ``seconds``."""
    command = ["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", str(script), url]
    if len(CORES) > 1 and shutil.which("taskset"):
        command = ["taskset", "-c", str(CLIENT_CPU), *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    if errors:
        print(f"  wrk: {errors.group(0)}", file=sys.stderr)
    return Wrk(rps, requests, int(bad.group(1)) if bad else 0)


def candidate_body(size: int, candidate: int = 21223300) -> bytes:
    """A ``candidates.created`` payload of exactly ``size`` bytes (the rest is ``notes``)."""
    payload = {
        "id": candidate,
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "ada@example.com",
        "tags": ["first-aid"],
        "notes": "",
    }
    payload["notes"] = "x" * (size - len(json.dumps(payload)))
    body = json.dumps(payload).encode()
    assert len(body) == size
    return body


def wrk_script(directory: Path, name: str, bodies: Iterable[bytes], verb: str = VERB) -> Path:
    """Sign ``bodies`` into ``NAME.txt`` and write ``NAME.lua``, a wrk script sending them."""
    from servers import SECRET

    data = directory / f"{name}.txt"
    with data.open("w") as out:
        for body in bodies:
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            out.write(f"{verb} {signature} {body.decode()}\n")
    script = directory / f"{name}.lua"
    script.write_text(WRK_SCRIPT.format(data=json.dumps(str(data))))
    return script


def distinct_bodies(count: int, first: int) -> Iterator[bytes]:
    """``count`` 1 KB bodies, candidate ids from ``first`` on."""
    return (candidate_body(1024, first + index) for index in range(count))


NewInbox = Callable[[], tuple[list[str], "Inbox"]]
"""Makes an empty inbox: the server arguments that open it, and the same inbox to count."""


@dataclass(frozen=True)
class Load:
    """Servers of one kind and the wrk scripts that load them."""

    kind: str
    script: Path
    warm: Path
    count: int = 1
    new_inbox: NewInbox | None = None
    env: dict[str, str] | None = field(default=None, repr=False)


class Sample(NamedTuple):
    rate: float
    """Deliveries per second: rows stored with an inbox, else wrk's rate."""
    non_2xx: int
    duplicates: int
    """Requests answered 2xx that stored no row (the distinct bodies ran out)."""


def measure(load: Load, seconds: int) -> Sample:
    """Start the servers (with a fresh inbox), warm them up, run wrk, count what was stored."""
    args, inbox = load.new_inbox() if load.new_inbox else ([], None)
    with server(load.kind, *args, count=load.count, env=load.env) as (url, _):
        wrk_run(url + "/", load.warm, 1)
        run = wrk_run(url + "/", load.script, seconds)
    if inbox is None:
        return Sample(run.rps, run.non_2xx, 0)
    stored = asyncio.run(_count(inbox, VERB))
    duration = run.requests / run.rps if run.rps else float(seconds)
    return Sample(stored / duration, run.non_2xx, max(0, run.requests - run.non_2xx - stored))


async def _count(inbox: Inbox, verb: str) -> int:
    async with inbox:
        stats = await inbox.stats()
    return sum(stats.by_verb.get(verb, {}).values())


class Measured(NamedTuple):
    """A load's samples over the rounds: the median rate, non-2xx and duplicates summed."""

    rate: float
    non_2xx: int
    duplicates: int


def alternate(loads: dict[str, Load], rounds: int, seconds: int) -> dict[str, Measured]:
    """Measure every load once a round, in alternating order."""
    samples: dict[str, list[Sample]] = {name: [] for name in loads}
    for index in range(rounds):
        for name in list(loads) if index % 2 == 0 else list(reversed(loads)):
            samples[name].append(measure(loads[name], seconds))
    return {
        name: Measured(
            median([s.rate for s in values]),
            sum(s.non_2xx for s in values),
            sum(s.duplicates for s in values),
        )
        for name, values in samples.items()
    }


def _versus(
    benchmark: str,
    baseline: str,
    base: Measured,
    sdk: Measured,
    floor: float,
    stretch: float | None = None,
) -> Row:
    """A receiver row: its rate over the baseline's, at least ``floor``, with no non-2xx."""
    ratio = sdk.rate / base.rate
    target = f">= {floor:.2f}" + (f" (stretch {stretch:.2f})" if stretch else "")
    return {
        "benchmark": benchmark,
        "baseline": f"{baseline} {base.rate:.0f} req/s",
        "sdk": f"{sdk.rate:.0f} req/s, {sdk.non_2xx} non-2xx",
        "ratio": ratio,
        "target": f"{target}, zero non-2xx",
        "met": ratio >= floor and sdk.non_2xx == 0,
    }


def _stored(benchmark: str, baseline: str, base: Measured, inbox: Measured) -> Row:
    """An inbox row: rows stored per second, over the rate without an inbox."""
    wrapped = f", {inbox.duplicates} duplicates" if inbox.duplicates else ""
    return {
        "benchmark": benchmark,
        "baseline": f"{baseline} {base.rate:.0f} req/s",
        "sdk": f"{inbox.rate:.0f} stored/s, {inbox.non_2xx} non-2xx{wrapped}",
        "ratio": inbox.rate / base.rate,
        "target": "(reported)",
        "met": None,
    }


def bench_receiver(rounds: int, quick: bool) -> list[Row]:
    if shutil.which("wrk") is None:
        return [_skipped("webhook receiver", "wrk is not installed (benchmarks/run installs it)")]
    seconds = 2 if quick else 4
    with tempfile.TemporaryDirectory() as tmp:
        small = wrk_script(Path(tmp), "1kb", [candidate_body(1024)])
        large = wrk_script(Path(tmp), "64kb", [candidate_body(64 * 1024)])
        loads = {
            "receiver": Load("receiver", small, small),
            "receiver2": Load("receiver2", small, small),
            "reference": Load("reference", small, small),
            "bare": Load("bare", small, small),
            "receiver 64": Load("receiver", large, large),
            "reference 64": Load("reference", large, large),
        }
        got = alternate(loads, rounds, seconds)
    one, two = got["receiver"], got["receiver2"]
    # One process on one core: 1/rate is its time per delivery.
    extra_us = 1e6 / two.rate - 1e6 / one.rate
    return [
        _versus("receiver vs reference (1 KB)", "reference", got["reference"], one, 0.80, 0.90),
        _versus("receiver vs bare (1 KB)", "bare", got["bare"], one, 0.60),
        _versus(
            "receiver vs reference (64 KB)",
            "reference",
            got["reference 64"],
            got["receiver 64"],
            1.0,
        ),
        {
            "benchmark": "2 handlers vs 1 (1 KB)",
            "baseline": f"1 handler {one.rate:.0f} req/s",
            "sdk": f"{two.rate:.0f} req/s ({extra_us:+.1f} us per delivery), {two.non_2xx} non-2xx",
            "ratio": two.rate / one.rate,
            "target": "<= +20 us per delivery, zero non-2xx",
            "met": extra_us <= 20 and two.non_2xx == 0,
        },
        *bench_inbox(rounds, quick),
    ]


# -- 4. webhook inboxes under wrk ------------------------------------------------------------


def bench_inbox(rounds: int, quick: bool) -> list[Row]:
    if shutil.which("wrk") is None:
        return [_skipped("webhook inboxes", "wrk is not installed (benchmarks/run installs it)")]
    seconds = 2 if quick else 4
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        # Deduplication keys on the body alone: warm-up bodies differ from measured ones.
        warm = wrk_script(
            directory, "warm", distinct_bodies(STORE_RATE_GUESS * 3, 20_000_000), WARM_VERB
        )
        bodies = distinct_bodies(STORE_RATE_GUESS * seconds * 3, 10_000_000)
        distinct = wrk_script(directory, "distinct", bodies)
        return [
            _sqlite_inbox(directory, distinct, warm, rounds, seconds),
            _postgres_inbox(directory, distinct, warm, rounds, seconds),
        ]


def _sqlite_inbox(directory: Path, distinct: Path, warm: Path, rounds: int, seconds: int) -> Row:
    from tahdah_async.webhooks.inbox import SQLiteInbox

    def new_inbox() -> tuple[list[str], Inbox]:
        path = directory / f"inbox-{uuid.uuid4().hex}.db"
        return ["--inbox", str(path)], SQLiteInbox(path)

    loads = {
        "receiver": Load("receiver", distinct, warm),
        "sqlite": Load("receiver-sqlite", distinct, warm, new_inbox=new_inbox),
    }
    got = alternate(loads, rounds, seconds)
    return _stored(
        "SQLite inbox: deliveries stored per second (1 KB)",
        "receiver without inbox",
        got["receiver"],
        got["sqlite"],
    )


def _postgres_inbox(directory: Path, distinct: Path, warm: Path, rounds: int, seconds: int) -> Row:
    from servers import POSTGRES_DSN_VARIABLE

    from tahdah_async.webhooks.inbox import PostgresInbox
    from tests.engines.postgres import PostgresServerError, start_postgres_server

    name = "PostgreSQL inbox, 3 receivers"
    try:
        # It inherits this process's core: PostgreSQL shares the client core with wrk.
        postgres = start_postgres_server(directory / "postgres")
    except PostgresServerError as exc:
        return _skipped(name, str(exc).splitlines()[0])
    dsn = postgres.dsn

    def new_inbox() -> tuple[list[str], Inbox]:
        schema = f"bench_{uuid.uuid4().hex}"
        return ["--schema", schema], PostgresInbox(dsn, schema=schema)

    env = {POSTGRES_DSN_VARIABLE: dsn}
    loads = {
        "receiver": Load("receiver", distinct, warm, count=3),
        "postgres": Load("receiver-postgres", distinct, warm, 3, new_inbox=new_inbox, env=env),
    }
    try:
        got = alternate(loads, rounds, seconds)
    finally:
        postgres.stop()
    return _stored(
        f"{name} on one port (receivers on CPU {SERVER_CPU}; PostgreSQL, fsync off, and wrk "
        f"on CPU {CLIENT_CPU}): deliveries stored per second (1 KB)",
        "3 receivers without inbox",
        got["receiver"],
        got["postgres"],
    )


# -- 5. a batch against the fake server ------------------------------------------------------


async def batch_run(url: str, token: str, owner: int, experience: int, first: int, n: int) -> float:
    from tahdah_async import LearnerRegistration, TahdahClient
    from tahdah_async.batch import run_batch

    day = dt.date(2026, 12, 1)
    async with TahdahClient(token, base_url=url) as tahdah:

        async def register(candidate: int) -> Any:
            learner = LearnerRegistration(candidate_id=candidate, behavior=1, registration_date=day)
            return await tahdah.learning_experiences.register_learners(owner, experience, [learner])

        started = time.perf_counter()
        result = await run_batch(range(first, first + n), register, concurrency=32)
        wall = time.perf_counter() - started
    if result.counts["ok"] != n:
        raise RuntimeError(f"the batch did not register every learner: {result.counts}")
    return wall


async def raw_run(url: str, token: str, owner: int, experience: int, first: int, n: int) -> float:
    path = f"/api/learningexperiences/legalentities/{owner}/experiences/{experience}/learners"
    limit = asyncio.Semaphore(32)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:

        async def register(candidate: int) -> None:
            body = {
                "candidateIds": [
                    {"candidateId": candidate, "behavior": 1, "registrationDate": "2026-12-01"}
                ]
            }
            async with limit, session.post(url + path, json=body) as r:
                r.raise_for_status()
                await r.json()

        started = time.perf_counter()
        await asyncio.gather(*(register(c) for c in range(first, first + n)))
        return time.perf_counter() - started


def bench_batch(rounds: int, quick: bool) -> list[Row]:
    n = 2000 if quick else 10_000
    latency = 0.02
    runs = max(1, rounds // 2)
    batch: list[float] = []
    raw: list[float] = []
    with server("fake", "--latency", str(latency), "--learners", str(n * runs * 2)) as (url, extra):
        token = extra[0].removeprefix("token ")
        owner, experience, first = (int(x) for x in extra[1].removeprefix("ids ").split())
        for index in range(runs):
            base = first + index * 2 * n
            order = [("batch", base), ("raw", base + n)]
            for name, start in order if index % 2 == 0 else reversed(order):
                runner = batch_run if name == "batch" else raw_run
                wall = asyncio.run(runner(url, token, owner, experience, start, n))
                (batch if name == "batch" else raw).append(wall)
    ideal = n * latency / 32
    wall = median(batch)
    return [
        {
            "benchmark": f"batch: register {n:,} learners, 20 ms/call, c=32",
            "baseline": f"ideal {ideal:.2f} s (raw aiohttp {median(raw):.2f} s)",
            "sdk": f"{wall:.2f} s",
            "ratio": wall / ideal,
            "target": "<= 1.2 x ideal",
            "met": wall / ideal <= 1.2,
        }
    ]


# -- 6. import time --------------------------------------------------------------------------

IMPORT_PROBE = """
import time
t0 = time.perf_counter()
import aiohttp
t1 = time.perf_counter()
{statement}
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
"""


def bench_import(rounds: int, quick: bool) -> list[Row]:
    statements = {
        "import tahdah_async": "import tahdah_async",
        "from tahdah_async import TahdahClient": "from tahdah_async import TahdahClient",
        "import tahdah_async.webhooks": "import tahdah_async.webhooks",
    }
    samples: dict[str, list[float]] = {name: [] for name in statements}
    base: list[float] = []
    for _ in range(rounds * (2 if quick else 4)):
        for name, statement in statements.items():
            out = subprocess.run(
                [PYTHON, "-c", IMPORT_PROBE.format(statement=statement)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            base.append(float(out[0]))
            samples[name].append(float(out[1]))
    aiohttp_ms = median(base) * 1e3
    rows = []
    for name, values in samples.items():
        added = median(values) * 1e3
        rows.append(
            {
                "benchmark": f"import time: {name}",
                "baseline": f"import aiohttp {aiohttp_ms:.0f} ms",
                "sdk": f"+{added:.1f} ms",
                "ratio": (aiohttp_ms + added) / aiohttp_ms,
                "target": "<= +50 ms" if name == "import tahdah_async" else "(reported)",
                "met": added <= 50 if name == "import tahdah_async" else None,
            }
        )
    return rows


# -- running ---------------------------------------------------------------------------------


def _skipped(name: str, why: str) -> Row:
    return {
        "benchmark": name,
        "baseline": "-",
        "sdk": "-",
        "ratio": None,
        "target": "-",
        "met": None,
        "skipped": why,
    }


BENCHMARKS: dict[str, Callable[[int, bool], list[Row]]] = {
    "client": bench_client,
    "decode": bench_decode,
    "receiver": bench_receiver,
    "inbox": bench_inbox,
    "batch": bench_batch,
    "import": bench_import,
}
PART_OF = {"inbox": "receiver"}
"""Benchmarks another one runs too (not run twice when both are selected)."""


def machine() -> dict[str, Any]:
    versions = {}
    for package in ("aiohttp", "attrs", "cattrs", "anyio", "msgspec", "yarl", "multidict"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "absent"
    wrk = shutil.which("wrk")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "pinning": (
            f"servers on CPU {SERVER_CPU}, clients on CPU {CLIENT_CPU}"
            if len(CORES) > 1
            else "one core: no pinning"
        ),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": versions,
        "wrk": subprocess.run([wrk, "--version"], capture_output=True, text=True).stdout.split(
            "\n"
        )[0]
        if wrk
        else "absent",
    }


def _first_line(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True).stdout.split("\n")[0]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def table(rows: list[Row]) -> str:
    lines = [
        "| benchmark | baseline | tahdah_async | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.3f}"
        met = {True: "yes", False: "**no**", None: "-"}[row["met"]]
        if row.get("skipped"):
            met = f"skipped: {row['skipped']}"
        lines.append(
            f"| {row['benchmark']} | {row['baseline']} | {row['sdk']} | {ratio} | "
            f"{row['target']} | {met} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    parser.add_argument("--only", nargs="*", choices=list(BENCHMARKS), help="run only these")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per benchmark")
    parser.add_argument("--json", type=Path, default=HERE / "results.json", help="write here")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 5)
    sys.path.insert(0, str(HERE))
    sys.path.insert(1, str(HERE.parent))  # tests.engines starts the PostgreSQL server
    pin_self()
    gc.collect()
    rows: list[Row] = []
    names = args.only or list(BENCHMARKS)
    for name in [name for name in names if PART_OF.get(name) not in names]:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows.extend(BENCHMARKS[name](rounds, args.quick))
    described = machine()
    print(
        f"\n{described['cpu']}, {described['cores']} cores ({described['pinning']}), "
        f"Python {described['python']}, aiohttp {described['packages']['aiohttp']}\n"
    )
    print(table(rows))
    report = {"machine": described, "rounds": rounds, "quick": args.quick, "results": rows}
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
