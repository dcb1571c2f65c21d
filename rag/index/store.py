"""Index directory layout: immutable generations, a manifest each, and an atomic switch between them.

    index/CURRENT          name of the live generation (replaced atomically)
    index/gen-*/           manifest.json, chunks.sqlite, dense.faiss, sentences.faiss
    index/.staging-*/      a generation being written; never read, removed by the next writer

A writer builds a complete generation aside and then replaces CURRENT, so an ingest that fails or is
killed at any point leaves the previous index fully usable.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import IndexCorrupt, IndexMismatch, IndexMissing, WriteTimedOut

# 2: document format, language, source_url; passage times. 3: sentence vectors (sentences.faiss); BM25
# fields of their own (speaker names and roles, title, place, date). 4: sentence vectors from their
# passage's own pass (late chunking), sentences segmented once per paragraph. 5: the passages' total of
# FTS5 tokens (lexical_totals), so that nothing reads FTS5's undocumented records
FORMAT_VERSION = 5
MANIFEST = "manifest.json"
DATABASE = "chunks.sqlite"
DENSE = "dense.faiss"
SENTENCES = "sentences.faiss"  # one vector per sentence of each passage, 8-bit (rag.index.dense)
_CURRENT = "CURRENT"
_KEEP_PREVIOUS = 1  # a reader that just read CURRENT may still be opening the previous generation


@dataclass
class Manifest:
    """How a generation was built; a mismatch with the settings forces a rebuild or refuses a load."""

    model: str
    dimension: int
    model_max_tokens: int
    chunking: dict[str, int]
    backend: str = "torch"  # manifests written before backends existed were built with torch
    quantisation: str | None = None  # the int8 config (avx2, avx512, avx512_vnni, arm64) of onnx-int8
    device: str = "cpu"  # where the model ran: cpu, cuda (torch in float16) or mps
    prompts: dict[str, str] = field(default_factory=dict)  # the model's query and document prompts, if any
    dense: dict[str, Any] = field(default_factory=lambda: {"type": "flat"})  # index type and parameters
    sentences: dict[str, Any] = field(default_factory=lambda: {"type": "flat", "codec": "sq8"})
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # doc_id -> {sha256, chunks}
    chunks: int = 0
    built_at: str = ""
    format_version: int = FORMAT_VERSION

    def build_signature(self) -> dict[str, Any]:
        """What, when changed, makes every stored vector or chunk boundary stale."""
        return {
            "format_version": self.format_version,
            "model": self.model,
            "backend": self.backend,
            "quantisation": self.quantisation,
            "prompts": self.prompts,
            "chunking": self.chunking,
        }

    def save(self, directory: Path) -> None:
        self.built_at = datetime.now(UTC).isoformat(timespec="seconds")
        (directory / MANIFEST).write_text(json.dumps(asdict(self), indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> Manifest:
        """Raises IndexCorrupt (one line, saying what to run) when the file cannot be read."""
        try:
            data = json.loads((directory / MANIFEST).read_text())
            return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})
        except (OSError, ValueError, TypeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise IndexCorrupt(
                f"{directory / MANIFEST} is unreadable ({reason}): run `rag ingest` to rebuild the index"
            ) from None


def rebuild_reason(old: Manifest, new_signature: dict[str, Any]) -> str | None:
    """Why an index must be rebuilt from scratch, or None when it can be updated in place."""
    old_signature = old.build_signature()
    changed = [
        f"{key} changed from {old_signature[key]!r} to {value!r}"
        for key, value in new_signature.items()
        if old_signature.get(key) != value
    ]
    return "; ".join(changed) or None


def current_generation(index_dir: Path) -> Path | None:
    try:
        name = (index_dir / _CURRENT).read_text().strip()
    except FileNotFoundError:
        return None
    generation = index_dir / name
    return generation if (generation / MANIFEST).exists() else None


def require_generation(index_dir: Path, signature: dict[str, Any]) -> tuple[Path, Manifest]:
    """The live generation and its manifest, checked against the settings.

    Raises:
        IndexMissing: nothing has been built in index_dir.
        IndexMismatch: it was built with another format, model or chunking.
    """
    generation = current_generation(index_dir)
    if generation is None:
        raise IndexMissing(f"no index in {index_dir}: run `rag ingest` to build it")
    manifest = Manifest.load(generation)
    if reason := rebuild_reason(manifest, signature):
        raise IndexMismatch(f"index in {index_dir} is stale ({reason}): run `rag ingest` to rebuild it")
    return generation, manifest


@contextmanager
def writer_lock(index_dir: Path, timeout: float | None = None) -> Iterator[None]:
    """Serialise writers across processes; readers never take it.

    Raises:
        WriteTimedOut: another process held it for more than timeout seconds (None: wait as long as it takes).
    """
    from filelock import FileLock, Timeout

    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(index_dir / ".lock", thread_local=False)
    try:
        lock.acquire(timeout=-1 if timeout is None else timeout, poll_interval=0.1)
    except Timeout:
        raise WriteTimedOut(
            f"another process (a `rag ingest`?) has been writing {index_dir} for over {timeout:g} s: "
            "retry later",
            max(1, round(timeout or 1)),
        ) from None
    try:
        yield
    finally:
        lock.release()


def new_staging(index_dir: Path) -> Path:
    """A fresh directory for the next generation; leftovers of killed writers are removed first."""
    for stale in index_dir.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = index_dir / f".staging-{uuid.uuid4().hex[:12]}"
    staging.mkdir()
    return staging


def publish(index_dir: Path, staging: Path) -> Path:
    """Make a complete staging directory the live generation, atomically, and prune old ones."""
    for item in staging.iterdir():
        _fsync(item)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    generation = index_dir / f"gen-{stamp}-{staging.name.rsplit('-', 1)[-1]}"
    staging.rename(generation)
    pointer = index_dir / f".{_CURRENT}.tmp"
    pointer.write_text(generation.name + "\n")
    _fsync(pointer)
    os.replace(pointer, index_dir / _CURRENT)
    _fsync(index_dir)
    older = sorted((g for g in index_dir.glob("gen-*") if g != generation), key=lambda g: g.stat().st_mtime)
    for old in older[: max(0, len(older) - _KEEP_PREVIOUS)]:
        shutil.rmtree(old, ignore_errors=True)
    return generation


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
