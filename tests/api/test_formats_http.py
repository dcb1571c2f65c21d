"""Uploads in every format and encoding a user has, against a real server: decoded right, kept whole,
searchable by their words, with their metadata (format, language, source_url, times) in the API."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
FIXTURES = Path(__file__).resolve().parent.parent / "ingest" / "fixtures"
RUSSIAN = (
    "Сергей Лавров: Договор о квокках был подписан в Перте во вторник. "
    "Мы обсудили сотрудничество в Арктике и будущее морских путей."
)


@pytest.mark.parametrize(
    ("name", "raw", "kept"),
    [
        (
            "latin1_note.txt",
            "Jane Doe: We met the delegation at a café in Zürich on Monday and they agreed to the schedule.".encode(
                "latin-1"
            ),
            "We met the delegation at a café in Zürich on Monday",
        ),
        (
            "notepad_utf16.txt",
            "Jane Doe: Windows Notepad saved this “memo” about the Kattegat ferry.".encode("utf-16"),
            "this “memo” about the Kattegat ferry",
        ),
        (
            "one_line.txt",
            b"Sergey Lavrov: The quokka treaty was signed in Perth on Tuesday.",
            "Sergey Lavrov: The quokka treaty was signed in Perth on Tuesday.",
        ),
    ],
)
def test_uploads_are_decoded_right_and_keep_every_word(server, name, raw, kept):
    with server.client() as http:
        uploaded = http.post("/documents", files={"file": (name, raw)})
        assert uploaded.status_code == 201, uploaded.text
        doc = http.get(f"/documents/{uploaded.json()['doc_id']}").json()
        assert kept in doc["text"] and doc["format"] == "text" and doc["language"] == "en"


@pytest.mark.parametrize("encoding", ["cp1251", "utf-8"])
def test_a_russian_transcript_is_kept_and_searchable_by_its_words(server, encoding):
    doc_id = f"lavrov_ru_{encoding.replace('-', '')}"
    with server.client() as http:
        uploaded = http.post("/documents", files={"file": (f"{doc_id}.txt", RUSSIAN.encode(encoding))})
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["language"] == "ru"
        assert http.get(f"/documents/{doc_id}").json()["text"] == RUSSIAN
        listed = {d["doc_id"]: d for d in http.get("/documents").json()["documents"]}
        assert listed[doc_id]["language"] == "ru"
        hits = http.post("/search", json={"question": "договор о квокках", "k": 5}).json()["passages"]
        assert doc_id in [p["doc_id"] for p in hits]


def test_a_caption_upload_carries_its_times_into_passages_and_citations(server):
    with server.client() as http:
        raw = (FIXTURES / "voices.vtt").read_bytes()
        uploaded = http.post("/documents", files={"file": ("zakharova_quokkas.vtt", raw)})
        assert uploaded.status_code == 201, uploaded.text
        assert uploaded.json()["format"] == "webvtt"
        assert uploaded.json()["speakers"] == ["Maria Zakharova", "John Smith"]
        asked = http.post(
            "/ask",
            json={"question": "Where do the quokkas stay?", "filters": {"doc_ids": ["zakharova_quokkas"]}},
        ).json()
        passage = next(p for p in asked["passages"] if "Western Australia" in p["text"])
        assert (passage["t_start"], passage["t_end"]) == (9.0, 12.75)
        cited = [c for c in asked["citations"] if c["chunk_id"] == passage["chunk_id"]]
        assert cited and passage["t_start"] <= cited[0]["t_start"] <= cited[0]["t_end"] <= passage["t_end"]


def test_a_markdown_briefing_gives_its_source_url_to_every_passage(server):
    text = (
        "---\ndate: '2022-02-11'\nsource_url: https://example.gov/briefing/2022/02/11/\n"
        'title: "Press Briefing by Press Secretary Jen\\_Psaki, February 11,\\_2022"\n---\n\n'
        "James S. Brady Press Briefing Room\n\n12:48 P.M. EST\n\n"
        "MS. PSAKI:  The narwhal census will be published on Monday.\n\n"
        "Q  Happy Friday.  How many narwhals were counted?\n\nMS. PSAKI:  About 170,000.\n\nEND 1:30 P.M. EST\n"
    )
    with server.client() as http:
        uploaded = http.post("/documents", files={"file": ("psaki_narwhals.md", text.encode())})
        assert uploaded.status_code == 201, uploaded.text
        assert {k: uploaded.json()[k] for k in ("format", "date", "place", "source_url")} == {
            "format": "markdown",
            "date": "2022-02-11",
            "place": "James S. Brady Press Briefing Room",
            "source_url": "https://example.gov/briefing/2022/02/11/",
        }
        hits = http.post(
            "/search", json={"question": "narwhal census", "filters": {"doc_ids": ["psaki_narwhals"]}}
        ).json()["passages"]
        assert {p["source_url"] for p in hits} == {"https://example.gov/briefing/2022/02/11/"}
        question = next(p for p in hits if "Happy Friday" in p["text"])
        assert question["speaker"] == "Question" and "MS. PSAKI" not in question["text"]


def test_hostile_front_matter_is_never_a_500(server):
    """An impossible date (PyYAML's timestamp constructor raised ValueError while sniffing), an alias bomb
    (304 bytes became a 3.85 MB title), a list for a title, a `javascript:` link: each upload is accepted,
    the bad field ignored, every word of the body kept."""
    body = "\nSergey Lavrov: The wombat accord was signed in Hobart.\n"
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    cases = {
        "bad_date": "title: Wombat talks\ndate: 2018-13-45\nsource_url: 'javascript:alert(1)'",
        "alias_bomb": bomb + "title: *h",
        "list_title": "title: [1, 2, {a: b}]\ndate: '2018-02-30'",
    }
    with server.client() as http:
        for doc_id, front in cases.items():
            raw = f"---\n{front}\n---\n{body}".encode()
            uploaded = http.post("/documents", files={"file": (f"{doc_id}.md", raw)})
            assert uploaded.status_code == 201, (doc_id, uploaded.status_code, uploaded.text[:200])
            doc = http.get(f"/documents/{doc_id}").json()
            assert doc["date"] is None and doc["source_url"] is None and len(doc["title"]) < 100, doc_id
            assert "The wombat accord was signed in Hobart." in doc["text"]
        listed = http.get("/documents")
        assert listed.status_code == 200 and len(listed.content) < 200_000
