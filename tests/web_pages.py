"""Real-looking web pages (site navigation, a date line, speaker labels, a footer) served from a loopback
HTTP server, for the web-page ingestion tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAV = (
    '<header><nav><ul><li><a href="/">Home</a></li><li><a href="/briefing-room/">Briefing Room</a></li>'
    '<li><a href="/administration/">Administration</a></li><li><a href="/priorities/">Priorities</a></li>'
    "</ul></nav><form><input placeholder=Search><button>Search</button></form></header>"
)
FOOTER = (
    "<footer><p>Subscribe to our newsletter</p><ul><li><a href=/privacy>Privacy Policy</a></li>"
    "<li><a href=/copyright>Copyright Policy</a></li><li><a href=/accessibility>Accessibility</a></li>"
    "</ul><p>The White House, 1600 Pennsylvania Ave NW, Washington, DC 20500</p></footer>"
)

BRIEFING = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Press Briefing by Press Secretary Karine Jean-Pierre and NSC Coordinator John Kirby | The White House</title>
<meta property="og:title" content="Press Briefing by Press Secretary Karine Jean-Pierre and NSC Coordinator John Kirby">
<meta property="article:published_time" content="2024-01-10T15:30:00+00:00">
<script>window.analytics = {{}};</script><style>body {{ font-family: serif; }}</style></head>
<body>{NAV}<main id="content"><article>
<h1>Press Briefing by Press Secretary Karine Jean-Pierre and NSC Coordinator John Kirby</h1>
<p class="meta">January 10, 2024 · Press Briefings</p>
<section class="body-content">
<p>James S. Brady Press Briefing Room</p>
<p>1:05 P.M. EST</p>
<p>MS. JEAN-PIERRE:&nbsp; Good afternoon, everyone. Today the administration is announcing its support for
the ban on Antarctic krill fishing agreed by the commission.</p>
<p>With that, I will turn it over to John Kirby.</p>
<p>MR. KIRBY:&nbsp; Thanks, Karine. The krill ban protects the whales and penguins that feed on krill, and
our Coast Guard cutters will help the treaty partners monitor the Southern Ocean this season.</p>
<p>Q&nbsp;&nbsp;&nbsp; John, which ships will patrol the area?</p>
<p>MR. KIRBY:&nbsp; The cutter Polar Star will sail from Seattle next month.</p>
<p>MS. JEAN-PIERRE:&nbsp; Thank you, everyone. See you tomorrow.</p>
<p>2:14 P.M. EST</p>
</section></article></main>{FOOTER}</body></html>"""

MIDRU = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Foreign Minister Sergey Lavrov's remarks at a news conference on Arctic shipping, Murmansk, March 3, 2023</title>
</head><body>{NAV.replace("White House", "Ministry")}<div class="content"><article>
<p>3 March 2023</p><p>14:20</p>
<h1>Foreign Minister Sergey Lavrov's remarks at a news conference on Arctic shipping, Murmansk, March 3, 2023</h1>
<p>Sergey Lavrov: Colleagues, the Northern Sea Route is open to every ship that keeps to our rules on icebreaker
escort and pilotage.</p>
<p>Question: Will foreign tankers need a Russian pilot on board?</p>
<p>Sergey Lavrov: Yes, every tanker above the ice class limit will take a Russian pilot on board east of
Novaya Zemlya.</p>
</article></div>{FOOTER}</body></html>"""

ARTICLE = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Ten walks along the river</title>
</head><body>{NAV}<main><article><h1>Ten walks along the river</h1><p>Published May 2, 2024</p>
<p>The river path runs for twelve miles from the old mill to the harbour, past willows and two pubs.</p>
<p>Spring is the best season: the meadows flower and the herons nest on the island.</p>
<p>Bring boots after rain, because the lower path floods near the weir.</p>
</article></main>{FOOTER}</body></html>"""

PAGES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/briefing-room/2024/01/10/press-briefing/": (200, {"Content-Type": "text/html; charset=utf-8"},
                                                  BRIEFING.encode()),
    "/en/foreign_policy/news/1856321/": (200, {"Content-Type": "text/html"}, MIDRU.encode()),
    "/travel/ten-walks/": (200, {"Content-Type": "text/html"}, ARTICLE.encode()),
    "/old-briefing": (301, {"Location": "/briefing-room/2024/01/10/press-briefing/"}, b""),
    "/to-ftp": (302, {"Location": "ftp://127.0.0.1/briefing.txt"}, b""),
    "/loop": (302, {"Location": "/loop"}, b""),
    "/huge": (200, {"Content-Type": "text/html"}, b"<html><body><p>" + b"word " * 400_000 + b"</p></body></html>"),
    "/report.pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF-1.4 not a page"),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        status, headers, body = PAGES.get(self.path, (404, {"Content-Type": "text/html"}, b"<p>Not found</p>"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def site() -> Iterator[str]:
    """A web site on 127.0.0.1 serving PAGES; yields its base address."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
