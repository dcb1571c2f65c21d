"""Transcript formats chosen by content: captions, Markdown with front matter, briefing-room transcripts,
plain text; encodings, language identification and sentence segmentation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.errors import SkippedFile
from rag.ingest.clean import decode, sentence_spans
from rag.ingest.parse import parse_document, read_transcript
from rag.types import Document

FIXTURES = Path(__file__).parent / "fixtures"


def parse_file(path: Path) -> Document:
    text, sha = read_transcript(path)
    return parse_document(path.stem, text, sha, str(path), path.name)


def parse_text(text: str, doc_id: str = "doc") -> Document:
    return parse_document(doc_id, text, "0", "upload")


def turns(doc: Document) -> list[tuple[str | None, str]]:
    return [(p.speaker, doc.text[p.start : p.end]) for p in doc.paragraphs]


# -- captions ------------------------------------------------------------------------------------------


def test_webvtt_voice_spans_give_speakers_and_times():
    doc = parse_file(FIXTURES / "voices.vtt")
    assert doc.format == "webvtt" and doc.title == "voices" and doc.language == "en"
    assert turns(doc) == [
        (
            "Maria Zakharova",
            "Good afternoon. Today we will talk about the quokka treaty signed in Perth. "
            "It was signed by the U.S. and Russia on Tuesday.",
        ),
        ("John Smith", "What happens to the quokkas now?"),
        ("Maria Zakharova", "They stay in Western Australia, at 10 a.m. every day."),
    ]
    assert [(p.t_start, p.t_end) for p in doc.paragraphs] == [(1.0, 7.25), (7.25, 9.0), (9.0, 12.75)]
    assert "NOTE" not in doc.text and "<v" not in doc.text


def test_srt_name_prefixes_open_turns_and_continue_across_cues():
    doc = parse_file(FIXTURES / "names.srt")
    assert doc.format == "srt"
    assert turns(doc) == [
        (
            "Sergey Lavrov",
            "Sergey Lavrov: We discussed the Arctic Council and the future of shipping routes.",
        ),
        ("Anna Lee", "Anna Lee: Will Russia chair the council again?"),
        ("Sergey Lavrov", "Sergey Lavrov: The chair rotates every two years."),
    ]
    assert (doc.paragraphs[0].t_start, doc.paragraphs[0].t_end) == (1.0, 5.5)


def test_diarization_labels_are_speakers_not_text():
    doc = parse_file(FIXTURES / "diarized.vtt")
    assert turns(doc) == [
        ("SPEAKER_00", "Welcome to the briefing on grain exports."),
        ("SPEAKER_01", "How many ships left Odesa last week?"),
        ("SPEAKER_00", "Thirty-two ships left with grain."),
    ]


def test_chevrons_mark_a_new_speaker_each_time():
    doc = parse_file(FIXTURES / "chevrons.srt")
    speakers = [speaker for speaker, _ in turns(doc)]
    assert [text for _, text in turns(doc)] == [
        "MODERATOR: Our next question comes from the floor.",
        "Is the pipeline still closed?",
        "It reopened on Monday morning.",
    ]
    assert speakers[0] == "Moderator" and len(set(speakers)) == 3
    assert doc.paragraphs[0].t_start == 60.0


def test_rolling_captions_are_deduplicated_but_a_repeated_word_is_kept():
    doc = parse_file(FIXTURES / "rolling.vtt")
    assert doc.text == (
        "the minister said that the harbour will reopen in May after the repairs are finished. No. No."
    )
    assert (doc.paragraphs[0].t_start, doc.paragraphs[0].t_end) == (0.0, 8.0)


def test_a_byte_order_mark_is_harmless():
    doc = parse_file(FIXTURES / "bom.vtt")
    assert doc.format == "webvtt" and doc.text == "The ceasefire holds in the north."
    assert (doc.paragraphs[0].t_start, doc.paragraphs[0].t_end) == (751.0, 755.0)


def test_malformed_captions_are_skipped_with_a_reason():
    with pytest.raises(SkippedFile, match="malformed"):
        parse_text("WEBVTT\n\n00:00:01.000 --> garbage\nHello there.\n")


# -- briefing-room transcripts and Markdown ------------------------------------------------------------


def test_briefing_labels_reporters_and_stage_notes():
    doc = parse_file(FIXTURES / "briefing.txt")
    assert doc.format == "briefing"
    assert doc.title == "Press Gaggle by Press Secretary Karine Jean-Pierre"
    assert (doc.place, doc.time) == ("Aboard Air Force One En Route to Tulsa, Oklahoma", "13:02")
    assert [(s, t.split()[0]) for s, t in turns(doc)] == [
        ("Ms. Jean-Pierre", "MS."),
        ("Question", "Q"),
        ("Ms. Jean-Pierre", "MS."),
        ("Question", "Q"),
        ("Secretary Mayorkas", "SECRETARY"),
        ("Secretary Mayorkas", "(Cross-talk.)"),
        ("Question", "Q"),
        ("Secretary Mayorkas", "SECRETARY"),
    ]
    assert [p.is_question for p in doc.paragraphs][:2] == [False, True]
    assert "Will he meet the survivors? (Laughter.)" in doc.text  # a stage note stays, never a speaker
    assert "SECRETARY MAYORKAS: We have asked Congress for $2 billion for the border." in doc.text
    assert "END" not in doc.text and "1:02" not in doc.text


_LABEL_VARIANTS = (
    "James S. Brady Press Briefing Room\n\n1:02 P.M. EST\n\n"
    "MS. JEAN-PIERRE:  Good afternoon.  Admiral Kirby is here.\n\n"
    "MR. KIRBY.\u00a0 Thank you, Karine.  China fired eleven missiles.\n\n"
    "Q    Will the carrier stay?\n\n"
    "MR. KIRBY; It will stay in the region.\n\n"
    "Q    And the Secretary —\n\n"
    "MR. KIRBY:  The Secretary —\n\n"
    "Q    — has he called?\n\n"
    "MR. KIRBY — no, let me finish.\n\n"
    "Q    MR. KIRBY:  So, two thoughts here.\n\n"
    "MS. JEAN-PIERRE:  Thank you, Admiral.\n\n"
    "NATO. The alliance met on Tuesday.\n\n"
    "MR. KIRBY said the same thing last week.\n\n"
    "DR. WALENSKY.  Thank you.  Good morning.\n"
)


def test_a_label_written_with_a_full_stop_semicolon_or_no_colon_opens_its_speakers_turn():
    """ "MR. KIRBY.  Thank you, Karine." is Kirby's turn where "MR. KIRBY" labels a speaker of the transcript
    (or the label looks like one: an honorific and a name in capitals); a sentence is not a label."""
    doc = parse_text(_LABEL_VARIANTS)
    assert doc.format == "briefing"
    assert [(s, t[:24]) for s, t in turns(doc)] == [
        ("Ms. Jean-Pierre", "MS. JEAN-PIERRE: Good af"),
        ("Mr. Kirby", "MR. KIRBY. Thank you, Ka"),
        ("Question", "Q Will the carrier stay?"),
        ("Mr. Kirby", "MR. KIRBY; It will stay "),
        ("Question", "Q And the Secretary —"),
        ("Mr. Kirby", "MR. KIRBY: The Secretary"),
        ("Question", "Q — has he called?"),
        ("Mr. Kirby", "MR. KIRBY — no, let me f"),
        ("Mr. Kirby", "Q MR. KIRBY: So, two tho"),  # a reporter's mark typed before Kirby's label
        ("Ms. Jean-Pierre", "MS. JEAN-PIERRE: Thank y"),
        ("Ms. Jean-Pierre", "NATO. The alliance met o"),
        ("Ms. Jean-Pierre", "MR. KIRBY said the same "),
        ("Dr. Walensky", "DR. WALENSKY. Thank you."),
    ]


def test_a_known_name_with_a_full_stop_opens_a_turn_in_plain_text_but_not_inside_a_paragraph():
    doc = parse_text(
        "Sergey Lavrov: Good afternoon.\n\nAnna Lee: Will the council meet?\n\n"
        "Sergey Lavrov. It will, in May, and we spoke to\nAnna Lee. About it.\n"
    )
    assert turns(doc) == [
        ("Sergey Lavrov", "Sergey Lavrov: Good afternoon."),
        ("Anna Lee", "Anna Lee: Will the council meet?"),
        ("Sergey Lavrov", "Sergey Lavrov. It will, in May, and we spoke to Anna Lee. About it."),
    ]


def test_markdown_front_matter_gives_metadata_and_the_body_the_turns():
    text = (
        "---\ntags: press-briefings\ndate: '2022-02-11'\n"
        "source_url: https://example.gov/briefing-room/2022/02/11/press-briefing/\n"
        'title: "Press Briefing by Press Secretary Jen\\_Psaki and Secretary of Homeland Security '
        'Alejandro Mayorkas, February 11,\\_2022"\n---\n \nJames S. Brady Press Briefing Room\n\n'
        "12:48 P.M. EST\n\nMS. PSAKI:  Hi, everyone.\n\nSECRETARY MAYORKAS:  Thank you, Jen.  We are\n"
        "ready for the storm season.\n\nQ  Happy Friday.  Mr. Secretary, how many agents\nare deployed?\n\n"
        "SECRETARY MAYORKAS:  About 400 \\[sic\\], see \\#BorderFacts.\n"
    )
    doc = parse_text(text, "2022-02-11-briefing")
    assert doc.format == "markdown"
    assert doc.title.startswith("Press Briefing by Press Secretary Jen Psaki and Secretary")
    assert (doc.date, doc.time, doc.place) == ("2022-02-11", "12:48", "James S. Brady Press Briefing Room")
    assert doc.source_url == "https://example.gov/briefing-room/2022/02/11/press-briefing/"
    assert "tags" not in doc.text and "press-briefings" not in doc.text
    assert turns(doc) == [
        ("Ms. Psaki", "MS. PSAKI: Hi, everyone."),
        ("Secretary Mayorkas", "SECRETARY MAYORKAS: Thank you, Jen. We are ready for the storm season."),
        ("Question", "Q Happy Friday. Mr. Secretary, how many agents are deployed?"),
        ("Secretary Mayorkas", "SECRETARY MAYORKAS: About 400 [sic], see #BorderFacts."),  # escapes read
    ]


def test_markdown_without_front_matter_takes_its_heading_as_title():
    doc = parse_document(
        "notes", "# Talks in Geneva\n\nJane Doe: We agreed on a schedule.\n", "0", "x", "notes.md"
    )
    assert (doc.format, doc.title) == ("markdown", "Talks in Geneva")
    assert turns(doc) == [("Jane Doe", "Jane Doe: We agreed on a schedule.")]


# -- plain text ----------------------------------------------------------------------------------------


def test_a_one_line_transcript_keeps_its_words_and_takes_the_title_from_the_file_name():
    doc = parse_text("Sergey Lavrov: The quokka treaty was signed in Perth on Tuesday.", "lavrov_perth-2021")
    assert doc.format == "text" and doc.title == "lavrov perth 2021"
    assert turns(doc) == [
        ("Sergey Lavrov", "Sergey Lavrov: The quokka treaty was signed in Perth on Tuesday.")
    ]


@pytest.mark.parametrize(
    ("first_line", "is_title"),
    [
        ("Remarks at the Arctic Council ministerial", True),
        ("The treaty was signed on Tuesday.", False),  # a sentence
        ("Sergey Lavrov: Good morning", False),  # a speaker's words
        ("We met the ministers of " + "all the countries of the region " * 4, False),  # too long
    ],
)
def test_the_first_line_is_a_title_only_when_it_looks_like_one(first_line, is_title):
    doc = parse_text(f"{first_line}\n\nJane Doe: We met in Reykjavik.", "talks")
    assert (doc.title == first_line) is is_title
    assert (first_line.split()[1] in doc.text) is not is_title


# -- encodings and languages ---------------------------------------------------------------------------

RUSSIAN = (
    "Сергей Лавров: Договор о квокках был подписан в Перте во вторник. "
    "Мы обсудили сотрудничество в Арктике и будущее морских путей."
)


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Jane Doe: We met at a café in Zürich, très bien, and the président agreed.", "latin-1"),
        ("Jane Doe: We met at a café in Zürich, very “good” indeed.", "utf-16"),  # with a BOM
        ("Jane Doe: We met at a café in Zürich.", "utf-32"),
        ("Jane Doe: We met at a café in Zürich.", "utf-8-sig"),
        (RUSSIAN, "cp1251"),
        (RUSSIAN, "utf-8"),
        (RUSSIAN, "koi8-r"),
    ],
)
def test_encodings_are_decoded_right(text, encoding):
    assert decode(text.encode(encoding), "doc.txt") == text


@pytest.mark.parametrize(
    "raw", [b"\x00\x01\x02binary\x00" * 40, b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8]
)
def test_binary_files_are_refused(raw):
    with pytest.raises(SkippedFile, match="binary|unreadable"):
        decode(raw, "image.txt")


def test_a_russian_transcript_is_kept_with_its_language():
    doc = parse_text(decode(RUSSIAN.encode("cp1251"), "ru.txt"), "lavrov-ru")
    assert doc.text == RUSSIAN and doc.language == "ru"
    assert doc.paragraphs[0].speaker == "Сергей Лавров" or doc.paragraphs[0].speaker is None


def test_languages_are_identified():
    assert (
        parse_text("Jane Doe: " + "We discussed the harbour and the grain exports at length. " * 3).language
        == "en"
    )
    german = "Jane Doe: Wir haben über den Hafen und die Getreideexporte ausführlich gesprochen. " * 3
    assert parse_text(german).language == "de"


# -- sentences -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentences",
    [
        # Real sentences from the White House briefings archive.
        [
            "And tomorrow — we’re not wasting any time — Dr. Fauci will participate remotely in the meeting "
            "of the World Health Organization as the U.S. head of delegation.",
            "President Biden also officially appointed a COVID-19 response coordinator.",
        ],
        [
            "The President will travel to Tulsa at 10 a.m. on Tuesday.",
            "Mr. Deese will join us for No. 2 on the list.",
            "Is that right?",
        ],
        ["Mr. Kerry met U.S. officials.", "Then they left!", "Did they?", "Yes."],
    ],
)
def test_sentences_split_at_their_ends_not_at_abbreviations(sentences):
    text = "  ".join(sentences)
    assert [text[s:e] for s, e in sentence_spans(text)] == sentences


# -- mid.ru pages and their reposts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "date", "time"),
    [
        ("Asset Publisher\n\n2 August 201818:22", "2018-08-02", "18:22"),
        ("18:22", None, "18:22"),
        ("June 4, 2016\n\nCategory: News\n\nWritten by Press Office\n\nHits: 1234", "2016-06-04", None),
        ("10 november / 2017\n\nCategory: Statements", "2017-11-10", None),
    ],
)
def test_midru_headers_and_reposts(header, date, time):
    text = (
        f"{header}\n\nForeign Minister Sergey Lavrov's remarks at a news conference, Moscow\n\n"
        "• en-GB1 ru-RU1 es-ES1\n\nSergey Lavrov: We discussed the Arctic.\n\n"
        "Question: What about shipping?\n\nSergey Lavrov: It will grow.\n"
    )
    doc = parse_text(text, "page")
    assert (doc.format, doc.date, doc.time) == ("mid.ru", date, time)
    assert doc.title.startswith("Foreign Minister Sergey Lavrov's remarks")
    assert turns(doc) == [
        ("Sergey Lavrov", "Sergey Lavrov: We discussed the Arctic."),
        ("Question", "Question: What about shipping?"),
        ("Sergey Lavrov", "Sergey Lavrov: It will grow."),
    ]


def test_midru_2022_design_single_line_breaks_still_split_turns():
    text = (
        "12 March 202214:05\n\nForeign Minister Sergey Lavrov's answers to media questions, Antalya, "
        "March 10, 2022\n\nen-GB1 ru-RU1\n\nSergey Lavrov: Good afternoon.\nQuestion: Will the talks go on?\n"
        "Sergey Lavrov: Yes, they will.\n"
    )
    doc = parse_text(text, "page2022")
    assert [s for s, _ in turns(doc)] == ["Sergey Lavrov", "Question", "Sergey Lavrov"]
    assert doc.place == "Antalya" and doc.date == "2022-03-12"


def test_a_moderator_is_not_the_principal_speaker_but_an_answer_is():
    text = (
        "2 August 201818:22\n\nForeign Minister Sergey Lavrov's remarks, Singapore, August 2, 2018\n\n"
        "Moderator: The floor is open for questions.\n\nQuestion: Will you meet Mr Pompeo?\n\n"
        "Answer: We will meet tomorrow.\n"
    )
    assert [s for s, _ in turns(parse_text(text, "page"))] == ["Moderator", "Question", "Sergey Lavrov"]


def _words(text: str) -> list[str]:
    return re.findall(r"\w+(?:['’]\w+)*", text)


def _said(path: Path, after: str, last: str) -> list[str]:
    """The words of a fixture's transcript: those after its header (`after`) up to its last words said."""
    raw = path.read_text()
    body = raw[raw.index(after) + len(after) : raw.index(last) + len(last)]
    return _words(body)


