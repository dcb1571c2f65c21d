"""Shared fixtures: the real embedding model loaded once, and a seed-corpus index built once."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
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
    "transcript",
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


# -- Milvus ------------------------------------------------------------------------------------------
# The contract modules (tests/api/test_http.py, tests/test_cli.py) run once per store: their `store`
# fixture is parametrised, and the index they get is the seed corpus in that store. A Milvus index is
# named by an index directory (its writers' lock) and the settings below, which every process that opens
# it (the CLI, `rag serve`) is given through STORE_ENV.

STORE_ENV: dict[Path, dict[str, str]] = {}  # index directory -> the RAG_* settings of its store


def store_env(index: Path) -> dict[str, str]:
    """The environment variables that open the index at `index` in its own store."""
    return STORE_ENV.get(index, {})


def start_milvus_lite(data: Path, port: int) -> subprocess.Popen[bytes]:
    """`milvus-lite server` on 127.0.0.1:port over the data directory `data`, answering once this returns;
    its output goes to data/../server.log."""
    from rag.index.milvus import _client

    log = open(data.parent / "server.log", "ab")  # noqa: SIM115 (the server's lifetime)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "milvus_lite",
            "server",
            "--data-dir",
            str(data),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            _client(f"http://127.0.0.1:{port}", None).list_collections()
            return process
        except Exception:
            assert process.poll() is None and time.monotonic() < deadline, (
                data.parent / "server.log"
            ).read_text()
            time.sleep(0.3)


def stop_milvus_lite(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus Lite server on 127.0.0.1 for the session (several processes share it, which a .db file
    opened in process does not allow)."""
    pytest.importorskip("pymilvus", reason="the [scale] extra is not installed")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = start_milvus_lite(tmp_path_factory.mktemp("milvus") / "data", port)
    yield f"http://127.0.0.1:{port}"
    stop_milvus_lite(process)


def milvus_settings(uri: str, index: Path, prefix: str, **settings) -> Settings:
    index.mkdir(parents=True, exist_ok=True)
    STORE_ENV[index] = {"RAG_STORE": "milvus", "RAG_MILVUS_URI": uri, "RAG_MILVUS_PREFIX": prefix}
    return Settings(index_dir=index, store="milvus", milvus_uri=uri, milvus_prefix=prefix, **settings)


@pytest.fixture(scope="session")
def seed_milvus(milvus_uri: str, tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Service:
    """The seed corpus in Milvus, built once for the whole session."""
    base = tmp_path_factory.mktemp("seed-milvus")
    service = Service(milvus_settings(milvus_uri, base / "index", "seed_", docs_dir=DOCS), embedder)
    service.ingest()
    return service


def copy_milvus(source: Service, index: Path, prefix: str) -> Path:
    """A private copy of a Milvus index under another prefix (every row, the vectors too)."""
    client = source.store.client  # type: ignore[attr-defined]
    old = source.settings.milvus_prefix
    target = Service(milvus_settings(source.settings.milvus_uri, index, prefix), source.embedder)
    target.store.create(source.embedder.dimension)  # type: ignore[attr-defined]
    for kind in ("passages", "documents", "sentences", "state"):
        schema = client.describe_collection(old + kind)
        fields = [f["name"] for f in schema["fields"] if f["name"] != "sparse"]
        iterator = client.query_iterator(old + kind, batch_size=500, filter="", output_fields=fields)
        while batch := iterator.next():
            client.insert(prefix + kind, batch)
        iterator.close()
    return index


def store_index(store: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the seed index in `store` ("local" or "milvus") that a module may change."""
    target = tmp_path_factory.mktemp(f"served-{store}") / "index"
    if store == "milvus":
        prefix = "m" + hashlib.sha256(str(target).encode()).hexdigest()[:12] + "_"
        return copy_milvus(request.getfixturevalue("seed_milvus"), target, prefix)
    shutil.copytree(request.getfixturevalue("seed_service").settings.index_dir, target)
    return target
