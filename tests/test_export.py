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