def test_midru_briefing_contents_separators_salutations_and_a_russian_footer():
    path = FIXTURES / "midru_briefing.txt"
    doc = parse_file(path)
    assert (doc.format, doc.date, doc.time, doc.place, doc.speaker) == (
        "mid.ru",
        "2019-11-14",  # the date and the time on lines of their own
        "16:05",
        "Moscow",
        "Maria Zakharova",
    )
    assert doc.title == "Briefing by Foreign Ministry Spokeswoman Maria Zakharova, Moscow, November 14, 2019"
    # The table of contents is not text; the same headings in the body are.
    assert doc.text.startswith(
        "Sergey Lavrov’s talks with Foreign Minister of Moldova Nicu Popescu\n\nOn November"
    )
    assert "1. " not in doc.text and "2. Situation" not in doc.text
    assert doc.text.count("Situation in Syria") == 1 and "\n\nAnswers to media questions:\n\n" in doc.text
    assert "*" not in doc.text  # a separator, neither text nor a speaker
    for chrome in ("ru-RU1", "de-DE1", "Asset Publisher", "Дополнительные", "Фото", "Посольство", "+373"):
        assert chrome not in doc.text
    assert _words(doc.text) == _said(path, "3. Answers to media questions:", "the Bolivian Government.")
    assert [(s, t[:24]) for s, t in turns(doc)][5:] == [
        ("Question", "Question: Ms Zakharova, "),
        ("Maria Zakharova", "Maria Zakharova: Mr Galb"),
        ("Maria Zakharova", "Mr Galbur, I will say it"),  # a salutation: words said, not a speaker
        ("Question", "Question (retranslated f"),
        ("Maria Zakharova", "Answer: We are ready to "),
    ]
    assert doc.speakers == ["Maria Zakharova", "Question"]


