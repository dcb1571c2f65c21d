"""An upload acknowledged with 202 is durable: a `rag serve` killed with SIGKILL before the job ran resumes
it when started again (or reports it failed when what it stored cannot be read), never a 404."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.index.store import writer_lock
from tests.api.conftest import start_server
from tests.api.test_writes import finished, long_transcript

pytestmark = pytest.mark.slow


def test_accepted_uploads_survive_kill_9_resumed_or_reported_failed(seed_service, tmp_path: Path):
    index = tmp_path / "index"
    shutil.copytree(seed_service.settings.index_dir, index)
    settings = {"upload_job_bytes": "2000"}
    server = start_server(index, **settings)
    texts = {"durable-a": long_transcript(6000, seed=1), "durable-b": long_transcript(6000, seed=2)}
    with writer_lock(index):  # another writer holds the index: the jobs are accepted, none can run
        with server.client() as http:
            accepted = {d: http.post("/documents", json={"doc_id": d, "text": t}) for d, t in texts.items()}
            assert [r.status_code for r in accepted.values()] == [202, 202], [
                r.text for r in accepted.values()
            ]
            jobs = {d: r.json()["job_id"] for d, r in accepted.items()}
            assert http.get(f"/jobs/{jobs['durable-a']}").json()["status"] in ("queued", "running")
        server.process.kill()  # SIGKILL: no shutdown, nothing flushed by the server
        server.process.wait(timeout=20)
    stored = index / "jobs"
    assert (stored / f"{jobs['durable-a']}.document.json").is_file()
    (stored / f"{jobs['durable-b']}.document.json").write_bytes(b"\x00{not json")  # a damaged disk

    server = start_server(index, **settings)
    try:
        with server.client() as http:
            a = finished(http, jobs["durable-a"])
            assert a["status"] == "done" and a["doc_id"] == "durable-a" and a["chunks"] > 0, a
            b = http.get(f"/jobs/{jobs['durable-b']}").json()
            assert b["status"] == "failed" and b["doc_id"] == "durable-b", b
            assert b["error"].startswith("could not be resumed after a restart") and "\n" not in b["error"]
            listed = {d["doc_id"] for d in http.get("/documents").json()["documents"]}
            assert "durable-a" in listed and "durable-b" not in listed
            sentence = texts["durable-a"].split("says ")[3].split(".")[0]
            hits = http.post("/search", json={"question": sentence, "k": 3}).json()["passages"]
            assert hits and hits[0]["doc_id"] == "durable-a", hits[:1]
    finally:
        server.stop()
    assert sorted(p.name for p in stored.iterdir()) == sorted(f"{j}.json" for j in jobs.values())

    server = start_server(index, **settings)  # finished jobs keep their final status across restarts
    try:
        with server.client() as http:
            assert http.get(f"/jobs/{jobs['durable-a']}").json() == a
            assert http.get(f"/jobs/{jobs['durable-b']}").json() == b
            assert http.get("/jobs/" + "0" * 32).status_code == 404
    finally:
        server.stop()


def test_stored_jobs_read_at_start_up_failed_when_unreadable_and_bounded(make_service, monkeypatch):
    import json

    from rag import jobs as jobs_module
    from rag.jobs import Jobs

    service = make_service()
    stored = service.settings.index_dir / "jobs"
    stored.mkdir(parents=True)

    def record(job_id: str, status: str, at: float, work: dict | None = None) -> None:
        job = {"job_id": job_id, "doc_id": f"doc-{job_id}", "status": status, "done": 0, "total": None}
        body = {"job": job | {"chunks": 1 if status == "done" else None, "error": None}, "at": at}
        (stored / f"{job_id}.json").write_text(json.dumps(body | ({"work": work} if work else {})))

    recording = {"replace": False, "kind": "recording", "sha256": "0" * 64, "name": "clip.wav"}
    record("rec", "queued", 1.0, recording)
    (stored / "rec.recording").write_bytes(b"RIFF not the bytes uploaded")
    record("gone", "running", 2.0, recording | {"kind": "document"})  # its document was never stored
    (stored / "torn.json").write_text('{"job": {"job_id"')
    (stored / ".tmp-cut-short").write_text("half a write")
    for n in range(3):
        record(f"old{n}", "done", 10.0 + n)
    monkeypatch.setattr(jobs_module, "KEEP", 4)

    jobs = Jobs(service)
    assert jobs.resume() == 0
    rec, gone, torn = jobs.get("rec"), jobs.get("gone"), jobs.get("torn")
    assert rec and rec.status == "failed" and "not the one uploaded" in (rec.error or ""), rec
    assert gone and gone.status == "failed" and (gone.error or "").startswith("could not be resumed"), gone
    assert torn and torn.status == "failed" and "record is unreadable" in (torn.error or ""), torn
    assert not (stored / "rec.recording").exists() and not (stored / ".tmp-cut-short").exists()
    # 6 finished, 4 kept: the oldest two forgotten, in memory and on disk
    kept = {p.name for p in stored.iterdir()}
    assert jobs.get("old0") is None and jobs.get("old1") is None and "old0.json" not in kept, kept
    assert jobs.get("old2") is not None and {"rec.json", "gone.json", "old2.json"} <= kept
    assert json.loads((stored / "rec.json").read_text())["job"]["status"] == "failed"
