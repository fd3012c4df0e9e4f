"""read_learners: every bad line in one error, emails and names checked as the API needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tahdah_async import BadRequestError, TahdahClient
from tahdah_async.batch import Learner, LearnerFileError, read_learners
from tahdah_async.models import Candidate
from tahdah_async.testing import FakeTahdah

HEADER = "external_id,first_name,last_name,email,behavior"


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "learners.csv"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def refused(path: Path) -> LearnerFileError:
    with pytest.raises(LearnerFileError) as caught:
        read_learners(path)
    return caught.value


def test_every_bad_line_is_in_one_error_in_file_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        HEADER,
        "NF-1,Ada,Lovelace,ada@example.com,1",
        "NF-2,,Hopper,grace@example.com,1",
        "NF-3,Alan,Turing,alan@example.com",
        "",
        "NF-4,Katherine,Johnson,katherine@example.com,often",
        "NF-1,Tim,Berners-Lee,tim@example.com,2",
        "NF-6,Margaret,Hamilton,margaret@example.com,1",
    )

    error = refused(path)

    assert str(error).splitlines() == [
        f"{path}:3: the learner needs a first_name",
        f"{path}:4: 4 fields, but the header has 5",
        f"{path}:6: behavior must be an integer, got 'often'",
        f"{path}:7: learner 'NF-1' is already on line 2",
    ]
    assert error.problems == (
        (3, "the learner needs a first_name"),
        (4, "4 fields, but the header has 5"),
        (6, "behavior must be an integer, got 'often'"),
        (7, "learner 'NF-1' is already on line 2"),
    )
    assert error.path == str(path)
    assert isinstance(error, ValueError)


def test_a_line_with_several_problems_names_them_all(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, ",,,ada at example.com,x")

    error = refused(path)

    assert str(error) == (
        f"{path}:2: the learner needs a first_name and a last_name; email 'ada at example.com' "
        "is not an email address (one @ between a name and a domain, no spaces); behavior must "
        "be an integer, got 'x'"
    )


@pytest.mark.parametrize(
    "email",
    [
        "ada.example.com",
        "ada@@example.com",
        "ada@example@com",
        "@example.com",
        "ada@",
        "ada lovelace@example.com",
        "ada@exa\tmple.com",
    ],
)
def test_an_email_without_the_shape_of_one_is_refused(tmp_path: Path, email: str) -> None:
    path = write(tmp_path, HEADER, f'NF-1,Ada,Lovelace,"{email}",1')

    error = refused(path)

    assert error.problems == (
        (2, f"email {email!r} is not an email address (one @ between a name and a domain, "
            "no spaces)"),
    )  # fmt: skip


@pytest.mark.parametrize(
    "email", ["ada@example.com", "a@x", "ada+tahdah@mail.example.co.uk", "o'brien@example.ie"]
)
def test_an_email_with_the_shape_of_one_is_taken(tmp_path: Path, email: str) -> None:
    path = write(tmp_path, HEADER, f"NF-1,Ada,Lovelace,{email},1")

    (learner,) = read_learners(path)

    assert learner.candidate.email == email


@pytest.mark.parametrize(
    ("header", "row", "problem"),
    [
        ("first_name,external_id", "Ada,NF-1", "no last_name column"),
        ("last_name,external_id", "Lovelace,NF-1", "no first_name column"),
        ("email,external_id", "a@x,NF-1", "no first_name and no last_name column"),
    ],
)
def test_a_header_without_a_name_column_is_the_one_bad_line(
    tmp_path: Path, header: str, row: str, problem: str
) -> None:
    path = write(tmp_path, header, row, row.replace("NF-1", "NF-2"))

    error = refused(path)

    assert error.problems == ((1, f"{problem} (every learner needs a first_name and a last_name)"),)


def test_the_header_lists_all_that_is_wrong_with_it(tmp_path: Path) -> None:
    path = write(tmp_path, "firstName,first_name,shoe_size,hat,external_id", "A,A,9,no,NF-1")

    ((line, problem),) = refused(path).problems

    assert line == 1
    assert problem.startswith("unknown columns 'shoe_size', 'hat' (known: external_id, ")
    assert "the column first_name appears twice (as 'firstName', 'first_name')" in problem
    assert problem.endswith(
        "no last_name column (every learner needs a first_name and a last_name)"
    )


def test_names_of_spaces_only_are_missing_names(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, "NF-1,  ,Lovelace,ada@example.com,1")

    assert refused(path).problems == ((2, "the learner needs a first_name"),)


def test_the_message_lists_20_bad_lines_and_counts_the_rest(tmp_path: Path) -> None:
    rows = [f"NF-{n},Ada,,ada{n}@example.com,1" for n in range(1, 26)]
    path = write(tmp_path, HEADER, *rows)

    error = refused(path)

    lines = str(error).splitlines()
    assert len(lines) == 21
    assert lines[0] == f"{path}:2: the learner needs a last_name"
    assert lines[19] == f"{path}:21: the learner needs a last_name"
    assert lines[20] == "... and 5 more bad lines"
    assert len(error.problems) == 25  # every one is kept on the error
    assert error.problems[-1] == (26, "the learner needs a last_name")


def test_one_bad_line_over_the_cap_is_counted_in_the_singular(tmp_path: Path) -> None:
    rows = [f"NF-{n},Ada,Lovelace,not-an-email,1" for n in range(1, 22)]

    lines = str(refused(write(tmp_path, HEADER, *rows))).splitlines()

    assert lines[-1] == "... and 1 more bad line"


def test_a_long_bad_value_is_shortened_and_its_control_characters_escaped(
    tmp_path: Path,
) -> None:
    value = "\x1b[31m" + "x" * 500
    path = write(tmp_path, HEADER, f"NF-1,Ada,Lovelace,ada@example.com,{value}")

    ((_, problem),) = refused(path).problems

    assert "\x1b" not in problem
    assert problem.startswith("behavior must be an integer, got '\\x1b[31mxxx")
    assert problem.endswith("...'")
    assert len(problem) < 120


def test_a_good_file_is_read_as_before(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER, "NF-1,Ada,Lovelace,ada@example.com,1", "NF-2,Alan,Turing,,2")

    assert read_learners(path) == [
        Learner(
            candidate=Candidate(
                external_id="NF-1", first_name="Ada", last_name="Lovelace", email="ada@example.com"
            ),
            behavior=1,
            line=2,
        ),
        Learner(
            candidate=Candidate(external_id="NF-2", first_name="Alan", last_name="Turing"),
            behavior=2,
            line=3,
        ),
    ]


async def test_the_names_read_learners_requires_are_those_the_fake_requires(
    tmp_path: Path, client: TahdahClient, fake: FakeTahdah
) -> None:
    # The file check and the server agree: a learner without a last name is refused by both.
    path = write(tmp_path, HEADER, "NF-1,Ada,,ada@example.com,1")
    ((_, problem),) = refused(path).problems
    with pytest.raises(BadRequestError) as caught:
        await client.candidates.create(Candidate(first_name="Ada", external_id="NF-1"))

    assert problem == "the learner needs a last_name"
    assert "lastName" in str(caught.value)
    assert fake.state.candidates == {}
