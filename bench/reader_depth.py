"""Choose the reader's depth N and weight w (RAG_READER_DEPTH, RAG_READER_WEIGHT) on one eval set.

    .venv/bin/python -m bench.reader_depth --index INDEX --questions eval/wh/questions.jsonl

The index must hold a reader (`rag tune`). Each answerable question's top fused passages (the deepest N
tried) are read once by the reader; every (N, w) is then scored as the service ranks (fused score plus
w x the reader's probability, over the top N, cut to 10): hit@1, hit@5 and MRR@10 per pair, best MRR last.
Tune on eval/wh only: the held-out sets are for reporting (`rag eval`), never for choosing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rag.config import Settings
from rag.evaluate import is_relevant, load_questions, ranking_metrics
from rag.service import Service

DEPTHS = (10, 20, 30)
WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--index", type=Path, required=True)
    parser.add_argument("--questions", type=Path, default=Path("eval/wh/questions.jsonl"))
    parser.add_argument("--depths", default=",".join(map(str, DEPTHS)), help="comma-separated N to try")
    parser.add_argument("--limit", type=int, default=None, help="only the first LIMIT answerable questions")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    reading = Service(Settings(index_dir=args.index))
    if reading.reranker is None or not hasattr(reading.reranker, "model"):
        raise SystemExit(f"{args.index} holds no reader: run `rag tune --index {args.index}` first")
    reader = reading.reranker.model
    fused = Service(Settings(index_dir=args.index, reader="off"), reading.embedder)
    questions = [q for q in load_questions(args.questions) if q.answerable][: args.limit]
    chunks = fused.retriever.all_chunks()
    read: dict[str, list[tuple[str, float, float, bool]]] = {}  # per question: chunk, fused, reader, relevant
    qrels: dict[str, set[str]] = {}
    for q in questions:
        passages, _ = fused.retrieve(q.question, max(depths))
        probs = reader.predict([(q.question, p.text) for p in passages], show_progress_bar=False)
        read[q.id] = [
            (p.chunk_id, p.score, float(r), is_relevant(p.text, q.relevant_passages))
            for p, r in zip(passages, probs, strict=True)
        ]
        qrels[q.id] = {c for c, text in chunks if is_relevant(text, q.relevant_passages)}
        qrels[q.id] |= {c for c, _, _, relevant in read[q.id] if relevant}
    qrels = {q: rel for q, rel in qrels.items() if rel}
    rows = []
    for depth in depths:
        for weight in WEIGHTS:
            runs = {
                q: [c for c, f, r, _ in sorted(cands[:depth], key=lambda x: -(x[1] + weight * x[2]))][:10]
                for q, cands in read.items()
            }
            m = ranking_metrics(runs, qrels)
            rows.append((m["mrr@10"], depth, weight, m))
    print(f"{len(qrels)} answerable questions of {args.questions}")
    print("depth weight hit@1  hit@5  mrr@10")
    for _, depth, weight, m in sorted(rows, key=lambda r: r[0]):
        print(f"{depth:5} {weight:6} {m['hit@1']:.3f}  {m['hit@5']:.3f}  {m['mrr@10']:.3f}")


if __name__ == "__main__":
    main()
