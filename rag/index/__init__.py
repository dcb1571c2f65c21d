"""The on-disk index: generations with a manifest, SQLite (documents, chunks, FTS5) and FAISS."""
