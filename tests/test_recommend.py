"""The recommendation pipeline (`analysis._recommend`): choices on curves with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import (
    Choice,
    analyse,
)
from tests.curves import (
    complete_curves,
    folded_curves,
    misleading_start_curves,
    u_curve,
)
from tests.expected import RECOMMENDATION_COLUMNS


def test_recommendation_counts_censored_curves():
    rows = []
    for fold in range(3):  # 6 configurations: the few-configurations warning is expected
        rows += u_curve(f"f{fold}", fold) + u_curve(f"c{fold}", fold, length=6)
    with pytest.warns(UserWarning, match="only 6 configurations"):
        analysis = analyse(pd.DataFrame(rows), metrics=[("val_loss", "min")], families=("patience",), baselines=False)
    row = analysis.recommendations.iloc[0]
    assert row["n_curves"] == 6
    # The truncated curves (6 epochs, still improving) cannot show any patience rule firing.
    assert row["n_censored"] == 3


def test_recommendation_is_deterministic_and_respects_the_tolerance():
    frame = folded_curves()
    first = analyse(frame, tolerance=0.02)
    second = analyse(frame, tolerance=0.02)
    pd.testing.assert_frame_equal(first.recommendations, second.recommendations)
    chosen = first.recommendations[first.recommendations["kind"] == "recommended"]
    feasible = first.candidates[(first.candidates["regret_high"] <= 0.02) & (first.candidates["kind"] == "recommended")]
    assert not feasible.empty
    for row in chosen.itertuples():
        options = feasible[(feasible["policy"] == row.policy) & (feasible["metric"] == row.metric)]
        if not options.empty:
            # The margin: the upper end of the regret interval, not the mean, is within the tolerance.
            assert row.regret_high <= 0.02 and row.regret <= row.regret_high + 1e-12
            assert row.epochs_saved == pytest.approx(options["epochs_saved"].max())


def test_recommendation_columns_and_baselines():
    analysis = analyse(folded_curves())
    table = analysis.recommendations
    for column in RECOMMENDATION_COLUMNS:
        assert column in table
    assert {"keras_default", "lightning_default", "prechelt_gl5", "prechelt_pq1", "prechelt_up3"} <= set(
        table["policy"]
    )
    assert set(table.loc[table["kind"] == "recommended", "policy"]) == {"threshold", "patience", "gl", "pq", "up"}
    assert (table["n_folds"] == 4).all() and (table["cv_unit"] == "trial").all() and (table["cv_groups"] == 5).all()
    assert (table["interval"] == 0.8).all() and (table["new_configs"] == 40).all()
    for row in table.itertuples():
        assert row.regret_low - 1e-12 <= row.regret <= row.regret_high + 1e-12, row.policy
        assert row.epochs_saved_low - 1e-12 <= row.epochs_saved <= row.epochs_saved_high + 1e-12, row.policy
        # 5 groups x 4 folds; a random group may hold no trial of some fold.
        assert 0 <= row.cv_within_tolerance <= 1 and 15 <= row.cv_cells <= 20
    threshold = table[(table["policy"] == "threshold")].iloc[0]
    assert 0 <= threshold["cv_epochs_saved_mean"] <= 1


def test_threshold_is_replayed_and_recommended_with_the_live_grace_period():
    curves = misleading_start_curves()
    options = {"metrics": [("d_accuracy", "max")], "target": "fid", "families": ("threshold",), "baselines": False}
    plain = analyse(curves, **options)
    graced = analyse(curves, settings={"threshold": {"d_accuracy": {"grace_period": 3}}}, **options)
    plain_stops = plain.replays[0][0].stop_epoch
    graced_replay = graced.replays[0][0]
    assert graced_replay.policy.settings == {"grace_period": 3}
    # Candidates come from the epochs the threshold can fire at, so none is the epoch-1 peak alone.
    assert min(graced_replay.policy.candidates) >= curves.loc[curves["epoch"] > 3, "d_accuracy"].min()
    assert (graced_replay.stop_epoch[graced_replay.stop_epoch > 0] > 3).all()
    assert (plain_stops[:, 0] == 1).all()  # with no grace the loosest candidate fires at once
    row, plain_row = graced.recommendations.iloc[0], plain.recommendations.iloc[0]
    assert row["description"].startswith("stop at the first epoch d_accuracy >= ")
    assert row["description"].endswith(", from epoch 4 on")
    # Replayed as it will run, the recommendation meets the 1% tolerance; replayed without
    # the grace, no threshold does (each one fires at epoch 1 or not before the end).
    assert row["cv_regret_mean"] <= 0.01 < plain_row["cv_regret_mean"]


def test_a_value_that_cannot_fire_within_the_budget_is_never_recommended():
    frame = complete_curves(1, 12, 8)
    analysis = analyse(frame, metrics=[("val_loss", "min")], families=("patience", "up"))
    rows = analysis.recommendations.set_index("policy")
    # Patience up to 30 is in the grid; on 8 epochs only values below 8 can stop a curve before its end.
    assert rows.loc["patience", "recommended"] < 8
    patience = analysis.candidates[analysis.candidates["policy"] == "patience"].set_index("value")
    assert not patience.loc[[8.0, 10.0, 30.0], "recommended"].any()
    # UP's strips of 5 cannot end two rising strips in 8 epochs: neither the tuned UP nor Prechelt's UP3.
    for name in ("up", "prechelt_up3"):
        assert rows.loc[name, "choice"] is Choice.CANNOT
        assert np.isnan(rows.loc[name, "recommended"])


def test_a_value_within_the_tolerance_on_mostly_cut_curves_is_not_recommended():
    from analysis import Choice
    from tests.curves import complete_curves

    frame = complete_curves(0, 30, 12).assign(**{"config/max_epochs": 12})
    survivors = set(frame[frame["epoch"] == 3].nsmallest(6, "val_loss")["trial_id"])
    options = {"metrics": [("val_loss", "min")], "families": ("threshold",), "tolerance": 0.5}
    kept = frame["trial_id"].isin(survivors) | (frame["epoch"] <= 3)
    with pytest.warns(UserWarning, match="24 of 30 curves were cut short"):
        cut = analyse(frame[kept], **options)
    # Cut at 6 of 30 survivors: within so loose a tolerance, yet refused; the same curves whole are answered.
    assert cut.recommendations.query("kind == 'recommended'")["choice"].tolist() == [Choice.CUT]
    assert cut.recommended() is None
    whole = analyse(frame, **options)
    assert whole.recommendations.query("kind == 'recommended'")["choice"].tolist() == [Choice.WITHIN]
    assert whole.recommended() is not None
    # Fewer than half cut: judged as before.
    few_cut = frame["trial_id"].isin(set(frame["trial_id"].unique()[:12])) | kept
    assert analyse(frame[few_cut], **options).recommended() is not None