def test_midru_2022_design_lines_are_paragraphs_and_dash_contents_are_dropped():
    path = FIXTURES / "midru_2023.txt"
    doc = parse_file(path)
    assert (doc.format, doc.date, doc.time, doc.place, doc.speaker) == (
        "mid.ru",
        "2023-04-17",  # "17 April 2023 19:40": date and time apart
        "19:40",
        "Brasilia",
        "Sergey Lavrov",
    )
    assert doc.title.startswith("Foreign Minister Sergey Lavrov’s remarks and answers to media questions")
    assert "- " not in doc.text and doc.text.count("Opening remarks") == 1
    for chrome in ("en-GB1", "Additional materials", "Photo", "Materiais", "Embaixada", "+55"):
        assert chrome not in doc.text
    assert _words(doc.text) == _said(path, "- Answers to media questions", "tomorrow morning.")
    assert turns(doc) == [
        ("Sergey Lavrov", "Opening remarks"),
        ("Sergey Lavrov", "Mr Vieira,"),
        ("Sergey Lavrov", "Colleagues,"),
        (
            "Sergey Lavrov",
            "We held productive talks with our Brazilian friends. "
            "We agreed to expand trade in fertilisers and to cooperate on space research.",
        ),
        ("Sergey Lavrov", "Brazil is our main partner in Latin America."),
        ("Sergey Lavrov", "Answers to media questions"),
        (
            "Question",
            "Question: Mr Lavrov, President Lula has proposed a club of countries to mediate peace talks on "
            "Ukraine. How does Moscow see this initiative?",
        ),
        (
            "Sergey Lavrov",
            "Sergey Lavrov: Mr Journalist, we are grateful to our Brazilian friends for their wish to help.",
        ),
        ("Sergey Lavrov", "Ms Vieira, let me stress again: we value Brazil’s balanced position."),
        ("Question", "Question: Will you meet President Lula?"),
        ("Sergey Lavrov", "Sergey Lavrov: Yes, tomorrow morning."),
    ]


