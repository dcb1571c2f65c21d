"""Recordings: machine transcripts with times, marked as a machine's words, speakers only from a transcript
of the same event. The slow tests speak with espeak-ng and transcribe with the bundled Whisper tiny.en."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from rag.config import Settings
from rag.ingest.parse import parse_document
from rag.ingest.recording import Transcriber, Transcript, Word, recording_document
from rag.types import MACHINE, Passage
from rag.verify import QuoteMatch, Verification

CAPTIONS = """WEBVTT

00:00:00.000 --> 00:00:05.000
<v Karine Jean-Pierre>Good afternoon, everyone. The President will travel to Brussels next week for the summit.

00:00:05.000 --> 00:00:08.000
<v Question>Will he meet the Chancellor while he's there?

00:00:08.000 --> 00:00:12.000
<v Karine Jean-Pierre>Yes. They will discuss energy prices and the war in Ukraine.
"""
SENTENCES = [
    "Good afternoon everyone. The president will travel to Brussels next week for the summit.",
    "Will he meet the chancellor while he is there?",
    "Yes. They will discuss energy prices and the war in Ukraine.",
]


def _heard(text: str, start: float = 0.0, low: set[str] = frozenset()) -> list[Word]:
    return [
        Word(w, start + i * 0.5, start + i * 0.5 + 0.4, 0.3 if w.strip(".,?") in low else 0.9)
        for i, w in enumerate(text.split())
    ]


def _transcript(words: list[Word]) -> Transcript:
    return Transcript(words, 12.0, "en", "tiny.en", "test")


def test_words_become_timed_paragraphs_marked_as_a_machine_transcript_without_speakers():
    words = _heard("Yes. They will discuss energy prices and the war in Ukraine.", 8.0, {"war"})
    doc = recording_document("clip", _transcript(words), sha256="0" * 64, source="upload")
    assert doc.format == "audio" and doc.transcript == MACHINE and doc.recording.duration == 12.0
    assert doc.text == "Yes. They will discuss energy prices and the war in Ukraine."
    assert [p.speaker for p in doc.paragraphs] == [None]  # no speaker is guessed
    assert (doc.paragraphs[0].t_start, doc.paragraphs[0].t_end) == (8.0, words[-1].end)
    start = doc.text.index("energy")
    heard = doc.heard(start, len(doc.text))
    assert heard.at == 10.0 and heard.unsure == ("war",) and heard.confidence == 0.81


def test_a_same_event_transcripts_speaker_turns_are_aligned_onto_the_recordings_words():
    companion = parse_document("briefing", CAPTIONS, "1" * 64, "briefing.vtt")
    # As the recogniser may hear it: other punctuation, a misheard word, a word the captions lack.
    words = _heard(
        "Good afternoon everyone, the president will travel to Brussels next week for the summit. "
        "Will he meet the chancellor while he is there? Okay. Yes, may we discuss energy prices and the war in Ukraine."
    )
    doc = recording_document("briefing", _transcript(words), sha256="2" * 64, source="b.wav", companion=companion)
    turns = [(doc.text[p.start : p.end], p.speaker, p.is_question) for p in doc.paragraphs]
    assert [t[1] for t in turns] == ["Karine Jean-Pierre", "Question", None, "Karine Jean-Pierre"]
    assert turns[1][0] == "Will he meet the chancellor while he is there?"
    # "Okay." sits between the question and the reply and matches neither: no one's words.
    assert turns[2][0] == "Okay."
    assert turns[3][0].startswith("Yes, may we discuss")  # misheard words inside a turn are that turn's
    assert doc.recording.aligned_with == "briefing.vtt"


def _machine_passage(t_start: float) -> Passage:
    return Passage(1, 1.0, "c:0-5", "clip", "clip", None, None, None, "words", 0, 5, t_start, t_start + 2,
                   transcript=MACHINE)


def test_verify_says_a_verbatim_match_is_the_machine_transcripts_and_gives_the_time():
    verification = Verification("words", "verbatim", [QuoteMatch(_machine_passage(751.2), True, 1.0, (), None)])
    assert verification.note == "matches the machine transcript at 00:12:31: check the recording"
    assert verification.to_dict()["note"] == verification.note
    human = Passage(2, 1.0, "d:0-5", "d", "d", None, None, None, "words", 0, 5)
    both = Verification("words", "verbatim", [QuoteMatch(_machine_passage(1.0), True, 1.0, (), None),
                                               QuoteMatch(human, True, 1.0, (), None)])
    assert both.note is None and "note" not in both.to_dict()  # a person's transcript says it too


def test_a_machine_passage_says_so_in_its_citation():
    assert _machine_passage(3.0).citation == "clip, at 00:00:03 (machine transcript)"


# -- with speech: espeak-ng and Whisper tiny.en ----------------------------------------------------------

needs_speech = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make speech)")


def _say(path: Path, *sentences: str) -> list[float]:
    """A WAV of the sentences one after another (espeak-ng), and the second each starts at."""
    import av

    starts, parts, offset = [], [], 0.0
    for i, sentence in enumerate(sentences):
        part = path.with_name(f"{path.stem}-{i}.wav")
        subprocess.run(["espeak-ng", "-s", "150", "-w", str(part), sentence], check=True)
        with av.open(str(part)) as container:
            duration = container.duration / 1_000_000
        starts.append(offset)
        offset += duration
        parts.append(part)
    subprocess.run(["sox", *map(str, parts), str(path)], check=True) if shutil.which("sox") else _concat(parts, path)
    for part in parts:
        part.unlink()
    return starts


def _concat(parts: list[Path], target: Path) -> None:
    import wave

    with wave.open(str(target), "wb") as out:
        for i, part in enumerate(parts):
            with wave.open(str(part), "rb") as w:
                if i == 0:
                    out.setparams(w.getparams())
                out.writeframes(w.readframes(w.getnframes()))


@pytest.fixture(scope="session")
def spoken(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[float]]:
    folder = tmp_path_factory.mktemp("spoken")
    starts = _say(folder / "briefing.wav", *SENTENCES)
    return folder / "briefing.wav", starts


@pytest.fixture(scope="session")
def transcriber(tmp_path_factory: pytest.TempPathFactory) -> Transcriber:
    """Whisper tiny.en, loaded once for the session."""
    return Transcriber(None, None, "cpu", 2, tmp_path_factory.mktemp("asr-cache"))


@needs_speech
@pytest.mark.slow
def test_speech_is_transcribed_with_times_within_a_second_and_cached(spoken, transcriber):
    path, starts = spoken
    sha256 = "a" * 64
    heard = transcriber.transcribe(path, sha256)
    said = " ".join(w.text for w in heard.words).lower()
    # Words tiny.en hears from every espeak-ng build tried ("Brussels" came back as "russell's" from one)
    for phrase in ("next week for the summit", "the chancellor", "energy prices", "ukraine"):
        assert phrase in said
    first = {w.text.strip(".,?!").lower(): w.start for w in heard.words}
    assert abs(first["will"] - starts[1]) < 1.0 or abs(first["meet"] - starts[1]) < 1.0
    assert abs(first["discuss"] - (starts[2] + 1.5)) < 1.5  # "Yes. They will" precede it
    assert abs(heard.duration - 13.05) < 0.5 and heard.model == "tiny.en"
    # Once: the second time comes from the cache, even with no model to run it.
    assert transcriber.cache_path(sha256).is_file()
    cached = Transcriber(None, None, "cpu", 2, transcriber.cache_dir.parent)
    cached.__dict__["model"] = None  # any use of the model would fail
    assert cached.transcribe(path, sha256) == heard


@needs_speech
@pytest.mark.slow
def test_a_recording_beside_its_captions_is_searchable_and_verified_as_machine_words(
    spoken, transcriber, make_service, tmp_path
):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(spoken[0], docs / "briefing.wav")
    (docs / "briefing.vtt").write_text(CAPTIONS)
    service = make_service(docs, cache_dir=transcriber.cache_dir.parent)
    service.__dict__["transcriber"] = transcriber
    report = service.ingest()
    assert sorted(report.added) == ["briefing", "briefing.wav"], report.skipped
    docs_by_id = {d.doc_id: d for d in service.documents()}
    recording = docs_by_id["briefing.wav"]
    assert recording.transcript == MACHINE and docs_by_id["briefing"].transcript == "human"
    assert set(recording.speakers) <= {"Karine Jean-Pierre", "Question"} and recording.speakers
    hits = service.search("energy prices in Ukraine", k=5, filters=None)
    machine = next(p for p in hits if p.doc_id == "briefing.wav")
    assert machine.transcript == MACHINE and "machine transcript, confidence" in machine.citation
    assert machine.speaker == "Karine Jean-Pierre" and abs(machine.t_start - spoken[1][2]) < 1.5
    from rag.types import Filters

    result = service.verify("discuss energy prices and the war in Ukraine", Filters(doc_ids=("briefing.wav",)))
    assert result.verdict == "verbatim"
    assert result.note.startswith("matches the machine transcript at 00:00:") and "check the recording" in result.note
    assert json.loads(json.dumps(result.to_dict()))["matches"][0]["transcript"] == MACHINE


def test_the_device_setting_picks_the_recognisers_device():
    assert Transcriber(None, None, "cpu", 1, Path("/tmp")).device == "cpu"
    assert Transcriber(None, None, "mps", 1, Path("/tmp")).device == "cpu"  # CTranslate2 has no Metal
    assert Settings(device="cuda").device == "cuda"
