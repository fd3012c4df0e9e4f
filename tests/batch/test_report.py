"""Batch reports: written row by row as CSV or JSON lines, read back to resume from."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from aioresponses import aioresponses

from tahdah_async import RetryPolicy, TahdahClient
from tahdah_async.batch import (
    DONE_OUTCOMES,
    ItemResult,
    ReportRow,
    ReportWriter,
    done_keys,
    read_report,
    run_batch,
)
from tahdah_async.models import Candidate
from tests.conftest import BASE_URL, TOKEN, RecordingSleep


@attrs.frozen
class Made:
    id: int


class NoId:
    pass


RESULTS: list[ItemResult[Any, Any]] = [
    ItemResult("a", "A", "ok", value="cand-1"),
    ItemResult("b", "B", "ok", value=42),
    ItemResult("c", "C", "ok", value=Made(7)),
    ItemResult("d", "D", "ok", value=NoId()),
    ItemResult("e", "E", "failed", error=ValueError("no such\n  experience")),
    ItemResult("f", "F", "failed", error=TimeoutError()),
    ItemResult("g", "G", "skipped"),
    ItemResult("h", "H", "cancelled"),
]
ROWS = {
    "a": ReportRow("a", "ok", "cand-1"),
    "b": ReportRow("b", "ok", "42"),
    "c": ReportRow("c", "ok", "7"),
    "d": ReportRow("d", "ok", ""),
    "e": ReportRow("e", "failed", "", "ValueError: no such experience"),
    "f": ReportRow("f", "failed", "", "TimeoutError"),
    "g": ReportRow("g", "skipped"),
    "h": ReportRow("h", "cancelled"),
}


@pytest.mark.parametrize("name", ["report.csv", "report.jsonl", "report.ndjson", "REPORT.JSONL"])
def test_every_row_reads_back_as_written(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with ReportWriter(path) as report:
        for result in RESULTS:
            report.record(result)

    assert read_report(path) == ROWS
    assert done_keys(read_report(path)) == {"a", "b", "c", "d", "g"}


def test_the_csv_report_has_one_header_and_a_row_per_result(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    with ReportWriter(path) as report:
        report.record(RESULTS[0])
        report.record(RESULTS[4])

    assert path.read_text(encoding="utf-8").splitlines() == [
        "item,outcome,id,error",
        "a,ok,cand-1,",
        "e,failed,,ValueError: no such experience",
    ]


def test_the_jsonl_report_is_one_object_per_line(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    with ReportWriter(path) as report:
        report.record(RESULTS[1])
        report.record(RESULTS[6])

    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"item": "b", "outcome": "ok", "id": "42", "error": ""},
        {"item": "g", "outcome": "skipped", "id": "", "error": ""},
    ]


def test_a_format_can_be_forced_whatever_the_name(tmp_path: Path) -> None:
    path = tmp_path / "report.log"
    with ReportWriter(path, format="jsonl") as report:
        report.record(RESULTS[0])

    assert json.loads(path.read_text(encoding="utf-8")) == {
        "item": "a",
        "outcome": "ok",
        "id": "cand-1",
        "error": "",
    }


def test_an_unknown_format_is_refused_before_the_file_is_made(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    with pytest.raises(ValueError, match="unknown report format 'xml'"):
        ReportWriter(path, format="xml")  # type: ignore[arg-type]

    assert not path.exists()


@pytest.mark.parametrize("name", ["report.csv", "report.jsonl"])
def test_a_rerun_appends_and_the_last_row_of_an_item_wins(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    with ReportWriter(path) as first:
        first.write(ReportRow("a", "failed", "", "InternalServerError: 503"))
        first.write(ReportRow("b", "ok", "2"))
    with ReportWriter(path) as second:
        second.write(ReportRow("a", "ok", "1"))

    text = path.read_text(encoding="utf-8")
    assert text.count("item,outcome,id,error") == (1 if name.endswith(".csv") else 0)
    assert len(text.splitlines()) == (4 if name.endswith(".csv") else 3)
    assert read_report(path) == {"a": ReportRow("a", "ok", "1"), "b": ReportRow("b", "ok", "2")}


def test_an_empty_csv_file_gets_a_header(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.touch()

    with ReportWriter(path) as report:
        report.write(ReportRow("a", "ok"))

    assert path.read_text(encoding="utf-8").splitlines() == ["item,outcome,id,error", "a,ok,,"]


def test_each_row_is_flushed_as_it_is_written(tmp_path: Path) -> None:
    path = tmp_path / "report.jsonl"
    with ReportWriter(path) as report:
        report.write(ReportRow("a", "ok", "1"))
        assert read_report(path) == {"a": ReportRow("a", "ok", "1")}
        report.write(ReportRow("b", "failed", "", "boom"))
        assert set(read_report(path)) == {"a", "b"}


def test_id_of_chooses_the_id_from_the_whole_result(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    seen: list[ItemResult[Any, Any]] = []

    def id_of(result: ItemResult[Any, Any]) -> object:
        seen.append(result)
        return f"{result.item}-{result.outcome}"

    with ReportWriter(path, id_of=id_of) as report:
        report.record(RESULTS[0])
        report.record(RESULTS[7])

    assert seen == [RESULTS[0], RESULTS[7]]
    assert read_report(path)["h"] == ReportRow("h", "cancelled", "H-cancelled")


async def test_a_report_records_a_batch_as_it_goes(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"

    async def operation(n: int) -> int:
        if n == 1:
            raise LookupError(f"nothing for {n}")
        return n * 100

    with ReportWriter(path) as report:
        await run_batch(range(4), operation, concurrency=2, done={"3"}, recorder=report)

    assert read_report(path) == {
        "0": ReportRow("0", "ok", "0"),
        "1": ReportRow("1", "failed", "", "LookupError: nothing for 1"),
        "2": ReportRow("2", "ok", "200"),
        "3": ReportRow("3", "skipped"),
    }


def test_done_outcomes_are_ok_and_skipped() -> None:
    rows = {
        outcome: ReportRow(outcome, outcome)
        for outcome in ("ok", "skipped", "failed", "cancelled", "created", "started")
    }

    assert done_keys(rows) == {"ok", "skipped"}
    assert frozenset({"ok", "skipped"}) == DONE_OUTCOMES
    assert [row.done for row in rows.values()] == [True, True, False, False, False, False]


# -- reading bad reports -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("item,outcome,id\na,ok,1\n", "not a batch report"),
        ("item,outcome,id,error\na,ok,1,\nb,ok\n", r"report\.csv:3: not a report row"),
        ("item,outcome,id,error\n,ok,1,\n", r"report\.csv:2: not a report row"),
        ("item,outcome,id,error\na,,1,\n", r"report\.csv:2: not a report row"),
        # A quoted error over two lines: the bad row after it is on line 4.
        ('item,outcome,id,error\na,failed,,"two\nlines"\nb\n', r"report\.csv:4: not a report"),
    ],
)
def test_a_malformed_csv_report_names_its_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "report.csv"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ValueError, match=message):
        read_report(path)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"item": "a", "outcome": "ok", "id": "", "error": ""}', "{not json"], ":2: not a JSON"),
        (["[1, 2]"], ":1: not a report row"),
        (['{"item": "a", "outcome": "ok", "id": ""}'], ":1: not a report row"),
        (['{"item": "a", "outcome": "ok", "id": 5, "error": ""}'], ":1: not a report row"),
        (["", '{"item": "", "outcome": "ok", "id": "", "error": ""}'], ":2: not a report row"),
    ],
)
def test_a_malformed_jsonl_report_names_its_line(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = tmp_path / "report.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ValueError, match=message) as caught:
        read_report(path)

    assert str(caught.value).startswith(str(path))


@pytest.mark.parametrize("name", ["report.csv", "report.jsonl"])
def test_an_empty_report_has_no_rows(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("", encoding="utf-8")

    assert read_report(path) == {}


def test_a_missing_report_is_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_report(tmp_path / "nothing.csv")


# -- no credentials ------------------------------------------------------------------------


@pytest.fixture
async def client(sleeps: RecordingSleep) -> AsyncIterator[TahdahClient]:
    """A client of the aioresponses base URL, as at the root (the folder's talks to the fake)."""
    policy = RetryPolicy(sleep=sleeps, random=lambda: 0.0)
    async with TahdahClient(TOKEN, base_url=BASE_URL, retry=policy) as client:
        yield client


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (f"upstream refused key {TOKEN}", "text/plain"),
        (json.dumps({"title": "Bad key", "detail": f"key {TOKEN} is revoked"}), "application/json"),
    ],
)
async def test_a_reported_error_never_contains_the_api_token(
    tmp_path: Path, mocked: aioresponses, client: TahdahClient, body: str, content_type: str
) -> None:
    path = tmp_path / "report.csv"
    mocked.post(f"{BASE_URL}/api/candidates", status=500, body=body, content_type=content_type)

    async def create(name: str) -> Candidate:
        return await client.candidates.create(first_name=name, last_name="X")

    with ReportWriter(path) as report:
        result = await run_batch(["Ada"], create, recorder=report)

    assert result.counts["failed"] == 1
    text = path.read_text(encoding="utf-8")
    assert TOKEN not in text
    (row,) = read_report(path).values()
    assert row.error.startswith("InternalServerError: 500 Internal Server Error for POST")
    assert "***" in row.error


def test_a_csv_row_with_too_many_fields_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "report.csv"
    path.write_text("item,outcome,id,error\na,ok,1,,surprise\n", encoding="utf-8")

    with pytest.raises(ValueError, match=r"report\.csv:2: not a report row"):
        read_report(path)
