"""Shared fixtures: the real embedding model loaded once, and a seed-corpus index built once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.config import Settings
from rag.embed import Embedder
from rag.service import Service

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs_raw"
# The fields of a passage in CONTRACT.md, the same in `--json` output and over HTTP.
PASSAGE_FIELDS = {
    "rank",
    "score",
    "chunk_id",
    "doc_id",
    "title",
    "date",
    "place",
    "speaker",
    "text",
    "start",
    "end",
    "t_start",
    "t_end",
    "source_url",
    "question",
    "citation",
}


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return Embedder.from_settings(Settings())


@pytest.fixture
def make_service(tmp_path: Path, embedder: Embedder):
    """A Service whose index and docs live under tmp_path, sharing the session's loaded model."""

    def make(docs: Path | None = None, **settings) -> Service:
        return Service(
            Settings(index_dir=tmp_path / "index", docs_dir=docs or tmp_path / "docs", **settings), embedder
        )

    return make


@pytest.fixture
def docs_copy(tmp_path: Path) -> Path:
    """A writable copy of the seed transcripts."""
    target = tmp_path / "docs"
    shutil.copytree(DOCS, target)
    return target


@pytest.fixture(scope="session")
def seed_service(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Service:
    """A read-only service over the seed corpus, built once for the whole session."""
    base = tmp_path_factory.mktemp("seed")
    service = Service(Settings(index_dir=base / "index", docs_dir=DOCS), embedder)
    service.ingest()
    return service