def test_midru_repost_chrome_after_the_title_and_a_sentence_that_looks_like_it():
    doc = parse_file(FIXTURES / "midru_repost.txt")
    assert (doc.format, doc.date, doc.time, doc.place) == ("mid.ru", "2017-11-10", None, None)
    assert doc.title.endswith("on the sidelines of the APEC Ministerial Meeting, Da Nang")
    assert turns(doc) == [
        ("Question", "Question: How do you assess your meeting with US Secretary of State Rex Tillerson?"),
        ("Sergey Lavrov", "Sergey Lavrov: We had a useful conversation on Syria and North Korea."),
        # Says "Written by" like the repost's byline, but it is a sentence said: it stays.
        (
            "Sergey Lavrov",
            "Written by hand, the note from our Vietnamese hosts was delivered to every delegation.",
        ),
    ]
    for chrome in ("Press Office", "Category", "Hits", "1234", "november"):
        assert chrome not in doc.text


@pytest.mark.parametrize(
    ("title", "first", "date"),
    [
        (", March 5, 2021", "We discussed the Arctic.", "2021-03-05"),  # no date line: the title's date
        ("", "On 6 March 2021 we discussed the Arctic.", "2021-03-06"),  # ... or else the body's
    ],
)
def test_midru_without_a_date_line_takes_the_date_from_the_title_or_the_body(title, first, date):
    text = (
        f"Foreign Minister Sergey Lavrov's remarks, Moscow{title}\n\n• en-GB1 ru-RU1\n\n"
        f"Sergey Lavrov: {first}\n\nQuestion: And shipping?\n"
    )
    doc = parse_text(text, "page")
    assert (doc.format, doc.date, doc.time, doc.place) == ("mid.ru", date, None, "Moscow" if title else None)
    assert doc.text.startswith(f"Sergey Lavrov: {first}")


