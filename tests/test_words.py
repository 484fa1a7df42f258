"""The outcomes in words (`analysis._words`): sentences made where a person reads them."""

from __future__ import annotations

import pandas as pd

from analysis import CHOICES, Choice, readable_recommendations


def test_every_choice_has_one_sentence_and_a_row_without_a_value_is_described_by_it():
    assert set(CHOICES) == set(Choice) and len(set(CHOICES.values())) == len(Choice)
    table = pd.DataFrame(
        {
            "choice": [Choice.WITHIN, Choice.CANNOT, Choice.FIXED],
            "description": ["stop after 3 epochs without improvement of val_loss", "", "Keras' default"],
        }
    )
    readable = readable_recommendations(table)
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
