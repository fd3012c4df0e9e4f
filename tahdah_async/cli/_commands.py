"""The ``tahdah`` commands: parsing with click, output with rich, exit codes in one place."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import click
from aiohttp import web
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from yarl import URL

from .. import errors
from .._client import DEFAULT_BASE_URL, TahdahClient
from .._routes import ROUTES, Route
from .._untrusted import peer_text
from .._version import __version__
from ..batch import (
    BatchResult,
    LearnerFileError,
    Throttle,
    done_keys,
    import_learners,
    read_learners,
    resume_rows,
)
from ..batch import Progress as BatchProgress
from ..testing.fake import DEFAULT_SECRET, FakeTahdah
from ..testing.webhooks import deliver_webhook
from ..webhooks import Delivery, WebhookRouter, create_webhook_app
from . import EXIT_AUTH, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

__all__ = ["cli", "run"]

T = TypeVar("T")

_ANSWER = 2000  # the longest text answer of a receiver printed, in characters

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


AUTH_HINT = "check the API key given with --token or TAHDAH_TOKEN, and whom it may act for"


class Failed(Exception):
    """A command's failure: a message for stderr and an exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def run(argv: list[str]) -> int:
    """Run the command line; return the exit code."""
    try:
        cli.main(args=argv, prog_name="tahdah", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return EXIT_USAGE if isinstance(exc, click.UsageError) else exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        err.print("interrupted")
        return EXIT_INTERRUPTED
    except Failed as exc:
        err.print(f"error: {exc}", markup=False)
        return exc.code
    return EXIT_OK


def execute(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning SDK and input errors into :class:`Failed`."""
    try:
        return asyncio.run(coroutine)
    except errors.APIStatusError as exc:
        if isinstance(exc, errors.AuthenticationError | errors.PermissionDeniedError):
            raise Failed(f"{exc}\n{AUTH_HINT}", EXIT_AUTH) from None
        raise Failed(str(exc)) from None
    except errors.APIConnectionError as exc:
        raise Failed(str(exc), EXIT_UNREACHABLE) from None
    except errors.TahdahError as exc:
        raise Failed(str(exc)) from None
    except (LearnerFileError, FileNotFoundError, IsADirectoryError) as exc:
        raise Failed(str(exc), EXIT_USAGE) from None


def http_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Check that an option is an absolute http(s) URL."""
    if value is None:
        return None
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise click.BadParameter(f"{value!r} is not an absolute http(s) URL")
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tahdah")
@click.option("-v", "--verbose", count=True, help="Log retries (-v) or every request (-vv).")
def cli(verbose: int) -> None:
    """Work with the Tahdah API from the command line, or try it offline with `tahdah demo`."""
    if verbose:
        logging.basicConfig(
            level=logging.DEBUG if verbose > 1 else logging.INFO,
            format="%(levelname)s %(name)s: %(message)s",
        )


# -- demo ----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--learners",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A learners CSV to import (default: the bundled examples/data/learners.csv).",
)
def demo(learners: Path | None) -> None:
    """Run a whole integration offline: fake server, client, batch import and webhooks."""
    from ._demo import run_demo

    summary = execute(run_demo(out, learners))
    if not summary.ok:
        raise Failed(summary.problem)


# -- fake server ---------------------------------------------------------------------------


@cli.command("fake-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--secret", default=DEFAULT_SECRET, show_default=True, help="Webhook secret.")
@click.option("--webhook-url", "webhook_urls", multiple=True, help="Send webhooks here.")
@click.option("--latency", default=0.0, type=click.FloatRange(0), help="Seconds per call.")
def fake_server(
    host: str, port: int, secret: str, webhook_urls: tuple[str, ...], latency: float
) -> None:
    """Serve a stateful fake Tahdah API until interrupted, for developing against it."""

    async def serve() -> None:
        fake = FakeTahdah(
            secret=secret, webhook_urls=webhook_urls, host=host, port=port, latency=latency
        )
        try:
            await fake.start()
        except OSError as exc:
            raise Failed(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_USAGE) from None
        (experience,) = fake.seed(experiences=[{"name": "Sample experience"}]).experiences
        try:
            say(f"fake Tahdah API listening on {fake.url}")
            say(f"token: {fake.token}  (acts for legal entity {fake.owner_id})")
            say(f"learning experience {experience} is ready for import-learners")
            for url in webhook_urls:
                say(f"webhooks go to {url}")
            say("stop with Ctrl-C")
            await until_stopped()
            count = len(fake.requests)
            say(f"stopped after {count} request{'' if count == 1 else 's'}")
        finally:
            await fake.stop()

    execute(serve())


# -- webhooks ------------------------------------------------------------------------------


@cli.group()
def webhooks() -> None:
    """Receive webhooks into an inbox (serve), or send and listen to signed ones in development."""


@webhooks.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Where to listen.")
@click.option("--port", default=8081, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    envvar="TAHDAH_WEBHOOK_SECRET",
    help="Signing secret (repeat during a rotation; env TAHDAH_WEBHOOK_SECRET).",
)
def listen(host: str, port: int, secrets: tuple[str, ...]) -> None:
    """Receive webhooks, verify their signatures and print them."""
    if not secrets:
        raise click.UsageError("give the signing secret with --secret or TAHDAH_WEBHOOK_SECRET")
    router = WebhookRouter()

    @router.on_any
    async def show(event: Any, delivery: Delivery) -> None:
        payload = json.loads(delivery.body) if delivery.body.strip() else None
        verb = peer_text(delivery.verb, secrets=secrets, limit=128)
        say(f"verified {verb} (secret #{delivery.secret_index})")
        say(terminal_json(payload))

    @web.middleware
    async def report_rejections(
        request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        if response.status >= 400:
            # The verb is the sender's header, and neither it nor the reason may bring
            # control characters (terminal escapes) to the terminal.
            verb = peer_text(request.headers.get("Webhook-Verb", "?"), secrets=secrets, limit=128)
            reason = peer_text(response.reason or "", secrets=secrets, limit=128)
            say(f"rejected {verb}: {response.status} {reason}")
        return response

    async def serve() -> None:
        app = create_webhook_app(router, secrets=list(secrets))
        app.middlewares.append(report_rejections)
        async with serving(app, host, port) as url:
            say(f"listening for webhooks on {url}")
            say("stop with Ctrl-C")
            await until_stopped()

    execute(serve())


@webhooks.command()
@click.option("--url", required=True, callback=http_url, help="The receiver's URL.")
@click.option("--secret", required=True, envvar="TAHDAH_WEBHOOK_SECRET", help="The signing secret.")
@click.option("--verb", required=True, help="The Webhook-Verb, such as candidates.created.")
@click.option(
    "--file",
    "payload_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file to send.",
)
@click.option("--json", "payload_json", help="JSON text to send.")
def send(
    url: str, secret: str, verb: str, payload_file: Path | None, payload_json: str | None
) -> None:
    """Sign a JSON payload and deliver it to a receiver; print its answer."""
    if (payload_file is None) == (payload_json is None):
        raise click.UsageError("give exactly one of --file and --json")
    if payload_file is not None:
        try:
            text, source = payload_file.read_text(encoding="utf-8"), str(payload_file)
        except UnicodeDecodeError:
            raise Failed(f"{payload_file} is not UTF-8 text", EXIT_USAGE) from None
    else:
        text, source = str(payload_json), "--json"
    payload = parse_json(text, source)

    async def deliver() -> int:
        try:
            reply = await deliver_webhook(url, verb, payload, secret=secret)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            # aiohttp's message can quote the receiver's bytes (a malformed status line).
            shown = peer_text(str(exc), secrets=(secret,))
            raise Failed(f"could not deliver to {url}: {shown}", EXIT_UNREACHABLE) from None
        say(f"{reply.status}")
        if reply.body not in (None, ""):
            # The answer is the receiver's own bytes: bounded text, or JSON with every
            # control character escaped.
            if isinstance(reply.body, str):
                say(peer_text(reply.body, secrets=(secret,), limit=_ANSWER))
            else:
                say(terminal_json(reply.body))
        return reply.status

    status = execute(deliver())
    if not 200 <= status < 300:
        raise Failed(f"the receiver answered {status}")


# -- API calls -----------------------------------------------------------------------------


def api_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that talks to the API shares."""
    command = click.option(
        "--base-url",
        envvar="TAHDAH_BASE_URL",
        default=DEFAULT_BASE_URL,
        show_default=True,
        callback=http_url,
        help="The API's base URL (env TAHDAH_BASE_URL).",
    )(command)
    return click.option(
        "--token",
        envvar="TAHDAH_TOKEN",
        required=True,
        help="The API key (better: env TAHDAH_TOKEN, kept out of the process list).",
    )(command)


@cli.command()
@click.argument("operation")
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A path or query placeholder of the route, such as legalEntityId=1001.",
)
@click.option("--json", "body", help="The request body, as JSON text.")
@api_options
def call(
    operation: str, params: tuple[str, ...], body: str | None, token: str, base_url: str
) -> None:
    """Call any operation of the route table (such as trust_groups.list); print the JSON."""
    route = ROUTES.get(operation)
    if route is None:
        close = difflib.get_close_matches(operation, ROUTES, n=3)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise click.UsageError(
            f"unknown operation {operation!r}; {hint}the operations are: "
            + ", ".join(sorted(ROUTES))
        )
    values: dict[str, str] = {}
    for param in params:
        name, sep, value = param.partition("=")
        if not sep or not name:
            raise click.UsageError(f"--param wants NAME=VALUE, got {param!r}")
        values[name.strip()] = value
    path, query = build(route, values)
    data = None if body is None else parse_json(body, "--json")

    async def send_call() -> Any:
        async with TahdahClient(token, base_url=base_url) as client:
            method = client.routes[operation].method
            return await client.request(method, path, params=dict(query), json=data)

    result = execute(send_call())
    if result is not None:
        say(terminal_json(result))


def build(route: Route, values: dict[str, str]) -> tuple[str, list[tuple[str, str]]]:
    placeholders = route.placeholders
    unknown = sorted(set(values) - placeholders)
    if unknown:
        raise click.UsageError(
            f"{unknown[0]!r} is not a placeholder of {route}; "
            f"it has: {', '.join(sorted(placeholders)) or 'none'}"
        )
    in_query = {placeholder for _, placeholder in route.query}
    missing = sorted(name for name in placeholders - in_query if name not in values)
    if missing:
        raise click.UsageError(f"missing --param {missing[0]}=... for {route}")
    try:
        return route.build(values)
    except (TypeError, ValueError) as exc:
        raise click.UsageError(str(exc)) from None


# -- batch ---------------------------------------------------------------------------------


@cli.command("import-learners")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--legal-entity", required=True, type=click.IntRange(1), help="Registering entity.")
@click.option("--experience", required=True, type=click.IntRange(1), help="The experience.")
@click.option("--behavior", type=int, help="Behaviour code for rows without a behavior column.")
@click.option("--concurrency", default=8, show_default=True, type=click.IntRange(1, 256))
@click.option("--chunk-size", default=100, show_default=True, type=click.IntRange(1))
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write a report here (CSV, or JSON lines for .jsonl); resumes from it if it exists.",
)
@api_options
def import_learners_command(
    file: Path,
    legal_entity: int,
    experience: int,
    behavior: int | None,
    concurrency: int,
    chunk_size: int,
    report: Path | None,
    token: str,
    base_url: str,
) -> None:
    """Create the learners of a CSV file as candidates and register them on an experience."""
    try:
        learners = read_learners(file)
    except LearnerFileError as exc:
        raise Failed(str(exc), EXIT_USAGE) from None
    missing = [item.key for item in learners if item.behavior is None]
    if missing and behavior is None:
        raise click.UsageError(
            f"learner {missing[0]!r} has no behavior column value: add one or pass --behavior"
        )
    resume = report is not None  # the report is also what a rerun resumes from
    try:
        earlier = resume_rows(resume, report=report)
    except ValueError as exc:
        raise Failed(str(exc), EXIT_USAGE) from None
    if earlier:
        say(f"resuming from {report}: {len(done_keys(earlier))} already done")

    async def work() -> BatchResult[Any, Any]:
        async with TahdahClient(token, base_url=base_url) as client:
            with progress_bar("importing learners", len(learners)) as update:
                return await import_learners(
                    client,
                    legal_entity,
                    experience,
                    learners,
                    behavior=behavior,
                    concurrency=Throttle(concurrency),
                    chunk_size=chunk_size,
                    report=report,
                    resume=resume,
                    progress=update,
                )

    result = execute(work())
    out.print(outcome_table(result))
    if isinstance(result.stopped_by, errors.AuthenticationError | errors.PermissionDeniedError):
        raise Failed(f"{result.stopped_by}\n{AUTH_HINT}", EXIT_AUTH)
    if not result.complete:
        raise Failed(f"{len(result.results) - sum(r.done for r in result.results)} not imported")


def outcome_table(result: BatchResult[Any, Any]) -> Table:
    """A table of a batch's outcomes, with the first errors."""
    table = Table(title="outcomes")
    table.add_column("outcome")
    table.add_column("learners", justify="right")
    table.add_column("first error", overflow="fold")
    for outcome, count in result.counts.items():
        if count:
            first = next(
                (str(r.error) for r in result.by_outcome(outcome) if r.error is not None), ""
            )
            table.add_row(outcome, str(count), first)
    return table


@contextlib.contextmanager
def progress_bar(label: str, total: int) -> Any:
    """A rich progress bar; yields the batch ``progress`` callback that advances it."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    )
    task = bar.add_task(label, total=total)

    def update(progress: BatchProgress) -> None:
        bar.update(task, completed=progress.finished)

    with bar:
        yield update


# -- helpers -------------------------------------------------------------------------------


def say(text: str) -> None:
    """Print a plain line to stdout now (flushed: other programs read it as it comes)."""
    out.print(text, markup=False)
    out.file.flush()


def terminal_json(value: Any) -> str:
    """``value`` as indented JSON that is safe to print to a terminal.

    Text stays readable (``café``, not ``caf\\u00e9``), but every character a terminal could act
    on is a ``\\uXXXX`` escape: ``json.dumps`` escapes only C0 controls, and a C1 control
    (U+009B is a CSI), DEL, or a bidirectional override would otherwise reach the terminal.
    """
    text = json.dumps(value, indent=2, ensure_ascii=False)
    # Outside strings json.dumps writes only printable characters and the indent's newlines.
    return "".join(c if c == "\n" or c.isprintable() else _json_escape(c) for c in text)


def _json_escape(char: str) -> str:
    code = ord(char)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def parse_json(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise Failed(f"{source} is not valid JSON: {exc}", EXIT_USAGE) from None


async def until_stopped() -> None:
    """Wait for Ctrl-C or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


@contextlib.asynccontextmanager
async def serving(app: web.Application, host: str, port: int) -> AsyncIterator[str]:
    """Serve an aiohttp app; yield its URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise Failed(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_USAGE) from None
        bound = runner.addresses[0]
        yield f"http://{bound[0]}:{bound[1]}/"
    finally:
        await runner.cleanup()


# The inbox commands live in their own module; importing it registers them on these groups.
from . import _inbox  # noqa: E402, F401
