"""The whole White House briefings archive (1,154 transcripts) ingested into a fresh index: parse seconds,
chunks, chunks/s, total time, index size on disk, and search and ask p50/p99 on it.

    .venv/bin/python -m bench.archive [--limit N] [--questions eval/wh/questions.jsonl] [--rounds 1]

The archive is read from ../shared/corpus/wh-press-briefings (CONTRACT.md's shared folder); --limit
ingests only its first N files (by name), for a quicker partial run. The model is loaded before the clock
starts, so the figures measure parsing, chunking, embedding and writing.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import ROOT
from bench.query import latencies
from rag.config import Settings
from rag.embed import Embedder
from rag.evaluate import load_questions
from rag.ingest.parse import parse_document, read_transcript
from rag.service import Progress, Service

ARCHIVE = ROOT.parent / "shared" / "corpus" / "wh-press-briefings"


def _progress() -> Progress:
    """Prints a line at every tenth of the texts embedded: a whole-archive run takes many minutes."""
    started, shown = time.perf_counter(), [-1]

    def show(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            seconds = time.perf_counter() - started
            print(f"  embedded {done:>9,} / {total:,} texts, {seconds:7.0f} s", flush=True)

    return show


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archive", type=Path, default=ARCHIVE)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "wh" / "questions.jsonl")
    parser.add_argument("--rounds", type=int, default=1, help="passes over the questions")
    args = parser.parse_args()
    if not args.archive.is_dir():
        raise SystemExit(f"no archive at {args.archive}: it lives in the shared folder beside the repository")
    files = sorted(args.archive.glob("*.md"))[: args.limit]
    questions_file = args.questions if args.questions.is_file() else ROOT / "eval" / "questions.jsonl"
    questions = [q.question for q in load_questions(questions_file)] * args.rounds

    started = time.perf_counter()
    words = 0
    for path in files:
        text, sha = read_transcript(path)
        words += len(parse_document(path.stem, text, sha, str(path), path.name).text.split())
    parse_seconds = time.perf_counter() - started
    print(f"{len(files)} transcripts, {words:,} words: parsed in {parse_seconds:.1f} s", flush=True)

    embedder = Embedder.from_settings(Settings())
    embedder.encode(["warm up"])
    with tempfile.TemporaryDirectory(prefix="rag-archive-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for path in files:
            (corpus / path.name).symlink_to(path)
        service = Service(Settings(index_dir=Path(tmp) / "index", docs_dir=corpus), embedder)
        report = service.ingest(progress=_progress())
        size = sum(f.stat().st_size for f in (Path(tmp) / "index").rglob("*") if f.is_file())
        print(f"chunks            {report.chunks:>10,}")
        print(
            f"ingest seconds    {report.seconds:>10.1f}"
            f"   (parsing {parse_seconds / report.seconds:.1%} of it)"
        )
        print(f"chunks/s          {report.chunks / report.seconds:>10.1f}")
        print(f"index size        {size / 2**20:>10.1f} MiB")
        service.search("warm up")
        print(f"{len(questions)} questions from {questions_file.relative_to(ROOT)}; milliseconds")
        for name, call in (("search", service.search), ("ask", service.ask)):
            ms = latencies(call, questions)
            print(
                f"{name:<8} p50 {np.percentile(ms, 50):>8.1f}   p99 {np.percentile(ms, 99):>8.1f}", flush=True
            )
    print(f"total seconds     {time.perf_counter() - started:>10.1f}")


if __name__ == "__main__":
    main()
