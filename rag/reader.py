"""The reader: a cross-encoder taught by the index's own reporters' questions and officials' replies
(`rag tune`), kept in INDEX/reader/ with its manifest, that rereads the top fused passages with the
question; its score joins the fused score as one more signal (docs/usage.md, "The reader")."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings
from rag.embed import resolve_model
from rag.errors import RagError, one_line
from rag.index.base import PassageReader
from rag.ingest.chunk import question_answered
from rag.rerank import Reranker
from rag.types import Chunk, Filters, Passage

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder

READER_DIR = "reader"  # inside the index directory
FORMAT_VERSION = 1
SEED = 0
CHECKPOINT_EVERY = 20  # optimiser steps between checkpoints (and on Ctrl-C)
VALIDATION_SHARE = 0.2  # of the transcripts, never learned from
VALIDATION_QUESTIONS = 60
VALIDATION_CANDIDATES = 10  # passages of its transcript each held-out question's reply is ranked among


@dataclass(frozen=True)
class Pair:
    """A question and a passage, labelled 1 when the passage is part of the reply to it."""

    question: str
    passage: str
    label: float
    doc_id: str


@dataclass(frozen=True)
class Reply:
    """A question turn of a transcript and the passages of the reply that follows it."""

    doc_id: str
    question: str
    passages: tuple[str, ...]


@dataclass(frozen=True)
class Mined:
    """Training pairs from some transcripts, and held-out replies from the others (split by transcript)."""

    train: list[Pair]
    validation: list[tuple[Reply, list[str]]]  # each held-out reply with the other passages of its transcript
    train_docs: list[str]
    validation_docs: list[str]


def replies(store: PassageReader) -> tuple[list[Reply], dict[str, list[str]]]:
    """Every question turn with the passages of its reply (an evasive reply is a reply), and per transcript
    the texts of its passages that are not questions."""
    found: list[Reply] = []
    answers: dict[str, list[str]] = {}
    for doc in store.documents():
        groups: dict[str, list[Chunk]] = {}
        texts: list[str] = []
        for chunk in store.chunks(doc.doc_id):
            if chunk.is_question:
                continue
            texts.append(chunk.text)
            if question := question_answered(doc, chunk.start):
                groups.setdefault(question, []).append(chunk)
        answers[doc.doc_id] = texts
        found += [Reply(doc.doc_id, q, tuple(c.text for c in chunks)) for q, chunks in groups.items()]
    return found, answers


def mine_pairs(store: PassageReader, max_pairs: int, seed: int = SEED) -> Mined:
    """Up to max_pairs training pairs: per sampled question, the first passage of its reply (and one more,
    if the reply has more) against a passage of another reply of the same transcript and the best BM25
    passage of another transcript. A fifth of the transcripts are held out for validation."""
    rng = random.Random(seed)
    found, answers = replies(store)
    docs = sorted({r.doc_id for r in found})
    rng.shuffle(docs)
    held = set(docs[: max(1, round(len(docs) * VALIDATION_SHARE))] if len(docs) > 1 else [])
    learn = [r for r in found if r.doc_id not in held]
    rng.shuffle(learn)
    train: list[Pair] = []
    for reply in learn:
        if len(train) >= max_pairs:
            break
        mine = set(reply.passages)
        positives = list(reply.passages[:1]) + rng.sample(reply.passages[1:], min(1, len(reply.passages) - 1))
        others = [t for t in answers[reply.doc_id] if t not in mine]
        negatives = rng.sample(others, min(1, len(others)))
        if neighbour := _lexical_neighbour(store, reply):
            negatives.append(neighbour)
        train += [Pair(reply.question, p, 1.0, reply.doc_id) for p in positives]
        train += [Pair(reply.question, n, 0.0, reply.doc_id) for n in negatives]
    validation = []
    for reply in sorted((r for r in found if r.doc_id in held), key=lambda r: (r.doc_id, r.question)):
        others = [t for t in answers[reply.doc_id] if t not in set(reply.passages)]
        validation.append((reply, rng.sample(others, min(VALIDATION_CANDIDATES - 1, len(others)))))
    rng.shuffle(validation)
    return Mined(train[:max_pairs], validation[:VALIDATION_QUESTIONS], sorted(set(docs) - held), sorted(held))


def _lexical_neighbour(store: PassageReader, reply: Reply) -> str | None:
    """The passage of another transcript that BM25 ranks highest for the question: a hard negative."""
    rows = store.lexical(reply.question, 10, Filters())
    records = store.records(rows) if rows else {}
    for row in rows:
        record = records.get(row)
        if record is not None and record["doc_id"] != reply.doc_id:
            return str(record["text"])
    return None


@dataclass
class TuneReport:
    """What `rag tune` did: learned (or resumed), or found the reader up to date."""

    up_to_date: bool
    manifest: dict[str, Any] = field(default_factory=dict)
    resumed_at: int = 0

    def summary(self) -> str:
        m = self.manifest
        if self.up_to_date:
            return f"the reader is up to date (learned from generation {m['generation']}): nothing to do"
        v = m["validation"]
        line = (
            f"learned the reader from {m['pairs']['train']:,} pairs of {m['transcripts']['train']} "
            "transcripts "
            f"in {m['steps']} steps, {m['seconds']:.0f} s ({m['pairs_per_second']:.1f} pairs/s)"
        )
        if v["questions"]:
            line += (
                f"; on {v['questions']} replies of {m['transcripts']['validation']} held-out transcripts, "
                f"the reply ranks first among {VALIDATION_CANDIDATES} of its transcript's passages for "
                f"{v['hit@1']:.2f} (chance {v['chance@1']:.2f}), MRR {v['mrr']:.2f}"
            )
        if self.resumed_at:
            line += f" (resumed at step {self.resumed_at})"
        return line


class Interrupted(RagError):
    """Ctrl-C during `rag tune`: the checkpoint is kept for the next run."""


def reader_dir(settings: Settings) -> Path:
    return settings.index_dir / READER_DIR


def read_manifest(settings: Settings) -> dict[str, Any] | None:
    """The stored reader's manifest, or None when the index holds no (finished) reader."""
    path = reader_dir(settings) / "manifest.json"
    if not path.is_file():
        return None
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RagError(
            f"{path}: unreadable reader manifest ({one_line(exc)}): run `rag tune` again"
        ) from None
    return manifest


