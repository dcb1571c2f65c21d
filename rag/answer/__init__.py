"""Answers composed from retrieved passages: extractive by default, every quote checked."""
