"""The store contract against a real Milvus (standalone or a cluster), when RAG_MILVUS_URI points at one
(http://host:19530, with RAG_MILVUS_TOKEN if it needs one). Skipped otherwise: CI runs Milvus Lite only.

The collections are made under a prefix of their own and dropped afterwards.
"""

from __future__ import annotations

import os
import uuid

import pytest

from rag.config import Settings
from rag.service import Service
from rag.types import Filters
from tests.conftest import DOCS

URI = os.environ.get("RAG_MILVUS_URI", "")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not URI.startswith(("http://", "https://")),
        reason="no Milvus server: set RAG_MILVUS_URI=http://host:19530 to run the contract against one",
    ),
]


@pytest.fixture(scope="module")
def service(tmp_path_factory, embedder):
    prefix = f"contract_{uuid.uuid4().hex[:8]}_"
    settings = Settings(
        index_dir=tmp_path_factory.mktemp("real-milvus") / "index",
        docs_dir=DOCS,
        store="milvus",
        milvus_uri=URI,
        milvus_token=os.environ.get("RAG_MILVUS_TOKEN"),
        milvus_prefix=prefix,
    )
    service = Service(settings, embedder)
    yield service
    client = service.store.client
    for name in client.list_collections():
        if name.startswith(prefix):
            client.drop_collection(name)


def test_ingest_search_filters_documents_and_writes(service):
    report = service.ingest()
    assert len(report.added) == 5 and report.chunks > 50
    assert service.ingest().embedded == 0  # unchanged: nothing rewritten
    top = service.search("Kelly Clements Astana troika", k=3)
    assert any("Kelly Clements" in p.text for p in top)
    doc = service.document(top[0].doc_id)
    assert all(service.document(p.doc_id).text[p.start : p.end] == p.text for p in top) and doc.text
    only = service.search("cooperation", k=5, filters=Filters(doc_ids=("003_33af551afb6d7a3b",)))
    assert only and {p.doc_id for p in only} == {"003_33af551afb6d7a3b"}
    dated = service.search("cooperation", k=5, filters=Filters(since="2018-01-01", until="2018-12-31"))
    assert dated and all(p.date and p.date.startswith("2018") for p in dated)
    assert all(
        p.speaker == "Question" for p in service.search("Syria", k=5, filters=Filters(speaker="question"))
    )
    assert service.ask("What is the boiling point of tungsten on Mars?").abstained
    service.delete_document("003_33af551afb6d7a3b")
    assert "003_33af551afb6d7a3b" not in service.chunk_counts()
    assert all(p.doc_id != "003_33af551afb6d7a3b" for p in service.search("ASEAN", k=10))
