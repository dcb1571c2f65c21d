"""POST /mcp: the MCP server over streamable HTTP on a real `rag serve`, behind the same API key."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import httpx
import pytest

from tests.api.conftest import Server, start_server
from tests.conftest import ROOT

pytest.importorskip("mcp", reason="the [mcp] extra is not installed")

import httpx2  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

pytestmark = pytest.mark.slow

KEY = "s3cret-key"
LAVROV = "000_81888bb7363425ad"
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def keyed(seed_index: Path) -> Iterator[Server]:
    server = start_server(seed_index, api_key=KEY)
    yield server
    server.stop()


def run(url: str, key: str | None, scenario: Callable[[Client], Awaitable[None]]) -> None:
    """A scenario against the server's /mcp, with the SDK's streamable HTTP client."""

    async def main() -> None:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(60, read=120))
        async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
            await scenario(client)

    anyio.run(main)


def test_an_assistant_with_the_key_searches_verifies_and_reads(keyed: Server) -> None:
    async def scenario(client: Client) -> None:
        assert {t.name for t in (await client.list_tools()).tools} == {
            "search",
            "ask",
            "verify_quote",
            "documents",
            "read_transcript",
        }
        found = await client.call_tool("search", {"question": "refugees returning to Syria", "k": 2})
        assert not found.is_error
        top = found.structured_content["passages"][0]  # type: ignore[index]
        assert top["doc_id"] == LAVROV and top["citation"] and top["span"] == f"{LAVROV} [{top['start']}:{top['end']}]"
        checked = await client.call_tool("verify_quote", {"quote": top["text"], "speaker": "Lavrov"})
        assert checked.structured_content["verdict"] == "verbatim"  # type: ignore[index]
        read = await client.call_tool("read_transcript", {"doc_id": LAVROV, "start": top["start"], "end": top["end"]})
        assert read.structured_content["text"] == top["text"]  # type: ignore[index]
        text = (await client.read_resource(f"transcript://{LAVROV}")).contents[0].text  # type: ignore[union-attr]
        assert text[top["start"] : top["end"]] == top["text"]

    run(keyed.url, KEY, scenario)
    # The same answers as the HTTP API's.
    with keyed.client(KEY) as http:
        same = http.post("/search", json={"question": "refugees returning to Syria", "k": 2}).json()["passages"]
    assert same[0]["chunk_id"].startswith(LAVROV)


def test_without_the_key_mcp_is_refused(keyed: Server) -> None:
    with keyed.client(KEY) as http:  # the same request with the key opens a session
        opened = http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
    assert opened.status_code == 200 and opened.headers["mcp-session-id"]
    for key, reason in ((None, "missing API key"), ("wrong", "wrong API key")):
        with keyed.client(key) as http:
            response = http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        assert response.status_code == 401 and reason in response.json()["detail"]
        assert response.headers["www-authenticate"] == "Bearer"

    async def never(client: Client) -> None:
        raise AssertionError("connected without the key")

    with pytest.raises(BaseException) as refused:  # the SDK raises inside its task groups
        run(keyed.url, None, never)
    errors = leaves(refused.value)
    assert errors and all(isinstance(e, MCPError) for e in errors), errors  # never connected


def leaves(error: BaseException) -> list[BaseException]:
    """The exceptions inside nested exception groups."""
    if isinstance(error, BaseExceptionGroup):
        return [leaf for e in error.exceptions for leaf in leaves(e)]
    return [error]


def test_mcp_refuses_a_foreign_host(keyed: Server) -> None:
    """DNS rebinding: a page of another site that resolves to 127.0.0.1 cannot reach the tools."""
    with keyed.client(KEY) as http:
        response = http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS | {"Host": "evil.example"})
        assert response.status_code == 421
        response = http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS | {"Origin": "http://evil.example"})
        assert response.status_code == 403
        response = http.post("/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        assert response.status_code == 200


def test_serve_without_the_extra_says_how_to_install_it(
    seed_index: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shadow = tmp_path / "shadow" / "mcp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("No module named \'mcp\'")\n')
    path = os.pathsep.join([str(shadow.parent), str(ROOT), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path)
    server = start_server(seed_index)
    try:
        response = httpx.post(f"{server.url}/mcp", json=INITIALIZE, headers=MCP_HEADERS, timeout=30)
        assert response.status_code == 501
        assert response.json() == {
            "detail": "the MCP server needs the mcp package: pip install 'transcript-rag[mcp]'"
        }
        # Everything else is served as ever.
        assert httpx.post(f"{server.url}/search", json={"question": "ASEAN"}, timeout=60).status_code == 200
    finally:
        server.stop()
