"""Incremental, crash-safe ingestion into a real FAISS + SQLite index."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.errors import IndexMismatch
from rag.index.store import FORMAT_VERSION, current_generation
from tests.conftest import DOCS

pytestmark = pytest.mark.slow


def manifest(service) -> dict:
    return json.loads((current_generation(service.settings.index_dir) / "manifest.json").read_text())


def test_first_ingest_then_nothing_to_redo(make_service, docs_copy):
    service = make_service(docs_copy)
    first = service.ingest()
    assert sorted(first.added) == sorted(p.stem for p in DOCS.glob("*.txt"))
    assert first.embedded == first.chunks > 100
    assert f"embedded with {service.embedder.backend} on cpu)" in first.summary()
    second = service.ingest()
    assert (second.added, second.updated, second.removed, second.embedded) == ([], [], [], 0)
    assert len(second.unchanged) == 5 and second.chunks == first.chunks
    data = manifest(service)
    assert (
        data["model"] == "all-MiniLM-L6-v2"
        and data["device"] == "cpu"
        and data["dimension"] == 384
        and data["format_version"] == FORMAT_VERSION
    )
    assert data["chunking"] == {"max_tokens": service.settings.chunk_max_tokens, "overlap_sentences": 1}
    assert data["chunks"] == first.chunks and data["built_at"]
    assert {d["sha256"] for d in data["documents"].values()} == {
        hashlib.sha256(p.read_bytes()).hexdigest() for p in DOCS.glob("*.txt")
    }


def test_changed_and_removed_files_are_updated_and_dropped(make_service, docs_copy):
    service = make_service(docs_copy)
    service.ingest()
    ids_before = [c.chunk_id for c in service.retriever.store.chunks("000_81888bb7363425ad")]
    changed = docs_copy / "001_b6cd861ff3b78f22.txt"
    changed.write_text(
        changed.read_text() + "\n\nSergey Lavrov: Our giraffe diplomacy programme starts in May.\n"
    )
    (docs_copy / "003_33af551afb6d7a3b.txt").unlink()
    report = service.ingest()
    assert report.updated == ["001_b6cd861ff3b78f22"] and report.removed == ["003_33af551afb6d7a3b"]
    assert report.embedded == manifest(service)["documents"]["001_b6cd861ff3b78f22"]["chunks"]
    assert [d.doc_id for d in service.documents()] == [
        "000_81888bb7363425ad",
        "001_b6cd861ff3b78f22",
        "002_ad062b82e5743122",
        "004_7fc87e4527095f43",
    ]
    top = service.search("giraffe diplomacy", k=1)[0]
    assert "giraffe diplomacy" in top.text and top.doc_id == "001_b6cd861ff3b78f22"
    # An unchanged document keeps its chunk ids.
    assert [c.chunk_id for c in service.retriever.store.chunks("000_81888bb7363425ad")] == ids_before


def test_bad_files_are_skipped_and_named(make_service, docs_copy):
    (docs_copy / "empty.txt").write_bytes(b"")
    (docs_copy / "image.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (docs_copy / "notes.pdf").write_bytes(b"%PDF-1.4")  # not a transcript type: ignored in a folder
    report = make_service(docs_copy).ingest()
    assert len(report.added) == 5
    assert [(Path(f).name, reason.split(": ", 1)[1]) for f, reason in report.skipped] == [
        ("empty.txt", "empty file"),
        ("image.md", "binary file (contains NUL bytes)"),
    ]


def test_changing_the_chunking_rebuilds_everything(make_service, docs_copy):
    make_service(docs_copy).ingest()
    smaller = make_service(docs_copy, chunk_max_tokens=96)
    with pytest.raises(IndexMismatch, match="run `rag ingest`"):
        smaller.search("ASEAN")
    report = smaller.ingest()
    assert "chunking changed" in report.rebuild_reason
    assert len(report.updated) == 5 and report.embedded == report.chunks
    assert manifest(smaller)["chunking"]["max_tokens"] == 96


def test_an_uploaded_document_survives_a_rebuild(make_service, docs_copy, tmp_path):
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    (extra / "extra.txt").write_text("Title of the extra\n\nSergey Lavrov: Penguins deserve a treaty.\n")
    make_service(docs_copy).ingest([extra])
    report = make_service(docs_copy, chunk_max_tokens=128).ingest()
    assert "extra" in report.updated
    assert "Penguins" in make_service(docs_copy, chunk_max_tokens=128).search("penguin treaty", k=1)[0].text


def test_a_killed_ingest_leaves_the_previous_index_usable(make_service, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(DOCS / "001_b6cd861ff3b78f22.txt", docs)
    service = make_service(docs)
    service.ingest()
    before = current_generation(service.settings.index_dir)
    for i in range(6):  # enough text that embedding takes several seconds
        for path in DOCS.glob("*.txt"):
            shutil.copy(path, docs / f"copy{i}_{path.name}")
    env = dict(os.environ, RAG_INDEX_DIR=str(service.settings.index_dir), RAG_DOCS_DIR=str(docs))
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "ingest", "--quiet"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    index_dir = service.settings.index_dir
    deadline = time.monotonic() + 120
    while not list(index_dir.glob(".staging-*/chunks.sqlite")) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        time.sleep(0.05)
    time.sleep(1.0)  # well inside embedding
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert current_generation(index_dir) == before
    passages = service.search("Dmitry Ukrainsky detention in Thailand", k=3)
    assert passages[0].doc_id == "001_b6cd861ff3b78f22"
    assert [d.doc_id for d in service.documents()] == ["001_b6cd861ff3b78f22"]
    # The next ingest clears the leftovers and completes.
    report = service.ingest()
    assert len(report.added) == 30 and not list(index_dir.glob(".staging-*"))


def test_cli_ingest_prints_a_summary_and_is_silent_with_quiet(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(DOCS / "003_33af551afb6d7a3b.txt", docs)
    (docs / "broken.txt").write_bytes(b"\x00\x01\x02")
    index = tmp_path / "index"
    run = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(docs), "--index", str(index)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.startswith("1 added, 0 updated, 0 removed, 0 unchanged, 1 skipped; ")
    assert f"warning: skipped {docs / 'broken.txt'}: binary file" in run.stderr
    quiet = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(docs), "--index", str(index), "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert quiet.stdout == ""
    missing = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ingest", str(tmp_path / "nope"), "--index", str(index)],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "no such file" in missing.stderr


def test_the_summary_names_transcripts_not_in_english(make_service, tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lavrov_ru.txt").write_bytes(
        "Сергей Лавров: Договор о квокках был подписан в Перте во вторник. Мы обсудили Арктику.".encode(
            "cp1251"
        )
    )
    (docs / "note_en.txt").write_text(
        "Jane Doe: The harbour will reopen in May after the repairs are finished."
    )
    report = make_service(docs).ingest()
    assert sorted(report.added) == ["lavrov_ru", "note_en"] and not report.skipped
    assert "not in English" in report.summary() and "lavrov_ru (ru)" in report.summary()
    assert "note_en" not in report.summary()


def test_a_long_file_name_is_its_doc_id_whole():
    from rag.ids import doc_id_for

    # A real name from the White House archive: 206 characters before ".md". CONTRACT.md: the doc_id is the
    # file name without its extension, so eval sets and filters that name it find it.
    stem = (
        "2024-01-11-press-briefing-by-press-secretary-karine-jean-pierre-nsc-coordinator-for-strategic-"
        "communications-john-kirby-and-national-economic-council-director-lael-brainard"
    )
    assert len(stem) > 128 and doc_id_for(f"{stem}.md") == stem
    assert len(doc_id_for("x" * 300 + ".txt")) == 255  # beyond what file systems allow, it is cut


def test_a_doc_id_keeps_every_script_with_its_marks_in_one_composed_form():
    import unicodedata

    from rag.errors import BadInput
    from rag.ids import check_doc_id, doc_id_for

    decomposed = unicodedata.normalize("NFD", "café")
    assert doc_id_for("हिन्दी.txt") == check_doc_id("हिन्दी") == "हिन्दी"  # vowel signs are marks, kept
    assert doc_id_for(f"{decomposed}.txt") == doc_id_for("café.txt") == check_doc_id(decomposed) == "café"
    assert doc_id_for("Lavrov remarks (1).txt") == "Lavrov_remarks_1" and doc_id_for("!!!.txt") == "document"
    with pytest.raises(BadInput, match="e.g. 'x_y'"):
        check_doc_id("x y")


def test_ingest_names_files_whose_doc_ids_differ_only_in_case(make_service, tmp_path: Path):
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in ("CROSS.txt", "cross.txt"):
        (docs / name).write_text(f"Note\n\nJane Doe: The {name} note on the walrus census.\n")
    report = make_service(docs).ingest()
    assert report.added == ["CROSS"]
    [(skipped, why)] = report.skipped
    assert skipped == str(docs / "cross.txt")
    assert (
        why
        == f"{docs / 'cross.txt'}: doc_id 'cross' differs only in case from 'CROSS' ({docs / 'CROSS.txt'}): rename one of them"
    )
