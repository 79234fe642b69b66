"""Counts said with their noun: "1 minute", "5 minutes", never "1 minutes"."""

from __future__ import annotations


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``count`` and the noun that fits it; ``nouns`` where adding an "s" is wrong."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"
