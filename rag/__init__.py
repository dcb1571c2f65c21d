"""Question answering over diplomatic transcripts with precise, verbatim citations."""

__version__ = "0.1.0"
