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
    Choice.HELD_OUT: "the check on held-out splits refused every value: lowest regret",
    Choice.NOISE: "within the tolerance, not recommended: the best model moves more than that from epoch to epoch "
    "by chance",
    Choice.CUT: "chosen on the curves that ran, not recommended: most curves were cut short",
    Choice.NONE: "no evaluable curve",
    Choice.FIXED: "fixed (baseline)",
}


def readable_recommendations(
    table: pd.DataFrame, answer: tuple[str, str] | None = None, label: str = "recommended"
) -> pd.DataFrame:
    """The recommendations as a person reads them.

    Each ``choice`` in words; a row with no value described by its choice; ``kind`` says
    ``tuned`` (a value chosen for this policy) or ``baseline`` (fixed); and ``status`` says
    ``label`` on the one row that is the answer (``answer``: its ``(policy, metric)``), and
    otherwise how the row's value was chosen, so that no other row says recommended.
    """
    sentences = table["choice"].map(CHOICES)
    described = table["description"].where(table["description"].astype(str) != "", sentences)
    is_answer = (
        (table["policy"] == answer[0]) & (table["metric"] == answer[1])
        if answer is not None
        else pd.Series(False, index=table.index)
    )
    status = sentences.where(~is_answer, label)
    status = status.where(~((table["choice"] == Choice.WITHIN) & ~is_answer), "within the tolerance, not chosen")
    return table.assign(
        choice=sentences,
        description=described,
        kind=table["kind"].replace({"recommended": "tuned"}),
        status=status,
    )
