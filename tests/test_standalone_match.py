"""``mentorflow match``: spreadsheets in, matches out; bad rows reported and skipped."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.fields import parse_availability
from mentorflow.standalone_match import run_standalone_match

DATA = Path(__file__).resolve().parent / "data" / "matching"
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def read(path: Path) -> dict[str, dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return {row["mentee_id"]: row for row in csv.DictReader(fh)}


@pytest.mark.parametrize("objective", ["fit", "participation", "stable"])
def test_matches_good_rows_and_reports_bad_ones(tmp_path: Path, objective: str) -> None:
    out = tmp_path / "matches.csv"
    summary = run_standalone_match(DATA / "mentees.csv", DATA / "mentors.csv", objective, out, now=NOW)
    rows = read(out)
    assert set(rows) == {"m1", "m2", "m3", "m4", "m5"}
    assert rows["m1"]["mentor_email"] == "dana@example.org"
    assert rows["m1"]["reasons"] == "shared: Python; both free Tue 19:00-20:00; mentor one stage ahead"
    assert rows["m2"]["mentor_email"] == "omer@example.org"
    assert rows["m4"]["unmatched_reason"] == "no active mentor speaks Arabic"
    assert rows["m4"]["mentor_email"] == ""
    assert "Matched 2 of 5 mentees" in summary
    for problem in (
        "mentors.csv row 5: email: not a valid address",
        "mentors.csv row 6: capacity: not a whole number",
        "mentees.csv row 7: availability: the answer does not start with a day of the week",
        "mentees.csv row 8: topics: the answer: not a topic of the program",
        "mentees.csv row 9: id: repeats an earlier row's id",
    ):
        assert problem in summary
    for personal in ("Lior", "not-an-email", "Funday", "basket", "'one'"):
        assert personal not in summary


def test_missing_column_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "mentors.csv"
    bad.write_text("name,email\nDana,dana@example.org\n", encoding="utf-8")
    summary = run_standalone_match(DATA / "mentees.csv", bad, "fit", tmp_path / "out.csv", now=NOW)
    assert "mentors.csv: missing column(s) languages, expertise" in summary
    assert "Matched 0 of 5 mentees" in summary
    assert set(read(tmp_path / "out.csv")) == {"m1", "m2", "m3", "m4", "m5"}


def test_unknown_objective(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="objective must be one of"):
        run_standalone_match(DATA / "mentees.csv", DATA / "mentors.csv", "best", tmp_path / "o.csv", now=NOW)


def test_window_parsing() -> None:
    [w] = parse_availability("thursday 9:30-11:00")
    assert w.label() == "Thu 09:30-11:00"
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_availability("Tue 20:00-18:00")


def test_does_not_import_prefect() -> None:
    code = "import sys, mentorflow.standalone_match; print('prefect' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert done.stdout.strip() == "False"


def test_written_csv_neutralises_spreadsheet_formulas(tmp_path: Path) -> None:
    """Ids and reasons come from people's sheets; a cell starting with = + - @ tab or CR is written as text."""
    header = DATA.joinpath("mentees.csv").read_text(encoding="utf-8").splitlines()[0]
    ids = ["=HYPERLINK(1)", "+972501234567", "-1", "@SUM(A1)", "=1+2", "plain"]
    rows = [f'"{i}",Dana {n},d{n}@example.org,he,python,1,Tue 19:00-21:00,,,2026-01-01' for n, i in enumerate(ids)]
    mentees = tmp_path / "mentees.csv"
    mentees.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    run_standalone_match(mentees, DATA / "mentors.csv", "fit", out, now=NOW)
    written = [row[0] for row in csv.reader(out.open(newline="", encoding="utf-8"))][1:]
    assert sorted(written) == sorted(["'" + i for i in ids[:-1]] + ["plain"])
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in written)
