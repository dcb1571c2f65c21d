"""The MCP server: the service's search, answers, quote check and transcripts as tools and resources for an
assistant (Claude Desktop, an IDE agent), over stdio (`rag mcp`) or streamable HTTP (`/mcp` on `rag serve`).

Every tool calls the Service, as the HTTP routes do; the `mcp` package (extra [mcp]) is imported only here,
when a server is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import Field, ValidationError

from rag.api.schemas import Filters
from rag.contract import MAX_K, document_fields
from rag.errors import NotFound, RagError
from rag.service import Service
from rag.types import Filters as CoreFilters
from rag.types import Passage, clock

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

MISSING = "the MCP server needs the mcp package: pip install 'transcript-rag[mcp]'"
SCHEME = "transcript://"
_T = TypeVar("_T")

INSTRUCTIONS = (
    "Transcripts of diplomatic press conferences, briefings and interviews. Quote only the `text` of the "
    "passages these tools return, word for word, and cite every quote with the passage's `citation` (and "
    "its `span` when asked where it is). Never quote from memory or paraphrase inside quotation marks: "
    "check a quote with verify_quote first. When `abstained` is true the transcripts do not hold the "
    "answer: say so rather than guessing."
)
_QUOTE_RULE = (
    " Quote only a passage's `text`, verbatim, and cite each quote with its `citation`; `span` is "
    "DOC_ID [START:END], the place in the transcript (read_transcript opens it)."
)

Question = Annotated[str, Field(description="A plain-language question, 1 to 2,000 characters.")]
K = Annotated[int, Field(ge=1, le=MAX_K, description=f"Passages to return (1 to {MAX_K}).")]
FilterArg = Annotated[
    Filters | None,
    Field(
        description="Optional: doc_ids (only these documents), speaker (a case-insensitive part of the "
        "name), since and until (YYYY-MM-DD, inclusive), as in the HTTP API."
    ),
]


def require_mcp() -> None:
    """Raises RagError with the install hint when the [mcp] extra is missing."""
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        raise RagError(MISSING) from None


def passage_fields(p: Passage) -> dict[str, Any]:
    """A passage as the HTTP API gives it, plus its `span` (DOC_ID [START:END]) and `time` into the
    recording (00:12:31–00:13:00), ready for an assistant to cite."""
    time = None
    if p.t_start is not None:
        time = clock(p.t_start) + (f"–{clock(p.t_end)}" if p.t_end is not None else "")
    return asdict(p) | {"span": f"{p.doc_id} [{p.start}:{p.end}]", "time": time}


def build_server(service: Service, refusal: Callable[[], str | None] | None = None) -> MCPServer[Any]:
    """The MCP server over one Service. `refusal` says why the service cannot answer yet (a server still
    loading its model), or None when it can.

    Raises:
        RagError: the [mcp] extra is not installed.
    """
    require_mcp()
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
    from mcp_types import Resource, ToolAnnotations

    def call(work: Callable[[], _T]) -> _T:
        """The service's errors as the one-line message the assistant reads (is_error results)."""
        if refusal is not None and (reason := refusal()):
            raise ToolError(reason)
        try:
            return work()
        except RagError as exc:
            raise ToolError(str(exc)) from None

    class TranscriptServer(MCPServer[Any]):
        async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
            """As MCPServer's, with arguments that fail the schema said in one line."""
            try:
                return await super().call_tool(name, arguments, context)
            except ToolError as exc:
                if isinstance(exc.__cause__, ValidationError):
                    reason = describe(exc.__cause__.errors())
                    raise ToolError(f"Error executing tool {name}: {reason}") from exc.__cause__
                raise

        async def list_resources(self) -> list[Resource]:
            """Every document in the index as transcript://DOC_ID (the template serves them all)."""
            listed = await super().list_resources()
            if refusal is not None and refusal():
                return listed
            import anyio.to_thread

            docs = await anyio.to_thread.run_sync(service.documents)
            return listed + [
                Resource(
                    uri=f"{SCHEME}{d.doc_id}",
                    name=d.doc_id,
                    title=d.title,
                    description=", ".join(x for x in (", ".join(d.speakers), d.place, d.date) if x) or None,
                    mime_type="text/plain",
                )
                for d in docs
            ]

    # The SDK's configure_logging puts a rich handler on the root logger: the process keeps its own logging.
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    server = TranscriptServer("transcript-rag", title="Transcript QA", instructions=INSTRUCTIONS)
    root.handlers[:], root.level = handlers, level
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(
        description="The passages of the transcripts that best answer a question, best first, each with "
        "its ready `citation`, `span`, speaker, date, `time` into the recording and `source_url`."
        + _QUOTE_RULE,
        annotations=read_only,
    )
    def search(question: Question, k: K = 5, filters: FilterArg = None) -> dict[str, Any]:
        passages = call(lambda: service.search(question, k, _core(filters)))
        return {"passages": [passage_fields(p) for p in passages]}

    @server.tool(
        description="An answer made of verbatim quotes from the transcripts, with numbered `citations` "
        "(n is the cited passage's rank) and the passages it draws on; `abstained` true when the "
        "transcripts do not hold the answer (then say so, do not guess)." + _QUOTE_RULE,
        annotations=read_only,
    )
    def ask(question: Question, k: K = 5, filters: FilterArg = None) -> dict[str, Any]:
        answer = call(lambda: service.ask(question, k, _core(filters)))
        by_rank = {p.rank: p for p in answer.passages}
        data = answer.to_dict()
        data["passages"] = [passage_fields(p) for p in answer.passages]
        data["citations"] = [
            asdict(c) | {"citation": by_rank[c.n].citation, "span": f"{c.doc_id} [{c.start}:{c.end}]"}
            for c in answer.citations
        ]
        return data

    @server.tool(
        description="Is a quote in the transcripts? verdict `verbatim` (every word, in one speaker's turn), "
        "`close` (a changed or dropped word, or someone else's words: speaker_matches false) or "
        "`not_found`, with the places it was said and a word diff. Check a quote before using it; cite "
        "the match's `citation`, and quote the match's `text`, not the quote given.",
        annotations=read_only,
    )
    def verify_quote(
        quote: Annotated[str, Field(description="The quote to check, 1 to 2,000 characters.")],
        speaker: Annotated[
            str | None, Field(description="Who the quote is attributed to (a part of the name).")
        ] = None,
    ) -> dict[str, Any]:
        result = call(lambda: service.verify(quote, CoreFilters(speaker=speaker or None)))
        data = result.to_dict()
        data["matches"] = [
            m | passage_fields(match.passage)
            for m, match in zip(data["matches"], result.matches, strict=True)
        ]
        return data

    @server.tool(
        description="Every transcript in the index: doc_id, title, date, place, speakers, passages, "
        "source_url, and its resource `uri` (transcript://DOC_ID) holding the whole text.",
        annotations=read_only,
    )
    def documents() -> dict[str, Any]:
        def listed() -> list[dict[str, Any]]:
            counts = service.chunk_counts()
            return [
                document_fields(d, counts.get(d.doc_id, 0)) | {"uri": f"{SCHEME}{d.doc_id}"}
                for d in service.documents()
            ]

        return {"documents": call(listed)}

    @server.tool(
        description="A transcript's text at [start, end) (character offsets, as a passage's span gives "
        "them) with its `citation`, and the speaker turns around it (`context`, from context_start to "
        "context_end) to read it in context; without start and end, the whole transcript." + _QUOTE_RULE,
        annotations=read_only,
    )
    def read_transcript(
        doc_id: Annotated[str, Field(description="The document, e.g. 000_81888bb7363425ad.")],
        start: Annotated[int | None, Field(ge=0, description="First character of the span.")] = None,
        end: Annotated[int | None, Field(ge=1, description="Character after the span's last one.")] = None,
    ) -> dict[str, Any]:
        excerpt = call(lambda: service.excerpt(doc_id, start, end))
        return passage_fields(excerpt.passage) | {
            "context_start": excerpt.context_start,
            "context_end": excerpt.context_end,
            "context": excerpt.context,
            "speakers": list(excerpt.speakers),
        }

    @server.resource(
        SCHEME + "{doc_id}",
        name="transcript",
        title="A transcript",
        description="A transcript's whole cleaned text: passages' start and end are offsets into it.",
        mime_type="text/plain",
    )
    def transcript(doc_id: str) -> str:
        if refusal is not None and (reason := refusal()):
            raise ResourceError(reason)
        try:
            return service.document(doc_id).text
        except NotFound as exc:
            raise ResourceNotFoundError(str(exc)) from None
        except RagError as exc:
            raise ResourceError(str(exc)) from None

    return server


def describe(errors: Sequence[Any]) -> str:
    """Pydantic's errors as one line: 'k: Input should be less than or equal to 50; ...'."""
    parts = []
    for error in errors:
        where = ".".join(str(x) for x in error.get("loc", ())) or "arguments"
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        parts.append(f"{where}: {message.removeprefix('Value error, ')}")
    return "; ".join(parts) or "invalid arguments"


def _core(filters: Filters | None) -> CoreFilters | None:
    return filters.to_core() if filters else None
