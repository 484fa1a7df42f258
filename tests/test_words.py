"""The outcomes in words (`analysis._words`): sentences made where a person reads them."""

from __future__ import annotations

import pandas as pd

from analysis import CHOICES, Choice, readable_recommendations
from tune_stop._count import counted


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


def test_a_count_of_one_takes_the_singular_where_a_count_is_printed():
    from tune_stop.stoppers import MaxEpochStopper, PatienceStopper

    assert [counted(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch", "2 epochs"]
    assert counted(1, "search", "searches") == "1 search" and counted(3, "search", "searches") == "3 searches"
    assert MaxEpochStopper(1).describe() == "stop after 1 epoch"
    stopper = PatienceStopper("val_loss", patience=1)
    assert [stopper("t", {"val_loss": value, "epoch": epoch}) for epoch, value in enumerate((1.0, 2.0), 1)] == [
        False,
        True,
    ]
    record = stopper.stop_record("t")
    assert record is not None and record.detail == "no improvement for 1 epoch (best 1)"
