"""The dense index by size: exact while small, IVF beyond the threshold, calibrated, filterable, editable."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from rag.index.dense import DenseIndex
from rag.index.store import current_generation
from rag.types import Filters
from tests.conftest import DOCS

pytestmark = pytest.mark.slow
QUESTIONS = [
    "What did Lavrov say about refugees returning to Syria?",
    "How much did trade between Russia and ASEAN grow?",
    "What is the role of Resolution 2254?",
    "Which countries did Lavrov mention about NATO expansion?",
]


def manifest(service) -> dict:
    return json.loads((current_generation(service.settings.index_dir) / "manifest.json").read_text())


def test_an_index_past_the_threshold_is_ivf_and_agrees_with_exact_search(
    make_service, seed_service, tmp_path
):
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    ann = make_service(docs, ann_threshold=100)
    ann.ingest()
    dense = manifest(ann)["dense"]
    assert dense["type"] == "ivf-flat" and dense["nlist"] == round(4 * 113**0.5)
    assert dense["calibration"]["recall_at_10"] >= 0.98 and 1 <= dense["nprobe"] <= dense["nlist"]
    overlap = []
    for question in QUESTIONS:
        exact = {p.chunk_id for p in seed_service.search(question, k=10, mode="dense")}
        approximate = {p.chunk_id for p in ann.search(question, k=10, mode="dense")}
        overlap.append(len(exact & approximate) / len(exact))
    assert np.mean(overlap) >= 0.9, overlap

    # A filter probes every list: a document's passages are all found, however few.
    only = ann.search("cooperation", k=8, filters=Filters(doc_ids=("003_33af551afb6d7a3b",)), mode="dense")
    assert len(only) == 8 and {p.doc_id for p in only} == {"003_33af551afb6d7a3b"}

    # Deleting a document removes its vectors from the IVF lists; shrinking below the threshold
    # goes back to exact search.
    ann.delete_document("000_81888bb7363425ad")
    assert all(p.doc_id != "000_81888bb7363425ad" for p in ann.search(QUESTIONS[0], k=20, mode="dense"))
    assert manifest(ann)["dense"]["type"] == "flat"
    assert manifest(ann)["chunks"] < 100


def test_contents_round_trip_through_both_index_types(seed_service):
    flat = seed_service.retriever.store.dense_index
    vectors, rows = flat.contents()
    ivf = DenseIndex.empty(flat.dimension)
    ivf.add(vectors, rows)
    ivf.fit(ann_threshold=10)
    assert ivf.params["type"] == "ivf-flat"
    again, again_rows = ivf.contents()
    order = np.argsort(again_rows)
    assert np.array_equal(again_rows[order], np.sort(rows))
    assert np.allclose(again[order], vectors[np.argsort(rows)])


def test_sentence_vectors_keep_8_bits_per_dimension_through_ivf_and_back():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(600, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = DenseIndex.empty(32, "sq8")
    index.add(vectors, np.arange(600) * 64)
    assert index.params == {"type": "flat", "codec": "sq8"}
    found, scores = index.search(vectors[7], 1, None)
    assert found == [7 * 64] and scores[0] == pytest.approx(1.0, abs=0.01)
    index.fit(ann_threshold=100)
    assert index.params["type"] == "ivf-flat" and index.params["codec"] == "sq8"
    stored, rows = index.contents()
    assert np.abs(stored[np.argsort(rows)] - vectors).max() < 0.01  # 8 bits over the vectors' range
    index.fit(ann_threshold=10_000)
    assert index.params == {"type": "flat", "codec": "sq8"} and len(index) == 600
    assert index.search(vectors[7], 1, None)[0] == [7 * 64]


def test_ivf_of_8_bit_codes_and_repeated_sentences_probes_only_some_lists():
    """Calibration asks the recall of every list probed in the index's own codes, and counts a tie as
    found: 8-bit codes cannot reach 0.99 against float32 search, nor row ids among copies of a sentence
    ("Thank you."), and both once made calibration probe every list."""
    rng = np.random.default_rng(1)
    distinct = rng.normal(size=(50, 64)).astype(np.float32)
    distinct /= np.linalg.norm(distinct, axis=1, keepdims=True)
    vectors = np.concatenate([distinct[rng.integers(0, 50, 3000)], distinct])
    index = DenseIndex.empty(64, "sq8")
    index.add(vectors, np.arange(len(vectors)))
    index.fit(ann_threshold=100)
    params = index.params
    assert params["type"] == "ivf-flat" and params["nprobe"] < params["nlist"], params
    assert params["calibration"]["recall_at_10"] >= 0.99
    assert index.search(distinct[3], 1, None)[1][0] == pytest.approx(1.0, abs=0.01)
