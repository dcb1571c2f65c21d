"""A small OpenAI-compatible chat-completions server on loopback that returns scripted replies.

The hosted LLM cannot run here; this speaks the real protocol (JSON and SSE streaming) over real HTTP so the
official `openai` client is exercised end to end.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    content: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before answering
    raw: bytes | None = None  # a body sent as is (malformed output)
    pieces: list[str] | None = None  # how a streamed answer is cut (default: word by word)
    piece_delay: float = 0.0  # seconds between streamed pieces


@dataclass
class FakeLLM:
    script: list[Reply] = field(default_factory=list)  # one reply per request; the last one repeats
    requests: list[dict] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["fake-model"])  # what GET /v1/models lists
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def next_reply(self) -> Reply:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def start(self) -> FakeLLM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                if self.path.rstrip("/") != "/v1/models":
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in fake.models]
                self._send(200, json.dumps({"object": "list", "data": data}).encode())

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                reply = fake.next_reply()
                time.sleep(reply.delay)
                if reply.status != 200:
                    self._send(
                        reply.status,
                        json.dumps({"error": {"message": "scripted failure"}}).encode(),
                        {"retry-after-ms": "10"},
                    )
                elif reply.raw is not None:
                    self._send(200, reply.raw)
                elif body.get("stream"):
                    self._stream(body["model"], reply)
                else:
                    self._send(
                        200,
                        json.dumps(
                            {
                                "id": "chatcmpl-1",
                                "object": "chat.completion",
                                "created": 0,
                                "model": body["model"],
                                "choices": [
                                    {
                                        "index": 0,
                                        "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": reply.content},
                                    }
                                ],
                                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                            }
                        ).encode(),
                    )

            def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError):  # the client gave up first (the timeout test)
                    self.wfile.write(payload)

            def _stream(self, model: str, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = reply.pieces or [w + " " for w in reply.content.split(" ")]
                for piece in [*pieces, None]:
                    delta = {"content": piece} if piece is not None else {}
                    chunk = {
                        "id": "chatcmpl-1",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": model,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": None if piece else "stop"}],
                    }
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(reply.piece_delay)
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
