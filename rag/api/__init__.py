"""HTTP API (FastAPI): routers call the Service only."""
