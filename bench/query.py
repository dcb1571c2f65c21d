"""Query latency in process, model loaded: p50 and p99 of `search` and `ask` over the eval questions.

    .venv/bin/python -m bench.query [--copies 20] [--rounds 2]

Runs on docs_raw and on the repeated corpus of bench/ingest.py (docs_raw under distinct doc ids).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from bench import DOCS, ROOT, latencies, repeated_corpus
from rag.config import Settings
from rag.embed import Embedder
from rag.evaluate import load_questions
from rag.service import Service


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the eval questions")
    args = parser.parse_args()
    questions = [q.question for q in load_questions(ROOT / "eval" / "questions.jsonl")] * args.rounds
    embedder = Embedder.from_settings(Settings())
    with tempfile.TemporaryDirectory() as tmp:
        large = repeated_corpus(Path(tmp) / "large", args.copies)
        print(f"{len(questions)} questions per call; milliseconds")
        print(f"{'corpus':<18}{'chunks':>8}{'call':>8}{'p50':>8}{'p99':>8}{'mean':>8}")
        for name, docs in (("docs_raw", DOCS), (f"docs_raw x{args.copies}", large)):
            service = Service(Settings(index_dir=Path(tmp) / name.replace(" ", "_"), docs_dir=docs), embedder)
            chunks = service.ingest().chunks
            service.search("warm up")
            for call_name, call in (("search", service.search), ("ask", service.ask)):
                ms = latencies(call, questions)
                print(
                    f"{name:<18}{chunks:>8}{call_name:>8}{np.percentile(ms, 50):>8.1f}"
                    f"{np.percentile(ms, 99):>8.1f}{ms.mean():>8.1f}"
                )


if __name__ == "__main__":
    main()
