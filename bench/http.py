"""HTTP throughput and latency: requests per second, p50 and p99 of /search and /ask at 1, 8 and 32 clients.

    .venv/bin/python -m bench.http [--url http://127.0.0.1:8000] [--requests 200]

Without --url it starts `rag serve` on a free loopback port over index/ (build it with `make index`)
and stops it afterwards. Each client is a thread with its own keep-alive connection.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named http.py, as asked; keep it from shadowing the standard library's http package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def start_server() -> tuple[str, subprocess.Popen[bytes]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(900):
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return url, process
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("rag serve did not become ready: is index/ built (make index)?")


def drive(
    url: str, path: str, questions: list[str], clients: int, total: int
) -> tuple[float, np.ndarray, int]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    per_client = max(1, total // clients)

    def client(worker: int) -> None:
        nonlocal errors
        with httpx.Client(base_url=url, timeout=120) as http:
            for i in range(per_client):
                question = questions[(worker * per_client + i) % len(questions)]
                started = time.perf_counter()
                response = http.post(path, json={"question": question, "k": 5})
                elapsed = (time.perf_counter() - started) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code != 200

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    seconds = time.perf_counter() - started
    return len(latencies) / seconds, np.array(latencies), errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running server (default: start one over index/)")
    parser.add_argument("--requests", type=int, default=200, help="requests per endpoint and concurrency")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from rag.evaluate import load_questions

    questions = [q.question for q in load_questions(ROOT / "eval" / "questions.jsonl")]
    url, process = (args.url, None) if args.url else start_server()
    try:
        drive(url, "/search", questions, 1, 20)  # warm up
        header = ("endpoint", "clients", "requests", "req/s", "p50 ms", "p99 ms", "errors")
        print(f"{header[0]:<10}" + "".join(f"{h:>9}" for h in header[1:]))
        for path in ("/search", "/ask"):
            for clients in (1, 8, 32):
                rps, ms, errors = drive(url, path, questions, clients, args.requests)
                print(
                    f"{path:<10}{clients:>8}{len(ms):>10}{rps:>9.1f}{np.percentile(ms, 50):>9.1f}"
                    f"{np.percentile(ms, 99):>9.1f}{errors:>8}"
                )
    finally:
        if process:
            process.terminate()
            process.wait()


if __name__ == "__main__":
    main()
