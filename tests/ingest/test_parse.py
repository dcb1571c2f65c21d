"""Parsing transcripts: metadata, chrome removal, de-duplication, speaker turns, decoding."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import SkippedFile
from rag.ingest.parse import parse_document, read_transcript
from rag.types import Document
from tests.conftest import DOCS


def parse(path: Path) -> Document:
    text, sha = read_transcript(path)
    return parse_document(path.stem, text, sha, str(path))


@pytest.fixture(scope="module")
def seed() -> dict[str, Document]:
    return {p.stem[:3]: parse(p) for p in sorted(DOCS.glob("*.txt"))}


@pytest.mark.parametrize(
    ("key", "date", "time", "place", "speaker"),
    [
        ("000", "2018-08-02", "18:22", "Singapore", "Sergey Lavrov"),
        ("001", "2016-07-26", "11:31", "Vientiane", "Sergey Lavrov"),
        ("002", "2018-09-12", "15:24", "Vladivostok", "Sergey Lavrov"),
        ("003", "2016-07-23", "10:00", None, "Information and Press Department"),
        ("004", "2020-06-17", "18:25", "Moscow", "Sergey Lavrov"),  # date only in the title
    ],
)
def test_metadata_of_the_seed_transcripts(seed, key, date, time, place, speaker):
    doc = seed[key]
    assert (doc.date, doc.time, doc.place, doc.speaker) == (date, time, place, speaker)
    assert doc.title.startswith(("Foreign Minister", "Comment by", "Remarks and replies"))


@pytest.mark.parametrize(
    "chrome",
    [
        "en-GB1",
        "ru-RU1",
        "Additional materials",
        "Advanced settings",
        "NATO (North Atlantic",
        "European Union (EU)",
        "Council of Europe (CoE)",
        "Zusätzliche",
        "Fotoalbum",
        "Telefon",
        "@mid.ru",
        "+82",
        "Корея",
        "Adresse",
        "Bildergalerien",
    ],
)
def test_site_chrome_is_removed(seed, chrome):
    assert all(chrome not in doc.text for doc in seed.values())


def test_body_keeps_first_and_last_statements(seed):
    assert seed["000"].text.startswith("A regular Russia-ASEAN Ministerial Meeting")
    assert seed["000"].text.endswith("in particular, in Idlib.")
    assert seed["004"].text.endswith("coordinated by the heads of state.")
    assert seed["001"].text.endswith("We have raised the issue with our Thai colleagues.")


def test_repeated_block_is_kept_once(seed):
    assert seed["004"].text.count("Vietnam is the ASEAN Chair this year") == 1
    assert seed["004"].text.count("We greatly value our relations with our Vietnamese friends") == 1


def test_speaker_turns(seed):
    doc = seed["001"]
    by_start = {doc.text[p.start : p.end][:40]: p for p in doc.paragraphs}
    assert by_start["These days, the capital of Laos, Vientia"].speaker == "Sergey Lavrov"
    question = by_start["Question: What was the outcome of your t"]
    assert (question.speaker, question.is_question) == ("Question", True)
    assert by_start["Sergey Lavrov: Secretary of State John K"].speaker == "Sergey Lavrov"
    # A paragraph without a label continues the turn before it.
    assert by_start["Regarding today’s meeting in Geneva betw"].speaker == "Sergey Lavrov"
    assert seed["003"].speakers == ["Information and Press Department"]


def test_paragraph_offsets_cover_the_cleaned_text(seed):
    for doc in seed.values():
        assert "\n\n".join(doc.text[p.start : p.end] for p in doc.paragraphs) == doc.text
        assert all(doc.text[p.start : p.end] == doc.text[p.start : p.end].strip() for p in doc.paragraphs)


NEW_TRANSCRIPT = """\
5 March 202114:05

Press release on Deputy Foreign Minister Igor Morgulov’s meeting with the Ambassador of Indonesia, Jakarta, March 5, 2021


  • ru-RU1 en-GB1 fr-FR1 ar-AE1

The sides discussed preparations for the ASEAN Regional Forum and the fight against piracy in the region.

Question (Ivan Petrov, TASS): Will the talks continue next month?

Igor Morgulov: Yes. We agreed to meet again in Moscow in April.

The dates will be announced later.

Additional materials

Shanghai Cooperation Organisation (SCO)

BRICS (Brazil, Russia, India, China, South Africa)

Advanced settings

Documents supplémentaires

  • Photo

Ambassade de Russie en Indonésie

Adresse :

Jl. H.R. Rasuna Said Kav. X-7 No 1-2, Jakarta 12950

Téléphone :

+62 21 522-29-12

Courriel

rusembjkt@mid.ru
"""


def test_a_new_transcript_from_the_same_site_comes_out_clean(tmp_path):
    path = tmp_path / "new.txt"
    path.write_text(NEW_TRANSCRIPT)
    doc = parse(path)
    assert (doc.date, doc.time, doc.place, doc.speaker) == ("2021-03-05", "14:05", "Jakarta", "Igor Morgulov")
    assert doc.text.startswith("The sides discussed")
    assert doc.text.endswith("The dates will be announced later.")
    for chrome in ("fr-FR1", "SCO", "BRICS", "Ambassade", "Téléphone", "+62", "@mid.ru", "Photo"):
        assert chrome not in doc.text
    speakers = [(p.speaker, p.is_question) for p in doc.paragraphs]
    assert speakers == [
        ("Igor Morgulov", False),
        ("Ivan Petrov", True),
        ("Igor Morgulov", False),
        ("Igor Morgulov", False),
    ]


def test_legacy_encoding_is_detected(tmp_path):
    path = tmp_path / "ru.txt"
    text = (
        "12 мая 2021\n\nЗаявление\n\nМинистр иностранных дел Сергей Лавров провёл переговоры с коллегами. "
        * 3
    )
    path.write_bytes(text.encode("cp1251"))
    decoded, _ = read_transcript(path)
    assert "Сергей Лавров провёл переговоры" in decoded


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"   \n\n ", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        (bytes(range(1, 32)) * 20, "binary"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(tmp_path, content, reason):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(SkippedFile, match=reason) as info:
        read_transcript(path)
    assert str(path) in str(info.value)
