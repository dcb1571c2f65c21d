"""Retrieval evaluation: the eval set format of CONTRACT.md, its metrics, and the regression gate."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pytrec_eval

from rag.config import Settings
from rag.embed import Embedder
from rag.errors import BadInput, RagError
from rag.fusion import SIGNALS
from rag.retrieve import MODES, Mode
from rag.service import Progress, Service
from rag.text import normalise
from rag.types import Document, Filters, Paragraph, Passage

METRICS = (
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "mrr@10",
    "ndcg@10",
    "doc_recall@5",
    "doc_recall@10",
    "abstain_precision",
    "abstain_recall",
)
CHECK_TOLERANCE = 0.01


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    relevant_docs: tuple[str, ...] = ()
    relevant_passages: tuple[str, ...] = ()
    answerable: bool = True


@dataclass
class QuestionResult:
    id: str
    question: str
    answerable: bool
    first_relevant_rank: int | None  # 1-based rank of the first relevant passage within k, if any
    docs_found: list[str]
    abstained: bool
    top: list[dict[str, Any]] = field(default_factory=list)  # what came first: chunk_id, doc_id, text


@dataclass
class EvalResult:
    metrics: dict[str, float]
    questions: list[QuestionResult]

    def to_json(self) -> dict[str, Any]:
        return {"metrics": self.metrics, "questions": [asdict(q) for q in self.questions]}


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read an eval set (JSON lines); a malformed line is reported with its number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read the eval set ({exc})") from exc
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            questions.append(
                EvalQuestion(
                    id=str(data["id"]),
                    question=str(data["question"]),
                    relevant_docs=tuple(data.get("relevant_docs", ())),
                    relevant_passages=tuple(data.get("relevant_passages", ())),
                    answerable=bool(data.get("answerable", True)),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise BadInput(
                f"{path}:{number}: not an eval question ({exc.__class__.__name__}: {exc})"
            ) from None
    if not questions:
        raise BadInput(f"{path}: no questions")
    return questions


def is_relevant(text: str, phrases: Sequence[str]) -> bool:
    body = normalise(text)
    return any(normalise(p) in body for p in phrases)


def ranking_metrics(runs: dict[str, list[str]], qrels: dict[str, set[str]]) -> dict[str, float]:
    """hit@1/3/5/10, MRR@10 and nDCG@10 (binary relevance), averaged over the queries in qrels.

    Args:
        runs: query id -> retrieved ids, best first.
        qrels: query id -> every relevant id in the collection (at least one each).
    """
    evaluator = pytrec_eval.RelevanceEvaluator(
        {q: dict.fromkeys(rel, 1) for q, rel in qrels.items()},
        {"success.1,3,5,10", "recip_rank", "ndcg_cut.10"},
    )
    # Scores decrease with rank: pytrec_eval sorts by score, not by insertion order.
    scores = evaluator.evaluate(
        {
            q: {doc: float(len(ids) - i) for i, doc in enumerate(ids[:10])} or {"": 0.0}
            for q, ids in runs.items()
            if q in qrels
        }
    )
    names = {
        "hit@1": "success_1",
        "hit@3": "success_3",
        "hit@5": "success_5",
        "hit@10": "success_10",
        "mrr@10": "recip_rank",
        "ndcg@10": "ndcg_cut_10",
    }
    return {
        name: _mean([scores[q][key] if q in scores else 0.0 for q in qrels]) for name, key in names.items()
    }


def doc_recall(found: Sequence[str], relevant: Sequence[str]) -> float:
    return len(set(found) & set(relevant)) / len(set(relevant)) if relevant else 0.0


def abstention_metrics(abstained: Sequence[bool], answerable: Sequence[bool]) -> dict[str, float]:
    """Precision: abstentions that were on unanswerable questions; recall: unanswerable ones abstained on."""
    hits = sum(a and not ok for a, ok in zip(abstained, answerable, strict=True))
    return {
        "abstain_precision": hits / sum(abstained) if any(abstained) else 1.0,
        "abstain_recall": hits / (len(answerable) - sum(answerable)) if not all(answerable) else 1.0,
    }


def evaluate(
    service: Service, questions: list[EvalQuestion], k: int = 10, mode: Mode = "hybrid"
) -> EvalResult:
    """Run every question through retrieval (and the ask path's abstention) and score it."""
    depth = max(k, 10)
    chunks = service.retriever.all_chunks()
    runs: dict[str, list[str]] = {}
    qrels: dict[str, set[str]] = {}
    results, doc_recalls = [], {5: [], 10: []}  # type: ignore[var-annotated]
    for q in questions:
        passages, hits = service.retrieve(q.question, depth, mode=mode)
        # Abstention belongs to the ask path, which always retrieves in hybrid mode.
        asked = (passages, hits) if mode == "hybrid" else service.retrieve(q.question, depth, mode="hybrid")
        abstained = service.abstains(q.question, *asked)
        ranked = passages[:k]
        rank = next(
            (p.rank for p in ranked if q.answerable and is_relevant(p.text, q.relevant_passages)), None
        )
        if q.answerable:
            runs[q.id] = [p.chunk_id for p in ranked]
            qrels[q.id] = {c for c, text in chunks if is_relevant(text, q.relevant_passages)}
            qrels[q.id] |= {p.chunk_id for p in ranked if is_relevant(p.text, q.relevant_passages)}
            for cut in doc_recalls:
                doc_recalls[cut].append(doc_recall([p.doc_id for p in passages[:cut]], q.relevant_docs))
        results.append(
            QuestionResult(
                id=q.id,
                question=q.question,
                answerable=q.answerable,
                first_relevant_rank=rank,
                docs_found=list(dict.fromkeys(p.doc_id for p in ranked)),
                abstained=abstained,
                top=[_brief(p) for p in ranked[:3]],
            )
        )
    answerable_with_qrels = {q: rel for q, rel in qrels.items() if rel}
    metrics = ranking_metrics(runs, answerable_with_qrels) if answerable_with_qrels else {}
    metrics |= {f"doc_recall@{cut}": _mean(values) for cut, values in doc_recalls.items()}
    metrics |= abstention_metrics([r.abstained for r in results], [r.answerable for r in results])
    return EvalResult({name: round(metrics.get(name, 0.0), 4) for name in METRICS}, results)


def ablation(service: Service, questions: list[EvalQuestion], k: int = 10) -> dict[str, EvalResult]:
    """Hybrid retrieval with every signal of weight above 0, then without each of them in turn (weight 0)."""
    retriever = service.retriever
    fusion = retriever.fusion
    results = {"all signals": evaluate(service, questions, k)}
    try:
        for name in SIGNALS:
            if fusion.weights.get(name):
                retriever.fusion = replace(fusion, weights=fusion.weights | {name: 0.0})
                results[f"without {name}"] = evaluate(service, questions, k)
    finally:
        retriever.fusion = fusion
    return results


def corpus_service(
    directory: Path, settings: Settings, embedder: Embedder, progress: Progress | None = None
) -> Service:
    """A service over an eval corpus: DIR ingested into its own index, cached between runs and updated
    incrementally (only new or changed files are embedded).

    The index lives under the cache directory, keyed by the corpus's path and the settings that shape the
    index (model, backend, chunking), so that two corpora or two configurations never share one.

    Raises:
        BadInput: DIR is not a directory.
    """
    if not directory.is_dir():
        raise BadInput(f"{directory}: no such directory of transcripts (--docs)")
    service = Service(settings, embedder)
    key = json.dumps({"docs": str(directory.resolve()), **service.signature}, sort_keys=True)
    digest = _digest(key)
    index_dir = settings.cache_dir / "eval-indexes" / f"{directory.resolve().name}-{digest}"
    own = {
        "index_dir": index_dir,
        "docs_dir": directory,
        "milvus_prefix": f"{settings.milvus_prefix}eval_{digest}_",
    }
    service = Service(settings.model_copy(update=own), embedder)
    service.ingest([directory], progress)
    return service


def check_against(
    metrics: dict[str, float], baseline: dict[str, float], tolerance: float = CHECK_TOLERANCE
) -> list[str]:
    """The metrics that fell below their baseline by more than the tolerance, as readable lines."""
    return [
        f"{name} {metrics.get(name, 0.0):.4f} < baseline {value:.4f} - {tolerance}"
        for name, value in baseline.items()
        if metrics.get(name, 0.0) < value - tolerance
    ]


def _brief(p: Passage) -> dict[str, Any]:
    return {"rank": p.rank, "chunk_id": p.chunk_id, "doc_id": p.doc_id, "text": p.text[:160]}


def _metrics_table(results: dict[str, EvalResult]) -> list[str]:
    """A markdown table: a row per metric, a column per result."""
    return [
        "| metric | " + " | ".join(results) + " |",
        "|---|" + "---|" * len(results),
        *(f"| {m} | " + " | ".join(f"{r.metrics[m]:.4f}" for r in results.values()) + " |" for m in METRICS),
    ]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass
class BeirResult:
    dataset: str
    documents: int
    queries: int
    chunks: int
    seconds: float  # ingest (embedding) time; 0 when the cached index was reused
    metrics: dict[str, dict[str, float]]  # mode (or "hybrid without SIGNAL") -> {"ndcg@10", "recall@100"}


def load_beir(directory: Path) -> tuple[list[Document], dict[str, str], dict[str, dict[str, int]]]:
    """A BEIR dataset: corpus entries as documents (title, then text), test queries, and graded qrels."""
    paths = [directory / "corpus.jsonl", directory / "queries.jsonl", directory / "qrels" / "test.tsv"]
    if missing := [str(p) for p in paths if not p.is_file()]:
        raise BadInput(f"{directory} is not a BEIR dataset: missing {', '.join(missing)}")
    qrels: dict[str, dict[str, int]] = {}
    for line in paths[2].read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc_id, score = line.split("\t")[:3]
        qrels.setdefault(qid, {})[doc_id] = int(score)
    queries = {}
    for line in paths[1].read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["_id"] in qrels:
            queries[entry["_id"]] = entry["text"]
    docs = []
    for line in paths[0].read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        docs.append(_beir_document(str(entry["_id"]), entry.get("title") or "", entry.get("text") or ""))
    return docs, queries, {q: rel for q, rel in qrels.items() if q in queries}


def _beir_document(doc_id: str, title: str, text: str) -> Document:
    parts = [" ".join(p.split()) for p in (title, text) if p.strip()]
    body = "\n\n".join(parts)
    paragraphs, offset = [], 0
    for part in parts:
        paragraphs.append(Paragraph(offset, offset + len(part), None))
        offset += len(part) + 2
    sha = hashlib.sha256(body.encode()).hexdigest()
    return Document(doc_id, title, None, None, None, None, body, tuple(paragraphs), sha, "beir")


def evaluate_beir(
    directory: Path,
    settings: Settings,
    embedder: Embedder,
    progress: Progress | None = None,
    depth: int = 100,
) -> BeirResult:
    """Ingest a BEIR corpus with the same pipeline; nDCG@10 and recall@100 per mode, and of hybrid without
    each of its signals in turn.

    Documents are ranked by their best passage. The index is cached as `--docs` indexes are (keyed by the
    dataset's path and the settings that shape the index): a second run only searches (seconds: 0).
    """
    docs, queries, qrels = load_beir(directory)
    service = Service(settings, embedder)
    key = json.dumps({"beir": str(directory.resolve()), **service.signature}, sort_keys=True)
    digest = _digest(key)
    index_dir = settings.cache_dir / "eval-indexes" / f"beir-{directory.resolve().name}-{digest}"
    own = {"index_dir": index_dir, "milvus_prefix": f"{settings.milvus_prefix}beir_{digest}_"}
    service = Service(settings.model_copy(update=own), embedder)
    known = {d.doc_id: d.sha256 for d in service.documents()} if service.store.live() else {}
    seconds = 0.0
    if known != {d.doc_id: d.sha256 for d in docs}:
        report = service.add_documents(docs, progress)
        seconds = report.seconds
    retriever = service.retriever
    chunks = len(retriever.store)
    qids = sorted(queries)
    vectors = embedder.encode([queries[q] for q in qids], role="query")
    fusion = retriever.fusion
    runs: list[tuple[str, Mode, dict[str, float]]] = [(mode, mode, fusion.weights) for mode in MODES]
    runs += [
        (f"hybrid without {name}", "hybrid", fusion.weights | {name: 0.0})
        for name in SIGNALS
        if fusion.weights.get(name)
    ]
    metrics: dict[str, dict[str, float]] = {}
    try:
        for label, mode, weights in runs:
            retriever.fusion = replace(fusion, weights=weights)
            run = {}
            for qid, vector in zip(qids, vectors, strict=True):
                passages, _ = retriever.search(
                    queries[qid], vector, 3 * depth, Filters(), mode, collapse_duplicates=False
                )
                ranked = list(dict.fromkeys(p.doc_id for p in passages))[:depth]
                run[qid] = {doc: float(depth - i) for i, doc in enumerate(ranked)} or {"": 0.0}
            scores = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", f"recall.{depth}"}).evaluate(run)
            metrics[label] = {
                "ndcg@10": round(_mean([scores[q]["ndcg_cut_10"] for q in qids]), 4),
                f"recall@{depth}": round(_mean([scores[q][f"recall_{depth}"] for q in qids]), 4),
            }
    finally:
        retriever.fusion = fusion
    return BeirResult(directory.name, len(docs), len(qids), chunks, round(seconds, 3), metrics)


def write_report(
    path: Path, results: dict[str, EvalResult], questions: Path, ablated: dict[str, EvalResult] | None = None
) -> Path:
    """A markdown report: each mode's metrics side by side, the ablation of the hybrid signals (each one
    off in turn), and a chart of hit@k by mode (PNG beside it)."""
    try:
        import matplotlib
    except ImportError:
        raise RagError(
            "--report draws its chart with matplotlib: pip install 'transcript-rag[charts]'"
        ) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    chart = path.with_suffix(".png")
    cuts = [1, 3, 5, 10]
    figure, axes = plt.subplots(figsize=(6, 4), dpi=120)
    for mode, result in results.items():
        axes.plot(cuts, [result.metrics[f"hit@{c}"] for c in cuts], marker="o", label=mode)
    axes.set(
        xlabel="k",
        ylabel="hit@k",
        xticks=cuts,
        ylim=(0, 1),
        title=f"hit@k by retrieval mode ({questions.name})",
    )
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(chart)
    plt.close(figure)
    answerable = sum(q.answerable for q in next(iter(results.values())).questions)
    total = len(next(iter(results.values())).questions)
    lines = [
        f"# Retrieval report: {path.stem}",
        "",
        f"Eval set `{questions}`: {total} questions ({answerable} answerable). Produced by "
        f"`rag eval --report {path}`. Abstention is the ask path's (hybrid) in every column.",
        "",
        *_metrics_table(results),
        "",
        f"![hit@k by mode]({chart.name})",
        "",
    ]
    if ablated:
        lines += ["## Ablation: hybrid, each signal off in turn", "", *_metrics_table(ablated), ""]
    path.write_text("\n".join(lines))
    return chart
