"""Terminal rendering: what a user reads under each passage."""

from __future__ import annotations

from rich.console import Console

from rag.render import print_passages
from rag.types import Passage


def test_a_passage_shows_its_time_span_and_the_original():
    passage = Passage(
        rank=1,
        score=0.5,
        chunk_id="briefing:0-30",
        doc_id="briefing",
        title="Briefing on grain",
        date="2022-02-11",
        place=None,
        speaker="Ms. Psaki",
        text="Thirty-two ships left Odesa.",
        start=0,
        end=30,
        t_start=751.0,
        t_end=755.5,
        source_url="https://example.gov/briefing/",
    )
    console = Console(record=True, width=200)
    print_passages([passage], [], console)
    shown = console.export_text()
    assert "00:12:31–00:12:35" in shown and "https://example.gov/briefing/" in shown
