"""A count with its noun, singular or plural: ``1 epoch``, ``3 epochs``."""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, in the plural (``plural``, else ``noun + "s"``) unless ``count`` is 1."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
