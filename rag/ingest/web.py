"""Transcripts from web pages: fetched within limits (httpx), the main text and its metadata extracted
(trafilatura, extra [web]), then parsed by the same format sniffing as a file's text."""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from rag.errors import BadInput, NotTranscript, Refused, SkippedFile
from rag.ingest.parse import parse_document
from rag.types import Document

MAX_REDIRECTS = 5
_PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


@dataclass(frozen=True)
class FetchPolicy:
    """Where a page may come from. hosts None: any host, private addresses included (the CLI, on the
    user's own machine). Else only the hosts listed ('*' any public host, '.example.gov' a domain and
    its subdomains); a host that resolves to a loopback, private or link-local address only when it
    is listed by name (never through '*' or a domain)."""

    hosts: tuple[str, ...] | None
    max_bytes: int
    timeout: float

    @classmethod
    def server(cls, hosts: str | None, max_bytes: int, timeout: float) -> FetchPolicy:
        listed = tuple(h.strip().lower() for h in (hosts or "").split(",") if h.strip())
        return cls(listed, max_bytes, timeout)

    def check(self, url: str) -> None:
        """Refuse (Refused, BadInput) an address this policy does not reach."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadInput(f"{_shown(url)} is not an http(s) address")
        if self.hosts is None:
            return
        host = parts.hostname.lower()
        if not self.hosts:
            raise Refused("fetching web pages is off on this server: set RAG_FETCH_HOSTS to allow hosts")
        named = host in self.hosts
        in_domain = any(h.startswith(".") and host.endswith(h) for h in self.hosts)
        if not (named or in_domain or "*" in self.hosts):
            raise Refused(f"host {host!r} is not in RAG_FETCH_HOSTS ({', '.join(self.hosts)})")
        if not named and (private := _private_address(host, parts.port)):
            raise Refused(
                f"host {host!r} resolves to the private address {private}: list it in RAG_FETCH_HOSTS"
            )


@dataclass(frozen=True)
class Page:
    url: str  # after redirects
    body: bytes
    content_type: str


def fetch(url: str, policy: FetchPolicy) -> Page:
    """The page at url, redirects followed (each hop checked by the policy), at most policy.max_bytes.

    Raises:
        Refused: a host or address the policy does not allow.
        BadInput: not http(s), unreachable, an HTTP error, too large, or not a web page.
    """
    with httpx.Client(timeout=policy.timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            policy.check(url)
            try:
                with client.stream("GET", url, headers={"Accept": "text/html,text/plain;q=0.8"}) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise BadInput(f"{_shown(url)} answered HTTP {response.status_code}")
                    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if content_type and content_type not in _PAGE_TYPES:
                        raise NotTranscript(f"{_shown(url)} is {content_type}, not a web page")
                    body = bytearray()
                    for piece in response.iter_bytes():
                        body += piece
                        if len(body) > policy.max_bytes:
                            raise BadInput(
                                f"{_shown(url)} is over {policy.max_bytes:,} bytes (RAG_FETCH_MAX_BYTES)"
                            )
                    return Page(str(response.url), bytes(body), content_type or "text/html")
            except httpx.TimeoutException:
                raise BadInput(f"{_shown(url)} did not answer within {policy.timeout:g} s") from None
            except httpx.HTTPError as exc:
                raise BadInput(f"cannot fetch {_shown(url)}: {exc}") from None
    raise BadInput(f"{_shown(url)} redirects more than {MAX_REDIRECTS} times")


def page_document(doc_id: str, page: Page, source: str) -> Document:
    """The page's main text (site navigation, footers and scripts removed) parsed as a transcript, with
    the page's title and date where its text gives none, and its address as source_url.

    Raises:
        NotTranscript: no text, or no speaker turn in it.
    """
    try:
        import trafilatura
    except ImportError:
        raise BadInput("reading web pages needs the [web] extra: pip install 'transcript-rag[web]'") from None
    html = page.body.decode("utf-8", errors="replace")
    found = trafilatura.bare_extraction(
        html, url=page.url, with_metadata=True, favor_recall=True, include_comments=False, include_tables=True
    )
    text = getattr(found, "text", None) or ""
    if not text.strip():
        raise NotTranscript(f"{_shown(page.url)}: no text found in the page")
    # trafilatura gives one paragraph a line; the parsers read paragraphs between blank lines
    body = "\n\n".join(line.strip() for line in text.splitlines() if line.strip())
    sha256 = hashlib.sha256(page.body).hexdigest()
    try:
        doc = parse_document(doc_id, body, sha256, source, doc_id)
    except SkippedFile as exc:
        raise NotTranscript(str(exc)) from None
    if not doc.speakers:
        raise NotTranscript(
            f"{_shown(page.url)} is not a transcript: no speaker turns (such as 'MS. PSAKI:' or "
            "'Sergey Lavrov:') in its text"
        )
    return dataclasses.replace(
        doc,
        title=getattr(found, "title", None) or doc.title,
        date=doc.date or _iso(getattr(found, "date", None)),
        source_url=page.url,
        format=doc.format if doc.format != "text" else "html",
    )


def _iso(date: str | None) -> str | None:
    return date if date and len(date) == 10 and date[4] == "-" and date[7] == "-" else None


def _private_address(host: str, port: int | None) -> str | None:
    """The first loopback, private, link-local or otherwise non-public address host resolves to."""
    try:
        infos = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise BadInput(f"cannot resolve host {host!r}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            return str(address)
    return None


def _shown(url: str, limit: int = 120) -> str:
    return repr(url if len(url) <= limit else url[:limit] + "…")