def reader_state(settings: Settings, live: str | None) -> tuple[str, dict[str, Any] | None]:
    """ "absent", "present" (learned from the live generation) or "stale" (the index changed since)."""
    manifest = read_manifest(settings)
    if manifest is None:
        return "absent", None
    return ("present" if manifest.get("generation") == live else "stale"), manifest


def tune(
    settings: Settings,
    store: PassageReader,
    generation: str,
    max_pairs: int = 2000,
    max_length: int = 192,
    batch_size: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> TuneReport:
    """Learn the reader from the index's own questions and replies, or continue an interrupted run.

    Raises:
        Interrupted: Ctrl-C; the last checkpoint is kept and the next run continues from it.
        RagError: the index holds no question followed by a reply to learn from.
    """
    import torch
    from sentence_transformers import CrossEncoder
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss
    from transformers import get_linear_schedule_with_warmup

    base = resolve_model(settings.model)
    plan = {
        "format_version": FORMAT_VERSION,
        "base_model": settings.model,
        "generation": generation,
        "max_pairs": max_pairs,
        "max_length": max_length,
        "batch_size": batch_size,
        "seed": SEED,
    }
    manifest = read_manifest(settings)
    if manifest and {k: manifest.get(k) for k in plan} == plan:
        return TuneReport(True, manifest)
    home = reader_dir(settings)
    checkpoint = home / "checkpoint"
    state_file = checkpoint / "state.pt"
    state = torch.load(state_file, weights_only=False) if state_file.is_file() else None
    if state is not None and state["plan"] != plan:
        state = None  # another index generation or other settings: start over
    started = time.perf_counter()
    mined = mine_pairs(store, max_pairs)
    if not mined.train:
        raise RagError(
            f"no reporter's question followed by a reply in {settings.index_dir}: nothing to learn from "
            "(the reader learns from transcripts with question turns, e.g. press briefings)"
        )
    torch.manual_seed(SEED)
    model = CrossEncoder(
        str(checkpoint) if state else base,
        num_labels=1,
        max_length=max_length,
        device="cpu",
        local_files_only=True,
    )
    loss = BinaryCrossEntropyLoss(model)
    order = list(range(len(mined.train)))
    random.Random(SEED).shuffle(order)
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.01)
    schedule = get_linear_schedule_with_warmup(optimiser, max(1, len(batches) // 10), len(batches))
    first = 0
    if state is not None:
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        first = state["step"]
    step, seconds = first, (state or {}).get("seconds", 0.0)

    def save_checkpoint(done: int) -> None:
        """The model, optimiser and schedule after `done` steps, for the next run to continue from."""
        checkpoint.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(str(checkpoint))
        elapsed = seconds + time.perf_counter() - started
        state = {"plan": plan, "step": done, "seconds": elapsed}
        state |= {"optimiser": optimiser.state_dict(), "schedule": schedule.state_dict()}
        torch.save(state, checkpoint / "state.tmp")
        (checkpoint / "state.tmp").replace(state_file)

    model.train()
    try:
        for step in range(first, len(batches)):
            if progress:
                progress(step, len(batches))
            pairs = [mined.train[i] for i in batches[step]]
            labels = torch.tensor([p.label for p in pairs])
            value = loss([[p.question for p in pairs], [p.passage for p in pairs]], labels)
            value.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            if (step + 1) % CHECKPOINT_EVERY == 0 and step + 1 < len(batches):
                save_checkpoint(step + 1)
        step = len(batches)
    except KeyboardInterrupt:
        save_checkpoint(step)
        raise Interrupted(
            f"interrupted at step {step} of {len(batches)}: run `rag tune` again to continue from there"
        ) from None
    if progress:
        progress(len(batches), len(batches))
    model.eval()
    trained_seconds = seconds + time.perf_counter() - started
    manifest = {
        **plan,
        "pairs": {"train": len(mined.train), "positive": sum(p.label == 1.0 for p in mined.train)},
        "transcripts": {"train": len(mined.train_docs), "validation": len(mined.validation_docs)},
        "validation_docs": mined.validation_docs,
        "steps": len(batches),
        "seconds": round(trained_seconds, 1),
        "pairs_per_second": round(len(mined.train) / max(trained_seconds, 1e-9), 2),
        "validation": validate(model, mined.validation),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    fresh = home / "model.tmp"
    shutil.rmtree(fresh, ignore_errors=True)
    model.save_pretrained(str(fresh))
    shutil.rmtree(home / "model", ignore_errors=True)
    fresh.replace(home / "model")
    (home / "manifest.tmp").write_text(json.dumps(manifest, indent=2) + "\n")
    (home / "manifest.tmp").replace(home / "manifest.json")
    shutil.rmtree(checkpoint, ignore_errors=True)
    return TuneReport(False, manifest, first)


def validate(model: CrossEncoder, held: Sequence[tuple[Reply, list[str]]]) -> dict[str, Any]:
    """How often a held-out question's reply passage is ranked first among its transcript's passages,
    the MRR of the first one, and the hit@1 of a random order for comparison."""
    hits, reciprocal, chance = 0, 0.0, 0.0
    for reply, others in held:
        texts = list(reply.passages) + others
        scores = model.predict([(reply.question, t) for t in texts], show_progress_bar=False)
        order = sorted(range(len(texts)), key=lambda i: -float(scores[i]))
        first = next(rank for rank, i in enumerate(order, start=1) if i < len(reply.passages))
        hits += first == 1
        reciprocal += 1 / first
        chance += len(reply.passages) / len(texts)
    n = len(held)
    return {
        "questions": n,
        "hit@1": round(hits / n, 4) if n else None,
        "mrr": round(reciprocal / n, 4) if n else None,
        "chance@1": round(chance / n, 4) if n else None,
    }


class Reader(Reranker):
    """The stored reader, loaded on first use: it rereads the top `depth` fused passages with the question
    and adds `weight` x its probability that the passage answers to each one's fused score."""

    def __init__(self, path: Path, depth: int, weight: float) -> None:
        super().__init__(str(path), depth)
        self.path = path
        self.weight = weight

    def refusal(self, reason: str) -> str:
        return f"{self.path}: cannot load the reader ({reason}): run `rag tune` again, or set RAG_READER=off"

    def scores(self, passages: Sequence[Passage], read: Sequence[float]) -> list[float]:
        """The fused score plus weight x the reader's."""
        return [p.score + self.weight * r for p, r in zip(passages, read, strict=True)]


def stored_reader(settings: Settings) -> Reader | None:
    """The index's reader unless RAG_READER=off or the index holds none."""
    if settings.reader == "off" or read_manifest(settings) is None:
        return None
    return Reader(reader_dir(settings) / "model", settings.reader_depth, settings.reader_weight)
