"""`rag mcp`: an assistant drives the MCP server over stdio with the SDK's own client, against the seed index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from rag.service import Service
from tests.conftest import PASSAGE_FIELDS, ROOT

pytest.importorskip("mcp", reason="the [mcp] extra is not installed")

from mcp import Client, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.shared.exceptions import MCPError  # noqa: E402

pytestmark = pytest.mark.slow

LAVROV = "000_81888bb7363425ad"
SAID = "Refugees have begun returning home in small groups (several thousand people have come back to Syria)."
TOOLS = {"search", "ask", "verify_quote", "documents", "read_transcript"}


def stdio(index: Path, log: Path) -> Callable[[Callable[[Client], Awaitable[None]]], None]:
    """Runs a scenario against `rag mcp --index INDEX`, spawned by the SDK's stdio client."""

    def run(scenario: Callable[[Client], Awaitable[None]]) -> None:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "rag.cli", "mcp", "--index", str(index)], env=dict(os.environ)
        )

        async def main() -> None:
            with log.open("w") as errlog:
                async with Client(stdio_client(params, errlog=errlog), read_timeout_seconds=120) as client:
                    await scenario(client)

        anyio.run(main)

    return run


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    # The text content is the same JSON, for assistants that read only text.
    assert json.loads(result.content[0].text) == result.structured_content  # type: ignore[union-attr]
    return result.structured_content