def test_midru_numbered_lines_that_are_not_a_table_of_contents_stay():
    text = (
        "2 August 201818:22\n\nForeign Minister Sergey Lavrov's remarks, Singapore\n\nen-GB1 ru-RU1\n\n"
        "1. First, we agreed on a schedule.\n\n2. Second, we will meet again.\n\nSergey Lavrov: That is all.\n"
    )
    doc = parse_text(text, "page")
    assert doc.text.startswith("1. First, we agreed on a schedule.\n\n2. Second, we will meet again.")


# -- hostile front matter --------------------------------------------------------------------------------


def _front(yaml_text: str, body: str = "Sergey Lavrov: The quokka treaty was signed in Perth.\n") -> str:
    return f"---\n{yaml_text}\n---\n{body}"


@pytest.mark.parametrize("date", ["2018-13-45", "2018-02-30", "February 30, 2018", "2018-02-30 10:00:00"])
def test_an_impossible_front_matter_date_is_ignored_with_a_warning(date, caplog):
    """PyYAML's timestamp constructor raised ValueError on `2018-13-45`, during sniffing too."""
    doc = parse_text(_front(f"title: Quokka talks\ndate: {date}"))
    assert (doc.format, doc.title, doc.date) == ("markdown", "Quokka talks", None)
    assert "The quokka treaty was signed in Perth." in doc.text
    assert "not a date" in caplog.text


