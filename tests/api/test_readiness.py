"""`rag serve` becomes ready or stops with one line within a bounded time (RAG_READY_TIMEOUT), on the local
store too: an index that fails to open, and a start-up that outlasts the bound."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import free_port

pytestmark = pytest.mark.slow


def serve_until_it_stops(index: Path, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    """`rag serve` run to its end, which must come within timeout seconds."""
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(free_port()), "--index", str(index)],
        env=dict(os.environ, **{f"RAG_{k.upper()}": v for k, v in env.items()}),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_an_index_that_cannot_be_opened_stops_the_server_with_its_fix(tmp_path):
    index = tmp_path / "index"
    (index / "gen-1").mkdir(parents=True)
    (index / "CURRENT").write_text("gen-1")
    (index / "gen-1" / "manifest.json").write_text("{not json")
    done = serve_until_it_stops(index, timeout=400)  # before: 503 "the embedding model failed" for ever
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert last.startswith("error: rag serve stopped: opening the index in ") and "failed" in last
    assert "manifest.json is unreadable" in last and "run `rag ingest`" in last


def test_a_start_up_longer_than_the_bound_stops_the_server_with_the_step_it_was_at(tmp_path):
    done = serve_until_it_stops(tmp_path / "index", timeout=120, ready_timeout="0.1")
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert last == (
        "error: rag serve stopped: not ready after 0.1 s, still loading the embedding model: "
        "see the log above, or raise RAG_READY_TIMEOUT if it is only slow"
    )
