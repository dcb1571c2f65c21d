"""The console scripts as a user runs them: real subprocesses, real index."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DOCS, PASSAGE_FIELDS

pytestmark = pytest.mark.slow
BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


def run(*args: str, cwd: Path | None = None, index: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / args[0]), *args[1:]] + (["--index", str(index)] if index else [])
    env = dict(os.environ, COLUMNS="200")  # wide enough that no quote wraps
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300, env=env)


@pytest.fixture(scope="module")
def index(seed_service) -> Path:
    return seed_service.settings.index_dir


def test_ask_json_is_one_document_shaped_like_the_api(index):
    result = run(
        "rag", "ask", "What did Lavrov say about refugees returning to Syria?", "--json", index=index
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"answer", "abstained", "citations", "passages", "took_ms"}
    assert data["citations"] and set(data["citations"][0]) == {
        "n",
        "chunk_id",
        "doc_id",
        "quote",
        "start",
        "end",
        "t_start",
        "t_end",
    }
    assert set(data["passages"][0]) == PASSAGE_FIELDS


def test_search_json_and_filters(index):
    result = run(
        "rag",
        "search",
        "cooperation",
        "--json",
        "--k",
        "4",
        "--doc",
        "003_33af551afb6d7a3b",
        "--since",
        "2016-01-01",
        index=index,
    )
    data = json.loads(result.stdout)
    assert len(data["passages"]) == 4 and {p["doc_id"] for p in data["passages"]} == {"003_33af551afb6d7a3b"}
    assert data["took_ms"] > 0


def test_ask_alias_prints_a_readable_answer(index):
    result = run("ask", "How much has trade between Russia and ASEAN grown?", index=index)
    assert result.returncode == 0, result.stderr
    assert "Answer" in result.stdout and "Sergey Lavrov (" in result.stdout
    assert re.search(r'about to reach \$20 billion\." \[\d\]', result.stdout)  # the quote and its citation


def test_abstention_is_shown(index):
    result = run("rag", "ask", "What is the recipe for borscht?", index=index)
    assert "Not in the transcripts" in result.stdout and "Closest passages" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rag", "ask", "   "], "question is empty"),
        (["rag", "ask", "ASEAN", "--k", "0"], "k must be between 1 and 50"),
        (["rag", "search", "ASEAN", "--k", "51"], "k must be between 1 and 50"),
        (["rag", "ask", "ASEAN", "--doc", "nope"], "unknown doc_id 'nope'"),
        (["rag", "search", "ASEAN", "--since", "2020-31-12"], "YYYY-MM-DD"),
        (["rag", "search", "ASEAN", "--k", "five"], "'five' is not a valid integer"),
    ],
)
def test_bad_usage_exits_2_with_one_line(index, args, message):
    result = run(*args, index=index)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert len([line for line in result.stderr.splitlines() if line.startswith("error")]) == 1


def test_first_question_builds_the_index(tmp_path):
    shutil.copytree(
        DOCS, tmp_path / "docs_raw", ignore=lambda d, names: [n for n in names if not n.startswith("001")]
    )
    result = run("rag", "ask", "Who was detained at the FBI's request in Thailand?", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "building it from docs_raw" in result.stderr
    assert json.loads(result.stdout)["passages"][0]["doc_id"] == "001_b6cd861ff3b78f22"
    assert (tmp_path / "index" / "CURRENT").exists()


EXPORT_QUESTION = "How much has trade between Russia and ASEAN grown?"


def test_ask_format_json_is_the_json_document(index):
    data = json.loads(run("rag", "ask", EXPORT_QUESTION, "--format", "json", index=index).stdout)
    alias = json.loads(run("rag", "ask", EXPORT_QUESTION, "--json", index=index).stdout)
    assert data.pop("took_ms") > 0 and alias.pop("took_ms") > 0
    assert data == alias and data["citations"]


def test_ask_format_markdown_holds_the_answer_each_citation_and_quote(index):
    result = run("rag", "ask", EXPORT_QUESTION, "--format", "markdown", index=index)
    assert result.returncode == 0, result.stderr
    answer = json.loads(run("rag", "ask", EXPORT_QUESTION, "--json", index=index).stdout)
    markdown = result.stdout
    assert markdown.startswith(f"# {EXPORT_QUESTION}\n\n## Answer\n\n{answer['answer']}\n")
    assert markdown.index("## Citations") < markdown.index("## Passages")
    for c in answer["citations"]:
        assert f"> {c['quote']}" in markdown
    for p in answer["passages"]:
        assert f"### [{p['rank']}] {p['title']}" in markdown
        assert f"- Citation: {p['citation']}\n" in markdown
        assert f"- Span: {p['doc_id']} [{p['start']}:{p['end']}]" in markdown
        assert f"#/t/{p['doc_id']}/{p['start']}-{p['end']}" in markdown
        for line in p["text"].splitlines():  # the passage's words, verbatim, as a block quote
            assert f"\n> {line}".rstrip() in markdown


def test_search_format_csv_has_one_row_per_passage(index):
    result = run("rag", "search", "cooperation", "--format", "csv", "--k", "4", index=index)
    assert result.returncode == 0, result.stderr
    searched = run("rag", "search", "cooperation", "--json", "--k", "4", index=index)
    passages = json.loads(searched.stdout)["passages"]
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert len(rows) == 4 and list(rows[0]) == [
        "rank", "doc_id", "title", "date", "place", "speaker", "start", "end",
        "t_start", "t_end", "source_url", "citation", "text",
    ]  # fmt: skip
    for row, p in zip(rows, passages, strict=True):
        assert row["text"] == p["text"] and row["citation"] == p["citation"]  # multi-line text survives
        assert (int(row["rank"]), row["doc_id"], int(row["start"])) == (p["rank"], p["doc_id"], p["start"])
        assert row["t_start"] == ("" if p["t_start"] is None else str(p["t_start"]))


def test_ask_format_csv_and_json_together_is_a_usage_error(index):
    result = run("rag", "ask", EXPORT_QUESTION, "--format", "csv", "--json", index=index)
    assert result.returncode == 2 and "--json and --format csv" in result.stderr and result.stdout == ""
