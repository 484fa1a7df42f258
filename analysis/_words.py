"""The sentences of the analysis' outcomes, made where a person reads them (the report files)."""

from __future__ import annotations

import pandas as pd

from analysis._choice import Choice

__all__ = ["CHOICES", "readable_recommendations"]

#: What the ``choice`` column says about how the value was chosen.
CHOICES = {
    Choice.WITHIN: "within the tolerance",
    Choice.FALLBACK: "nothing within the tolerance: lowest regret",
    Choice.TRADEOFF: "best trade-off",
    Choice.NEVER: "never fires on these curves: saves nothing",
    Choice.CANNOT: "cannot stop a curve before its epoch budget ends",
    Choice.HELD_OUT: "no value kept held-out searches' best and selected models within the tolerance: lowest regret",
    Choice.NOISE: "within the tolerance, not recommended: the best model moves more than that from epoch to epoch "
    "by chance",
    Choice.CUT: "chosen on the curves that ran, not recommended: most curves were cut short",
    Choice.NONE: "no evaluable curve",
    Choice.FIXED: "fixed (baseline)",
}


def readable_recommendations(table: pd.DataFrame) -> pd.DataFrame:
    """The recommendations with each ``choice`` in words, and a row with no value described by its choice."""
    sentences = table["choice"].map(CHOICES)
    described = table["description"].where(table["description"].astype(str) != "", sentences)
    return table.assign(choice=sentences, description=described)