def test_an_impossible_date_in_a_title_gives_no_date():
    assert parse_text(_front("title: Talks of February 30, 2018")).date is None


def test_a_yaml_alias_bomb_is_refused_and_its_bytes_kept_as_text(caplog):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    bomb += "title: *h"
    doc = parse_text(_front(bomb))
    assert len(doc.title) < 100 and len(doc.text) < 2 * len(bomb)
    assert "aliases are not allowed" in caplog.text
    assert "The quokka treaty was signed in Perth." in doc.text


def test_front_matter_takes_only_strings_and_caps_their_length(caplog):
    doc = parse_text(
        _front(f"title: [1, 2, {{a: b}}]\nplace: {{city: Perth}}\nsource_url: https://x.org/{'a' * 5000}")
    )
    assert doc.title == "doc" and doc.place is None  # not "[1, 2, {'a': 'b'}]"
    assert doc.source_url is not None and len(doc.source_url) == 1000
    assert "title ignored: not a string" in caplog.text and "cut to 1000" in caplog.text


def test_a_python_tag_is_not_run_and_not_indexed_silently(caplog):
    doc = parse_text(_front("title: !!python/object/apply:os.system ['echo hi']"))
    assert doc.title != "hi" and "front matter not read" in caplog.text
    assert "!!python/object/apply:os.system" in doc.text  # kept as the words the file has, with a warning


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "file:///etc/passwd",
        "data:text/html,<b>x</b>",
        "//x.org/a",
    ],
)
def test_only_http_source_urls_are_kept(url, caplog):
    assert parse_text(_front(f"title: Talks\nsource_url: '{url}'")).source_url is None
    assert "not an http(s) address" in caplog.text
    assert (
        parse_text(_front("title: Talks\nsource_url: HTTPS://x.org/a?b=1")).source_url
        == "HTTPS://x.org/a?b=1"
    )


