"""The outcomes in words (`analysis._words`): sentences made where a person reads them."""

from __future__ import annotations

import pandas as pd

from analysis import CHOICES, Choice, readable_recommendations


def test_every_choice_has_one_sentence_and_a_row_without_a_value_is_described_by_it():
    assert set(CHOICES) == set(Choice) and len(set(CHOICES.values())) == len(Choice)
    table = pd.DataFrame(
        {
            "policy": ["patience", "threshold", "keras_default"],
            "metric": ["val_loss"] * 3,
            "kind": ["recommended", "recommended", "baseline"],
            "choice": [Choice.WITHIN, Choice.CANNOT, Choice.FIXED],
            "description": ["stop after 3 epochs without improvement of val_loss", "", "Keras' default"],
        }
    )
    readable = readable_recommendations(table)
    # No answer given: no row says recommended, and a tuned row is called tuned.
    assert readable["status"].tolist() == [
        "within the tolerance, not chosen",
        "cannot stop a curve before its epoch budget ends",
        "fixed (baseline)",
    ]
    assert readable["kind"].tolist() == ["tuned", "tuned", "baseline"]
    assert readable_recommendations(table, ("patience", "val_loss"))["status"].iloc[0] == "recommended"
    assert readable_recommendations(table, ("patience", "val_accuracy"))["status"].iloc[0] != "recommended"
    assert readable["choice"].tolist() == [
        "within the tolerance",
        "cannot stop a curve before its epoch budget ends",
        "fixed (baseline)",
    ]
    assert readable["description"].tolist() == [
        "stop after 3 epochs without improvement of val_loss",
        "cannot stop a curve before its epoch budget ends",
        "Keras' default",
    ]
    assert table["choice"].iloc[0] is Choice.WITHIN  # the analysis' own table keeps the outcome
