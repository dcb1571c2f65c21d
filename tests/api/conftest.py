"""A real `rag serve` subprocess on 127.0.0.1 over a copy of the seed index."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import store_env, store_index


@dataclass
class Server:
    url: str
    index: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def client(self, key: str | None = None, timeout: float = 60) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(index: Path, **env: str) -> Server:
    """Start `rag serve` and wait until /readyz says ready (the model and index are loaded)."""
    port = free_port()
    full_env = dict(os.environ, **store_env(index), **{f"RAG_{k.upper()}": v for k, v in env.items()})
    log = open(index.parent / f"server-{port}.log", "wb")  # noqa: SIM115 (the server's lifetime)
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), "--index", str(index)],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", index, full_env, process)
    deadline = time.monotonic() + 330  # rag serve itself gives up after RAG_READY_TIMEOUT (300 s)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.close()
            lines = (index.parent / f"server-{port}.log").read_text().splitlines()
            raise AssertionError(f"rag serve exited during start-up: {lines[-1] if lines else ''}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    raise TimeoutError("rag serve did not become ready")


@pytest.fixture(scope="module")
def store() -> str:
    """The store a module's index lives in; the contract modules parametrise it over both."""
    return "local"


@pytest.fixture(scope="module")
def seed_index(store: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the seed index that a module's server may change."""
    return store_index(store, request, tmp_path_factory)


@pytest.fixture(scope="module")
def server(seed_index: Path) -> Iterator[Server]:
    server = start_server(seed_index, max_upload_bytes="200000")
    yield server
    server.stop()