# -- captions: the voice wins, a label only where it is one, every word kept -------------------------------


def test_a_voice_span_wins_over_a_capitalised_word_and_a_colon():
    doc = parse_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:04.000\n<v Sergey Lavrov>Look: the sanctions have failed completely.\n\n"
        "00:00:04.000 --> 00:00:06.000\n<v Anna Lee>Why: because of oil?\n"
    )
    assert turns(doc) == [
        ("Sergey Lavrov", "Look: the sanctions have failed completely."),
        ("Anna Lee", "Why: because of oil?"),
    ]


def test_a_single_word_and_a_colon_names_a_speaker_only_when_the_file_uses_it_as_one():
    doc = parse_text(
        "1\n00:00:01,000 --> 00:00:03,000\nBob: We met on Monday.\n\n"
        "2\n00:00:03,000 --> 00:00:05,000\nAnn: And then?\n\n"
        "3\n00:00:05,000 --> 00:00:07,000\nBob: Look: it went well.\n\n"
        "4\n00:00:07,000 --> 00:00:09,000\nAnn: Good.\n\n"
        "5\n00:00:09,000 --> 00:00:11,000\nSummary: the talks went on.\n"
    )
    assert [s for s, _ in turns(doc)] == ["Bob", "Ann", "Bob", "Ann"]
    assert turns(doc)[-1][1] == "Ann: Good. Summary: the talks went on."


