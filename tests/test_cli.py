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

from tests.conftest import DOCS, PASSAGE_FIELDS, store_env

pytestmark = pytest.mark.slow
BIN = Path(__file__).resolve().parent.parent / ".venv" / "bin"


def run(*args: str, cwd: Path | None = None, index: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(BIN / args[0]), *args[1:]] + (["--index", str(index)] if index else [])
    env = dict(os.environ, COLUMNS="200", **(store_env(index) if index else {}))  # no quote wraps
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=300, env=env)


@pytest.fixture(scope="module", params=["local", "milvus"])
def index(request: pytest.FixtureRequest) -> Path:
    """The seed index in each store: the commands behave the same on both."""
    service = request.getfixturevalue("seed_service" if request.param == "local" else "seed_milvus")
    return service.settings.index_dir


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
        "transcript",  # human or machine: beside the contract's fields, as on every passage
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
        "t_start", "t_end", "source_url", "transcript", "citation", "text",
    ]  # fmt: skip
    for row, p in zip(rows, passages, strict=True):
        assert row["text"] == p["text"] and row["citation"] == p["citation"]  # multi-line text survives
        assert (int(row["rank"]), row["doc_id"], int(row["start"])) == (p["rank"], p["doc_id"], p["start"])
        assert row["t_start"] == ("" if p["t_start"] is None else str(p["t_start"]))


def test_ask_format_csv_and_json_together_is_a_usage_error(index):
    result = run("rag", "ask", EXPORT_QUESTION, "--format", "csv", "--json", index=index)
    assert result.returncode == 2 and "--json and --format csv" in result.stderr and result.stdout == ""


def test_filters_that_match_nothing_say_so(index):
    result = run("rag", "ask", "What about ASEAN?", "--speaker", "Nobody Atall", index=index)
    assert result.returncode == 0, result.stderr
    assert (
        "No passages match these filters" in result.stdout and "Not in the transcripts" not in result.stdout
    )


def test_help_names_the_command_and_keeps_summaries_whole():
    env = dict(os.environ, COLUMNS="80")
    alias = subprocess.run([str(BIN / "ask"), "--help"], capture_output=True, text=True, env=env)
    assert alias.stdout.startswith("Usage: rag ask [OPTIONS] QUESTION")
    top = subprocess.run([str(BIN / "rag"), "--help"], capture_output=True, text=True, env=env).stdout
    commands = top.split("Commands:")[1]
    assert "..." not in commands and {"documents", "delete", "ingest", "ask", "search"} <= {
        line.split()[0] for line in commands.strip().splitlines()
    }


def test_documents_and_delete_commands(seed_service, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(seed_service.settings.index_dir, index)
    listed = run("rag", "documents", "--json", index=index)
    assert listed.returncode == 0, listed.stderr
    docs = json.loads(listed.stdout)["documents"]
    assert {d["doc_id"] for d in docs} == {p.stem for p in DOCS.glob("*.txt")}
    assert all(d["origin"] == "file" and d["chunks"] > 0 for d in docs)
    table = run("rag", "documents", index=index)
    assert "000_81888bb7363425ad" in table.stdout and "Singapore" not in table.stderr
    deleted = run("rag", "delete", "000_81888bb7363425ad", index=index)
    assert deleted.returncode == 0 and deleted.stdout == "deleted 000_81888bb7363425ad\n"
    assert "the next `rag ingest` adds it back" in deleted.stderr
    again = run("rag", "delete", "000_81888bb7363425ad", index=index)
    assert again.returncode == 2 and "see `rag documents`" in again.stderr


def test_a_mistyped_index_is_an_error_not_a_new_index(tmp_path):
    typo = tmp_path / "indx"
    result = run("rag", "search", "ASEAN", index=typo)
    assert result.returncode == 2 and result.stderr == (
        f"error: no index at {typo}: check the path, or build one there with `rag ingest --index {typo}`\n"
    )
    assert not typo.exists()


def test_bad_settings_and_a_corrupt_manifest_are_one_line(seed_service, tmp_path):
    bogus = subprocess.run(
        [str(BIN / "rag"), "search", "ASEAN"],
        capture_output=True,
        text=True,
        env=dict(os.environ, RAG_BACKEND="bogus"),
    )
    assert bogus.returncode == 2 and bogus.stderr.count("\n") == 1
    assert bogus.stderr.startswith("error: invalid setting RAG_BACKEND='bogus': Input should be ")
    assert "'onnx'" in bogus.stderr and bogus.stderr.endswith(": fix or unset it\n")
    index = tmp_path / "index"
    shutil.copytree(seed_service.settings.index_dir, index)
    generation = index / (index / "CURRENT").read_text().strip()
    (generation / "manifest.json").write_text('{"model": ')
    broken = run("rag", "search", "ASEAN", index=index)
    assert broken.returncode == 2 and broken.stderr.count("\n") == 1
    assert "manifest.json is unreadable" in broken.stderr and "run `rag ingest`" in broken.stderr
    rebuilt = run("rag", "ingest", str(DOCS), index=index)  # what the message says to run
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert run("rag", "search", "ASEAN", index=index).returncode == 0


def test_ingest_names_slugged_ids_and_ctrl_c_says_the_index_is_unchanged(tmp_path):
    import signal
    import time

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(DOCS / "003_33af551afb6d7a3b.txt", docs / "Lavrov remarks (1).txt")
    index = tmp_path / "index"
    first = run("rag", "ingest", str(docs), index=index)
    assert first.returncode == 0, first.stderr
    assert f"note: {docs / 'Lavrov remarks (1).txt'} is indexed as doc_id 'Lavrov_remarks_1'" in first.stderr
    before = (index / "CURRENT").read_text()

    for copy in range(6):  # enough passages that the embedding outlasts the wait below
        for name in DOCS.glob("*.txt"):
            shutil.copy(name, docs / f"{copy}-{name.name}")
    process = subprocess.Popen(
        [str(BIN / "rag"), "ingest", str(docs), "--index", str(index)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a suite started in the background (`make test &`) inherits SIGINT ignored,
        # and so would the ingest, which then finishes as if no key were pressed
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while not list(index.glob(".staging-*")):  # the next generation is being built: embedding is under way
        assert process.poll() is None and time.monotonic() < deadline, "the ingest never started embedding"
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    try:
        _, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError("rag ingest ignored Ctrl-C") from None
    assert process.returncode == 130 and stderr.strip().endswith("interrupted: the index is unchanged")
    assert (index / "CURRENT").read_text() == before and not list(index.glob(".staging-*"))
