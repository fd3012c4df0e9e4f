"""The ``tahdah`` commands: parsing with click, output with rich, exit codes in one place."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import click
from aiohttp import web
from click.shell_completion import CompletionItem
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text
from yarl import URL

from .. import errors
from .._base_client import check_token
from .._client import DEFAULT_BASE_URL, TahdahClient
from .._routes import ROUTE_MARKS, ROUTES, Route
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
from ..batch._report import describe
from ..testing.fake import DEFAULT_SECRET, FakeTahdah
from ..testing.webhooks import deliver_webhook
from ..webhooks import Delivery, WebhookRouter, create_webhook_app
from ..webhooks.app import SIGNATURE_HEADER, VERB_HEADER
from . import EXIT_AUTH, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE

__all__ = ["cli", "run"]

T = TypeVar("T")

_ANSWER = 2000  # the longest text answer of a receiver printed, in characters

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


SECRET_ENV: Final = "TAHDAH_WEBHOOK_SECRET"
"""Where the webhook commands find the signing secret when none is given."""

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
    except SystemExit as exc:
        # Only shell completion (_TAHDAH_COMPLETE) exits from inside click's main.
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
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


# click.ParamType takes type arguments only from click 8.2 on, and the cli extra allows 8.1.
class Credential(click.ParamType):  # type: ignore[type-arg]
    """A token or secret option: checked for a sendable shape, never shown in a message, and
    missing with a message that names its environment variable.

    Args:
        env: the environment variable the option also reads.
    """

    name = "text"

    def __init__(self, env: str | None, *, header: bool = True) -> None:
        self.env = env
        self.header = header

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """Return ``value`` if it can be used (sent in a header, for a ``header`` one)."""
        if not isinstance(value, str) or not value:
            self.fail("it must not be empty", param, ctx)
        if self.header:
            try:
                check_token(value, "it")
            except ValueError as exc:
                self.fail(str(exc), param, ctx)
        return value

    def get_missing_message(self, param: click.Parameter, ctx: click.Context | None) -> str:
        """Name the environment variable as the other way to give it."""
        if self.env is None:
            return ""
        return f"Give {param.opts[0]} or set the {self.env} environment variable."


VERBOSE_HELP: Final = "Log retries (-v) or every request (-vv); before or after the command."
_VERBOSITY: Final = "tahdah.verbosity"
_OWN_LOG_HANDLER: Final = "tahdah.log_handler"


def _verbosity(ctx: click.Context, param: click.Parameter, value: int) -> None:
    """Add this command's ``-v`` count to the whole command line's and set the log level."""
    if not value:
        return
    meta = ctx.find_root().meta
    total = meta[_VERBOSITY] = meta.get(_VERBOSITY, 0) + value
    level = logging.DEBUG if total > 1 else logging.INFO
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        meta[_OWN_LOG_HANDLER] = True
    elif meta.get(_OWN_LOG_HANDLER):
        root.setLevel(level)  # a -v after the command, when one came before it too


def verbose_option() -> click.Option:
    """The ``-v`` option, which every group and command of ``tahdah`` takes."""
    return click.Option(
        ["-v", "--verbose"],
        count=True,
        expose_value=False,
        callback=_verbosity,
        help=VERBOSE_HELP,
    )


def _add_verbose_option(command: click.Command) -> None:
    if not any(param.name == "verbose" for param in command.params):
        command.params.append(verbose_option())
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_verbose_option(sub)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tahdah")
def cli() -> None:
    """Work with the Tahdah API from the command line, or try it offline with `tahdah demo`."""


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
@click.option(
    "--token",
    type=Credential(None),
    help="The API key the fake accepts (default: a new random one, printed at start).",
)
@click.option("--secret", default=DEFAULT_SECRET, show_default=True, help="Webhook secret.")
@click.option("--webhook-url", "webhook_urls", multiple=True, help="Send webhooks here.")
@click.option("--latency", default=0.0, type=click.FloatRange(0), help="Seconds per call.")
def fake_server(
    host: str,
    port: int,
    token: str | None,
    secret: str,
    webhook_urls: tuple[str, ...],
    latency: float,
) -> None:
    """Serve a stateful fake Tahdah API until interrupted, for developing against it.

    Each request handled and each webhook attempt is logged on stderr, one line each.
    Ctrl-C exits 130, SIGTERM 0.
    """

    async def serve() -> int:
        fake = FakeTahdah(
            secret=secret, webhook_urls=webhook_urls, host=host, port=port, latency=latency
        )
        if token is not None:
            # The key given replaces the random one, so a script knows it before the start.
            del fake.state.tokens[fake.token]
            fake.state.tokens[token] = fake.owner_id
        fake.app.middlewares.append(log_requests)
        try:
            await fake.start()
        except OSError as exc:
            raise Failed(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_USAGE) from None
        (experience,) = fake.seed(experiences=[{"name": "Sample experience"}]).experiences
        try:
            say(f"fake Tahdah API listening on {fake.url}")
            shown = "the one given with --token" if token is not None else fake.token
            say(f"token: {shown}  (acts for legal entity {fake.owner_id})")
            say(f"learning experience {experience} is ready for import-learners")
            for url in webhook_urls:
                say(f"webhooks go to {url}")
            say("stop with Ctrl-C")
            with webhook_attempts_logged():
                stopped_by = await until_stopped()
            count = len(fake.requests)
            say(f"stopped after {count} request{'' if count == 1 else 's'}")
        finally:
            await fake.stop()
        return stopped_by

    interrupted(execute(serve()))


@web.middleware
async def log_requests(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    """Log each request the fake server handles on stderr: method, path and status."""
    status: int | str = "failed"
    try:
        response: web.StreamResponse = await handler(request)
        dropped = request.transport is None or request.transport.is_closing()
        status = "dropped" if dropped else response.status
        return response
    except web.HTTPException as exc:  # no such route, or a method it does not take
        status = exc.status
        raise
    finally:
        # The path is the client's: bounded, and with no control character left in it.
        note(f"{request.method} {peer_text(request.path_qs, limit=400)} -> {status}")


class _StderrLines(logging.Handler):
    """Writes each record's message alone, as a line on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            note(record.getMessage())
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def webhook_attempts_logged() -> Iterator[None]:
    """Show the fake's webhook log (a line per attempt, and each one given up) on stderr."""
    logger = logging.getLogger("tahdah_async.testing")
    handler = _StderrLines(logging.DEBUG)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # with -v, not a second time through the root logger
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def interrupted(stopped_by: int) -> None:
    """End a serving command that ``stopped_by`` a signal: Ctrl-C is an interruption (130)."""
    if stopped_by == signal.SIGINT:
        raise click.Abort


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
    help=f"Signing secret (repeat during a rotation; default: env {SECRET_ENV}).",
)
def listen(host: str, port: int, secrets: tuple[str, ...]) -> None:
    """Receive webhooks, verify their signatures and print them.

    A rejected delivery is printed with the reason for it, and a duplicate as such.
    """
    secrets = secrets or _env_secret()
    if not secrets:
        raise click.UsageError(f"give the signing secret with --secret or {SECRET_ENV}")
    router = WebhookRouter()

    @router.on_any
    async def show(event: Any, delivery: Delivery) -> None:
        payload = json.loads(delivery.body) if delivery.body.strip() else None
        verb = peer_text(delivery.verb, secrets=secrets, limit=128)
        say(f"verified {verb} (secret #{delivery.secret_index})")
        say_json(payload)

    @web.middleware
    async def report_answers(
        request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        response: web.StreamResponse = await handler(request)
        answer = _answer_of(response)
        what = answer.get("status")
        if response.status >= 400 or what == "duplicate":
            # The verb is the sender's header, and neither it nor the reason may bring
            # control characters (terminal escapes) to the terminal.
            verb = peer_text(request.headers.get(VERB_HEADER, "?"), secrets=secrets, limit=128)
            if what == "duplicate":
                say(f"duplicate {verb}: already processed here, so the handlers did not run")
            else:
                reason = peer_text(response.reason or "", secrets=secrets, limit=128)
                why = peer_text(_rejection(answer, request), secrets=secrets, limit=300)
                say(f"rejected {verb}: {response.status} {reason}" + (f", {why}" if why else ""))
        return response

    async def serve() -> int:
        app = create_webhook_app(router, secrets=list(secrets))
        app.middlewares.append(report_answers)
        async with serving(app, host, port) as url:
            say(f"listening for webhooks on {url}")
            say("stop with Ctrl-C")
            return await until_stopped()

    interrupted(execute(serve()))


_REASONS: Final = {
    "invalid_signature": "the signature does not match the secret",
    "unauthorized": "the Authorization header is not the configured one",
    "missing_verb": f"no {VERB_HEADER} header",
    "invalid_json": "the body is not JSON",
    "invalid_payload": "the payload does not fit its event",
    "payload_too_large": "the body is over the size limit",
    "body_timeout": "the body did not arrive in time",
    "method_not_allowed": "only POST is accepted",
    "handler_failed": "a handler failed (the sender should retry)",
    "in_progress": "another copy of it is being handled",
    "unknown_verb": "no handler takes this verb",
    "shutting_down": "the receiver is stopping",
    "dedupe_unavailable": "the deduplication store cannot be reached",
}
"""What each ``status`` word of the receiver's answer means, as ``listen`` prints it."""


def _env_secret() -> tuple[str, ...]:
    # The whole value is one secret, as for `webhooks send` and `webhooks serve`.
    value = os.environ.get(SECRET_ENV, "")
    return (value,) if value else ()


def _answer_of(response: web.StreamResponse) -> dict[str, Any]:
    """A receiver's JSON answer, such as ``{"status": "duplicate"}`` (``{}`` if it is not)."""
    body = response.body if isinstance(response, web.Response) else None
    if not isinstance(body, bytes):
        return {}
    try:
        answer = json.loads(body)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _rejection(answer: dict[str, Any], request: web.Request) -> str:
    """Why the receiver refused a delivery, in words, from its answer's ``status`` word."""
    what = answer.get("status")
    if not isinstance(what, str):
        return ""
    if what == "invalid_signature" and SIGNATURE_HEADER not in request.headers:
        return f"no {SIGNATURE_HEADER} header"
    detail = answer.get("detail")  # the receiver's own account, when it gives one
    if isinstance(detail, str) and detail:
        return detail
    return _REASONS.get(what, what.replace("_", " "))


@webhooks.command()
@click.option("--url", required=True, callback=http_url, help="The receiver's URL.")
@click.option(
    "--secret",
    required=True,
    envvar=SECRET_ENV,
    type=Credential(SECRET_ENV, header=False),
    help=f"The signing secret (env {SECRET_ENV}, as for listen and serve).",
)
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
                say_json(reply.body)
        return reply.status

    status = execute(deliver())
    if not 200 <= status < 300:
        raise Failed(f"the receiver answered {status}")


# -- API calls -----------------------------------------------------------------------------


TOKEN_ENV: Final = "TAHDAH_TOKEN"


def token_option(*, required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--token`` option (or ``TAHDAH_TOKEN``) of the commands that talk to the API."""
    return click.option(
        "--token",
        envvar=TOKEN_ENV,
        required=required,
        type=Credential(TOKEN_ENV),
        help=f"The API key (better: env {TOKEN_ENV}, kept out of the process list).",
    )


def base_url_option() -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--base-url`` (env ``TAHDAH_BASE_URL``)."""
    return click.option(
        "--base-url",
        envvar="TAHDAH_BASE_URL",
        default=DEFAULT_BASE_URL,
        show_default=True,
        callback=http_url,
        help="The API's base URL (env TAHDAH_BASE_URL).",
    )


def api_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that talks to the API shares."""
    return token_option()(base_url_option()(command))


def complete_operation(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Complete an operation name of the route table, with its route as the help."""
    return [
        CompletionItem(name, help=str(route))
        for name, route in ROUTES.items()
        if name.startswith(incomplete)
    ]


_BARE: Final = "\0"
"""What ``--json`` holds when given without a value (no argument can hold a NUL)."""


@cli.command()
@click.argument("operation", required=False, shell_complete=complete_operation)
@click.option(
    "--param",
    "-p",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A path or query placeholder of the route, such as legalEntityId=1001.",
)
@click.option(
    "--json",
    "body",
    is_flag=False,
    flag_value=_BARE,
    metavar="[BODY]",
    help=(
        "The request body, as JSON text. Without BODY: print only JSON (an empty answer as "
        "null, and --list as a JSON list)."
    ),
)
@click.option("--list", "list_only", is_flag=True, help="List the operations and exit.")
@base_url_option()
@token_option(required=False)  # --list needs none
@click.pass_context
def call(
    ctx: click.Context,
    operation: str | None,
    params: tuple[str, ...],
    body: str | None,
    list_only: bool,
    token: str | None,
    base_url: str,
) -> None:
    """Call any operation of the route table (such as trust_groups.list); print the JSON.

    `tahdah call --list` lists the operations, with their routes and how much of each the
    API documentation confirms (D) or the SDK chose (P).
    """
    as_json = body == _BARE
    if as_json:
        body = None
    if list_only:
        if as_json:
            say_json(operations_json())
        else:
            for line in operation_lines():
                say(line)
        return
    if operation is None:
        raise click.MissingParameter(
            "Name one, or see them with --list.",
            ctx=ctx,
            param_hint="'OPERATION'",
            param_type="argument",
        )
    route = ROUTES.get(operation)
    if route is None:
        close = difflib.get_close_matches(operation, ROUTES, n=3)
        hint = f"did you mean {' or '.join(close)}? " if close else ""
        raise click.UsageError(
            f"unknown operation {operation!r}; {hint}the operations are: "
            + ", ".join(sorted(ROUTES))
        )
    if token is None:
        raise click.MissingParameter(ctx=ctx, param=_param(ctx, "token"))
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
    if result is not None or as_json:
        say_json(result)


def _param(ctx: click.Context, name: str) -> click.Parameter:
    return next(param for param in ctx.command.params if param.name == name)


def operations_json() -> list[dict[str, str]]:
    """The operations as ``tahdah call --list --json`` prints them, in route-table order."""
    return [
        {
            "operation": name,
            "method": route.method,
            "path": str(route).partition(" ")[2],
            "mark": ROUTE_MARKS[name],
        }
        for name, route in ROUTES.items()
    ]


def operation_lines() -> list[str]:
    """The operations as ``tahdah call --list`` prints them: a line each, in aligned columns."""
    columns = ("operation", "method", "path", "mark")
    rows = [columns, *(tuple(row[key] for key in columns) for row in operations_json())]
    widths = [max(len(row[index]) for row in rows) for index in range(len(columns) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]


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
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the counts and every learner's outcome as JSON (and no progress bar).",
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
    as_json: bool,
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
        # With --json, stdout holds the JSON alone.
        (note if as_json else say)(
            f"resuming from {report}: {len(done_keys(earlier))} already done"
        )

    async def work() -> BatchResult[Any, Any]:
        async with TahdahClient(token, base_url=base_url) as client:
            with progress_bar("importing learners", len(learners), shown=not as_json) as update:
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
    if as_json:
        say_json(outcomes_json(result))
    else:
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
            # A Text cell: the API's words must not be read as rich markup.
            table.add_row(outcome, str(count), Text(first))
    return table


def outcomes_json(result: BatchResult[Any, Any]) -> dict[str, Any]:
    """The JSON ``tahdah import-learners --json`` prints: counts, then every learner in file
    order, with its candidate and registration ids when it was imported now, or its error."""
    learners = []
    for item in result.results:
        shown: dict[str, Any] = {"key": item.key, "line": item.item.line, "outcome": item.outcome}
        imported = item.value
        if imported is not None:
            shown["candidate_id"] = imported.candidate_id
            shown["candidate_experience_id"] = imported.candidate_experience_id or None
        if item.error is not None:
            shown["error"] = describe(item.error)
        learners.append(shown)
    stopped = result.stopped_by
    return {
        "complete": result.complete,
        "counts": dict(result.counts),
        "stopped_by": None if stopped is None else describe(stopped),
        "learners": learners,
    }


@contextlib.contextmanager
def progress_bar(label: str, total: int, *, shown: bool = True) -> Iterator[Any]:
    """A rich progress bar; yields the batch ``progress`` callback that advances it.

    Not ``shown``, it is drawn on stderr when that is a terminal, and else not at all.
    """
    console = out if shown else err
    if not shown and not err.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=not shown,
    )
    task = bar.add_task(label, total=total)

    def update(progress: BatchProgress) -> None:
        bar.update(task, completed=progress.finished)

    with bar:
        yield update


# -- helpers -------------------------------------------------------------------------------


def say(text: str) -> None:
    """Print a plain line to stdout now (flushed: other programs read it as it comes)."""
    out.print(text, markup=False, emoji=False)
    out.file.flush()


def say_json(value: Any) -> None:
    """Print ``value`` to stdout as :func:`terminal_json`, exactly (no rich rendering)."""
    stream = out.file
    stream.write(terminal_json(value) + "\n")
    stream.flush()


def note(text: str) -> None:
    """Write a plain line to stderr now (a log line, or what must stay out of stdout)."""
    stream = err.file
    stream.write(text + "\n")
    stream.flush()


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


async def until_stopped() -> int:
    """Wait for Ctrl-C or SIGTERM; return the signal that came."""
    stop: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()

    def stopped(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stopped, sig)
    try:
        return await stop
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

_add_verbose_option(cli)