def test_speaker_3_of_the_parliament_keeps_its_words_and_a_hostile_voice_tag_leaves_no_stray_bracket():
    doc = parse_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nSPEAKER 3 of the parliament said the vote is final.\n\n"
        "00:00:03.000 --> 00:00:05.000\n<v Bob<i>>Hello there.</i></v>\n\n"
        "00:00:05.000 --> 00:00:07.000\n[SPEAKER_01]: Thanks.\n"
    )
    assert "SPEAKER 3 of the parliament said the vote is final." in doc.text
    assert ">" not in doc.text and "<" not in doc.text
    assert [s for s, _ in turns(doc)] == [None, "Bob", "SPEAKER_01"]


_CUE_TIME = re.compile(r"^\s*\d*\s*$|-->|^WEBVTT|^NOTE\b")


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.[vs][tr][tt]")))
def test_every_word_of_every_caption_fixture_is_kept(fixture):
    """Each distinct word of the cues (markup, voices and diarization labels aside) is in the text."""
    doc = parse_file(FIXTURES / fixture)
    raw = (FIXTURES / fixture).read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    if raw.startswith("WEBVTT"):  # the header block ("Kind: captions") is metadata
        raw = raw.split("\n\n", 1)[1]
    cues = " ".join(line for line in raw.splitlines() if not _CUE_TIME.search(line))
    cues = re.sub(r"<v[^>]*>|<[^<>]*>|\[SPEAKER[ _]?\d+\]:?", " ", cues)
    words = set(re.findall(r"\w+(?:['’.]\w+)*", cues))
    assert words - set(re.findall(r"\w+(?:['’.]\w+)*", doc.text)) == set()


def test_labels_in_any_script_are_speakers_and_question_and_answer_marks():
    """A Russian question and its answer were one passage with no speaker."""
    doc = parse_text(
        "Сергей Лавров: Добрый день. Мы обсудили договор о квокках.\n\n"
        "Вопрос: Когда он вступит в силу?\n\nОтвет: В мае, после ратификации.\n\n"
        "Мария Захарова: Спасибо, коллеги.\n",
        "lavrov_ru",
    )
    assert [(p.speaker, p.is_question) for p in doc.paragraphs] == [
        ("Сергей Лавров", False),
        ("Question", True),
        ("Ответ", False),
        ("Мария Захарова", False),
    ]


def test_caption_times_absurd_refused_out_of_order_spanned_and_odd_cues_warned(caplog):
    with pytest.raises(SkippedFile, match="past 100"):
        parse_text("WEBVTT\n\n99999:00:00.000 --> 99999:00:02.000\nHello there.\n")
    doc = parse_text(
        "WEBVTT\n\n00:00:09.000 --> 00:00:10.000\n<v Ann>We met on Monday\n\n"
        "00:00:02.000 --> 00:00:04.000\n<v Ann>and again on Tuesday.\n\n"
        "00:00:05.000 --> 00:00:05.000\n<v Ann>Twice.\n\n"
        "00:00:08.000 --> 00:00:07.000\n<v Ann>Really.\n"
    )
    assert turns(doc) == [("Ann", "We met on Monday and again on Tuesday. Twice. Really.")]
    assert (doc.paragraphs[0].t_start, doc.paragraphs[0].t_end) == (2.0, 10.0)
    assert "1 cue(s) of no length and 1 ending before they start" in caplog.text