async def refused(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = result.content[0].text  # type: ignore[union-attr]
    assert "\n" not in text and text.startswith(f"Error executing tool {tool}: ")
    return text


def test_an_assistant_searches_verifies_a_quote_and_reads_the_transcript(
    seed_service: Service, tmp_path: Path
) -> None:
    async def scenario(client: Client) -> None:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert set(tools) == TOOLS
        for name in ("search", "ask", "read_transcript"):
            assert "Quote only a passage's `text`, verbatim, and cite each quote" in tools[name].description
        assert "Quote only the `text`" in (client.instructions or "")
        assert set(tools["search"].input_schema["properties"]) == {"question", "k", "filters"}

        found = await call(client, "search", question="What did Lavrov say about refugees returning to Syria?", k=3)
        passages = found["passages"]
        assert len(passages) == 3 and passages[0]["doc_id"] == LAVROV
        text = (await client.read_resource(f"transcript://{LAVROV}")).contents[0].text  # type: ignore[union-attr]
        assert text == seed_service.document(LAVROV).text
        top = passages[0]
        assert set(top) == PASSAGE_FIELDS | {"span", "time"}
        assert top["span"] == f"{LAVROV} [{top['start']}:{top['end']}]"
        assert top["text"] == text[top["start"] : top["end"]]
        assert top["citation"].startswith("Sergey Lavrov, ") and "2 August 2018" in top["citation"]
        assert top["speaker"] == "Sergey Lavrov" and top["date"] == "2018-08-02" and top["time"] is None

        # Filters as in the HTTP API.
        only = await call(client, "search", question="refugees", k=5, filters={"doc_ids": ["001_b6cd861ff3b78f22"]})
        assert {p["doc_id"] for p in only["passages"]} == {"001_b6cd861ff3b78f22"}
        lavrov = await call(client, "search", question="refugees", filters={"speaker": "lavrov", "since": "2018-08-01"})
        assert lavrov["passages"] and all("Lavrov" in p["speaker"] for p in lavrov["passages"])

        verbatim = await call(client, "verify_quote", quote=SAID, speaker="Lavrov")
        assert verbatim["verdict"] == "verbatim"
        match = verbatim["matches"][0]
        assert match["speaker_matches"] is True and match["text"] == text[match["start"] : match["end"]]
        assert match["citation"].startswith("Sergey Lavrov, ") and match["span"].startswith(LAVROV)
        someone_else = await call(client, "verify_quote", quote=SAID, speaker="Kerry")
        assert someone_else["verdict"] == "close" and someone_else["matches"][0]["speaker_matches"] is False

        read = await call(client, "read_transcript", doc_id=LAVROV, start=top["start"], end=top["end"])
        assert read["text"] == top["text"] and read["citation"] == top["citation"]
        assert read["speaker"] == "Sergey Lavrov" and read["speakers"] == ["Sergey Lavrov"]
        assert read["context_start"] <= top["start"] < top["end"] <= read["context_end"]
        assert read["context"] == text[read["context_start"] : read["context_end"]]
        assert read["context"].startswith("Sergey Lavrov:")  # the whole turn, from its speaker label
        whole = await call(client, "read_transcript", doc_id=LAVROV)
        assert whole["text"] == text

        answer = await call(client, "ask", question="What did Lavrov say about refugees returning to Syria?")
        assert not answer["abstained"] and answer["citations"]
        by_rank = {p["rank"]: p for p in answer["passages"]}
        for cited in answer["citations"]:
            assert cited["quote"] in by_rank[cited["n"]]["text"]
            assert cited["citation"] == by_rank[cited["n"]]["citation"]

        docs = (await call(client, "documents"))["documents"]
        ids = {d.doc_id for d in seed_service.documents()}
        assert {d["doc_id"] for d in docs} == ids and all(d["uri"] == f"transcript://{d['doc_id']}" for d in docs)
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        assert listed == {f"transcript://{doc_id}" for doc_id in ids}

    stdio(seed_service.settings.index_dir, tmp_path / "mcp.log")(scenario)


def test_bad_arguments_get_one_line_each(seed_service: Service, tmp_path: Path) -> None:
    async def scenario(client: Client) -> None:
        assert "question is empty" in await refused(client, "search", question="  ")
        assert "k: Input should be less than or equal to 50" in await refused(client, "search", question="x", k=51)
        assert "filters.doc: unknown field" in await refused(client, "ask", question="x", filters={"doc": "a"})
        assert "filters.until: Input should be a valid date" in await refused(
            client, "search", question="x", filters={"until": "yesterday"}
        )
        assert "unknown doc_id 'nope'" in await refused(client, "search", question="x", filters={"doc_ids": ["nope"]})
        assert "unknown doc_id 'nope'" in await refused(client, "read_transcript", doc_id="nope")
        assert "is not within" in await refused(client, "read_transcript", doc_id=LAVROV, start=10, end=10**7)
        assert "quote is empty" in await refused(client, "verify_quote", quote="")
        with pytest.raises(MCPError, match="unknown doc_id 'nope'"):
            await client.read_resource("transcript://nope")
        # The server is still answering after all of that.
        assert (await call(client, "search", question="ASEAN", k=1))["passages"]

    stdio(seed_service.settings.index_dir, tmp_path / "mcp.log")(scenario)


def test_rag_mcp_without_the_extra_says_how_to_install_it(seed_service: Service, tmp_path: Path) -> None:
    shadow = tmp_path / "shadow" / "mcp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("No module named \'mcp\'")\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shadow.parent), str(ROOT), os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run(
        [sys.executable, "-m", "rag.cli", "mcp", "--index", str(seed_service.settings.index_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert done.stderr == "error: the MCP server needs the mcp package: pip install 'transcript-rag[mcp]'\n"
    assert done.stdout == ""


def test_a_span_across_two_turns_is_read_with_both(seed_service: Service) -> None:
    """Service.excerpt, behind read_transcript: a span over a turn boundary names no single speaker."""
    from itertools import pairwise

    from rag.verify import turns

    doc = seed_service.document(LAVROV)
    first, second = next((a, b) for a, b in pairwise(turns(doc)) if a.speaker != b.speaker)
    excerpt = seed_service.excerpt(LAVROV, first.end - 20, second.start + 20)
    assert excerpt.passage.text == doc.text[first.end - 20 : second.start + 20]
    assert excerpt.passage.speaker is None
    assert excerpt.speakers == tuple(s for s in (first.speaker, second.speaker) if s)
    assert (excerpt.context_start, excerpt.context_end) == (first.start, second.end)
    inside = seed_service.excerpt(LAVROV, second.start, second.start + 30)
    assert inside.passage.speaker == second.speaker and inside.context == doc.text[second.start : second.end]


def test_tools_refuse_in_one_line_while_the_service_is_starting(seed_service: Service) -> None:
    """`rag serve` hands its readiness to the server: no tool runs before the model has loaded."""
    from rag.mcp_server import build_server

    starting = "starting: the embedding model is loading; retry in a few seconds"
    server = build_server(seed_service, lambda: starting)

    async def main() -> None:
        async with Client(server) as client:
            assert await refused(client, "search", question="ASEAN") == f"Error executing tool search: {starting}"
            assert starting in await refused(client, "documents")
            assert (await client.list_resources()).resources == []
            with pytest.raises(MCPError, match="starting"):
                await client.read_resource(f"transcript://{LAVROV}")

    anyio.run(main)
