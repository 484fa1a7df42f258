"""Replay and K-fold recommendation on curves with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import (
    CurveSet,
    ExperimentError,
    Policy,
    analyse,
    candidate_policies,
    load_curves,
    markdown_report,
    replay,
    stop_epochs,
)
from analysis._replay import replay_policy
from tests.expected import RECOMMENDATION_COLUMNS
from tests.live import live_stop_epoch, results

EPOCHS = 30


def u_curve(
    trial_id: str, fold: int = 0, minimum_at: int = 10, length: int = EPOCHS, budget: int = EPOCHS
) -> list[dict]:
    """val_loss = (t - m)^2 / 100 + 0.1 (minimum 0.1 at epoch m); test_accuracy = 1 - val_loss."""
    rows = []
    for epoch in range(1, length + 1):
        val = (epoch - minimum_at) ** 2 / 100 + 0.1
        rows.append(
            {
                "trial_id": trial_id,
                "config_id": trial_id,
                "fold": fold,
                "epoch": epoch,
                "val_loss": val,
                "train_loss": 1.0 / epoch,
                "test_accuracy": 1.0 - val,
                "config/max_epochs": budget,
            }
        )
    return rows


def test_replay_gives_the_exact_stop_epochs_and_regret_on_a_known_curve():
    curves = pd.DataFrame(u_curve("a"))
    policies = [
        # (t - 10)^2 <= 10 first at t = 7: val 0.19, test accuracy 0.81 against the best 0.9.
        Policy("threshold", "val_loss", "min", (0.2,)),
        # Improvements through epoch 10, then two epochs without: stop at 12.
        Policy("patience", "val_loss", "min", (2.0,)),
        # E_opt = 0.1 at epoch 10; epoch 11 has GL = 100 * (0.11 / 0.1 - 1) = 10 > 5.
        Policy("gl", "val_loss", "min", (5.0,)),
        # Strip ends 5, 10, 15, 20: 0.35, 0.1, 0.35, 1.1 -> rises at 15 and 20: UP_2 stops at 20.
        Policy("up", "val_loss", "min", (2.0,)),
    ]
    table = replay(curves, policies, target="test_accuracy", target_mode="max").set_index("policy")
    expected = {"threshold": 7, "patience": 12, "gl": 11, "up": 20}
    for policy, epoch in expected.items():
        row = table.loc[policy]
        assert row["stop_epoch"] == epoch, policy
        accuracy = 1.0 - ((epoch - 10) ** 2 / 100 + 0.1)
        assert row["target_at_stop"] == pytest.approx(accuracy)
        assert row["target_best"] == pytest.approx(0.9)
        assert row["regret"] == pytest.approx((0.9 - accuracy) / 0.9)
        last = 1.0 - ((EPOCHS - 10) ** 2 / 100 + 0.1)
        assert row["regret_vs_last"] == pytest.approx((last - accuracy) / abs(last))
        assert row["epochs_saved"] == pytest.approx(1 - epoch / EPOCHS)
        assert bool(row["triggered"]) and not bool(row["censored"])


def random_curves(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        length = int(rng.integers(3, 45))
        t = np.arange(1, length + 1)
        val = 1 / t + 0.01 * t * rng.uniform() + rng.normal(0, 0.02, length)
        train = 1 / t + 0.05 + rng.normal(0, 0.005, length)
        if i % 5 == 0:
            val[rng.integers(0, length)] = rng.choice([np.nan, np.inf, -np.inf])
        if i % 11 == 0:
            train[rng.integers(0, length)] = np.nan
        if i % 13 == 0:
            val[:] = np.round(val, 1)  # ties
        for epoch in range(length):
            rows.append(
                {
                    "trial_id": f"t{i:03d}",
                    "fold": i % 3,
                    "epoch": epoch + 1,
                    "val_loss": val[epoch],
                    "train_loss": train[epoch],
                    "val_accuracy": 1 - val[epoch],
                    "test_accuracy": 1 - val[epoch],
                }
            )
    return pd.DataFrame(rows)


POLICIES = [
    Policy("threshold", "val_loss", "min", (0.6, 0.3, 0.2, 0.1, 0.05, 0.0)),
    Policy("threshold", "val_accuracy", "max", (0.4, 0.8, 0.9, 0.95)),
    Policy("threshold", "val_loss", "min", (0.6, 0.3, 0.2, 0.1), settings={"grace_period": 4}),
    Policy("threshold", "val_accuracy", "max", (0.4, 0.8, 0.9), settings={"grace_period": 1}),
    Policy("patience", "val_loss", "min", (0.0, 2.0, 4.0), settings={"min_delta": 0.01, "grace_period": 3}),
    Policy("patience", "val_loss", "min", (0.0, 1.0, 2.0, 3.0, 5.0)),
    Policy("patience", "val_loss", "min", (0.0, 2.0, 4.0), settings={"min_delta": 0.01}),
    Policy("patience", "val_accuracy", "max", (1.0, 3.0)),
    Policy("gl", "val_loss", "min", (0.0, 0.5, 1.0, 2.0, 5.0, 20.0)),
    Policy("pq", "val_loss", "min", (0.05, 0.2, 0.5, 1.0, 3.0), train_metric="train_loss", settings={"strip": 3}),
    Policy("pq", "val_loss", "min", (0.5,), train_metric="train_loss", settings={"strip": 5}),
    Policy("up", "val_loss", "min", (1.0, 2.0, 3.0), settings={"strip": 3}),
    Policy("up", "val_loss", "min", (1.0, 2.0), settings={"strip": 5}),
]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "policy", POLICIES, ids=lambda p: f"{p.family}-{p.metric}-{'-'.join(f'{k}{v}' for k, v in p.settings.items())}"
)
def test_vectorised_replay_agrees_with_the_live_stoppers_on_every_curve(seed, policy):
    frame = random_curves(seed)
    curves = CurveSet.from_frame(frame)
    stops = stop_epochs(policy, curves)
    trials = {trial_id: results(trial) for trial_id, trial in frame.groupby("trial_id")}
    for row, trial_id in enumerate(curves.trial_ids):
        trial = trials[trial_id]
        for column, value in enumerate(policy.candidates):
            assert stops[row, column] == live_stop_epoch(policy.stopper(value), trial), (trial_id, value)


def test_threshold_candidates_span_the_observed_range_on_a_log_scale():
    from analysis import threshold_candidates

    values = np.array([0.01, 0.1, 1.0, np.nan, np.inf])
    grid = threshold_candidates(values, "min", count=5)
    assert grid[0] == pytest.approx(1.0) and grid[-1] == pytest.approx(0.01)
    assert grid[2] == pytest.approx(0.1)  # the log-scale median
    assert threshold_candidates(np.array([-1.0, 0.0, 1.0]), "max", count=3) == (-1.0, 0.0, 1.0)


def test_censored_curve_is_excluded_when_the_decision_falls_after_its_end():
    rows = u_curve("full") + u_curve("cut", length=8) + u_curve("cut-after", length=14)
    curves = CurveSet.from_frame(pd.DataFrame(rows))
    # Patience 2 stops the full curve at epoch 12: after "cut" ended at 8, before "cut-after" ended at 14.
    result = replay_policy(Policy("patience", "val_loss", "min", (2.0,)), curves, "test_accuracy", "max")
    by_trial = dict(zip(curves.trial_ids, result.evaluable[:, 0], strict=True))
    assert by_trial == {"cut": False, "cut-after": True, "full": True}
    table = replay(curves, [Policy("patience", "val_loss", "min", (2.0,))], target="test_accuracy", target_mode="max")
    cut = table.set_index("trial_id").loc["cut"]
    assert bool(cut["censored"]) and np.isnan(cut["stop_epoch"]) and np.isnan(cut["regret"])
    # A curve that ran its whole budget and never fired is not censored: it trained to the end.
    never = replay_policy(Policy("threshold", "val_loss", "min", (0.01,)), curves, "test_accuracy", "max")
    full = list(curves.trial_ids).index("full")
    assert never.evaluable[full, 0] and never.epochs_used[full, 0] == EPOCHS
    assert not never.evaluable[list(curves.trial_ids).index("cut"), 0]


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


def folded_curves(seed: int = 0) -> pd.DataFrame:
    """U-shaped curves whose minimum varies, in 4 folds."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(40):
        rows += u_curve(f"t{i:02d}", fold=i % 4, minimum_at=int(rng.integers(6, 20)))
    frame = pd.DataFrame(rows)
    frame["val_loss"] += rng.normal(0, 0.003, len(frame))
    return frame


def test_the_choice_for_a_held_out_cell_does_not_depend_on_its_configurations():
    frame = folded_curves()
    # Keep the candidate grid fixed so only the curves differ.
    policies = ("patience", "gl", "up")
    before = analyse(frame, metrics=[("val_loss", "min")], families=policies, baselines=False)
    curves, split = before.curves, before.split
    held_out = set(curves.trial_ids[split.group == 2])
    perturbed = frame.copy()
    in_group = perturbed["trial_id"].isin(held_out)
    perturbed.loc[in_group, "val_loss"] = perturbed.loc[in_group, "val_loss"] * 3 + 1
    perturbed.loc[in_group, "test_accuracy"] = perturbed.loc[in_group, "test_accuracy"][::-1].to_numpy()
    after = analyse(perturbed, metrics=[("val_loss", "min")], families=policies, baselines=False)
    assert np.array_equal(after.split.group, split.group)
    choices = before.cv_choices.merge(after.cv_choices, on=["policy", "metric", "cell"], suffixes=("", "_after"))
    cells = choices[choices["group"] == 2]
    assert len(cells) == 3 * 4  # three policies x four data folds
    assert (cells["value"] == cells["value_after"]).all()
    # ...while the perturbation is real: the held-out outcome changed.
    assert not np.allclose(cells["regret"], cells["regret_after"], equal_nan=True)


def test_no_held_out_curve_shares_a_configuration_or_a_fold_with_its_training_curves():
    from analysis import make_split

    rng = np.random.default_rng(0)
    config_ids = np.repeat([f"c{i}" for i in range(23)], 3)
    folds = np.tile([0, 1, 2], 23)
    order = rng.permutation(len(config_ids))
    split = make_split(config_ids[order], folds[order], max_groups=5, seed=1)
    assert (split.unit, split.n_groups, split.n_folds, split.n_cells) == ("configuration", 5, 3, 15)
    covered = np.zeros(len(order), dtype=int)
    for train, test in split.cells():
        assert test.any() and train.any() and not (train & test).any()
        assert not set(config_ids[order][train]) & set(config_ids[order][test])
        assert not set(folds[order][train]) & set(folds[order][test])
        covered += test
    assert (covered == 1).all()  # every curve is held out exactly once
    sizes = np.bincount(split.group[np.unique(split.config_index, return_index=True)[1]])
    assert sizes.max() - sizes.min() <= 1  # groups of configurations as equal as possible


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


def test_tradeoff_objective_saves_more_with_a_larger_penalty():
    frame = folded_curves()
    saved = []
    for penalty in (0.0, 10.0):
        rec = analyse(
            frame,
            metrics=[("val_loss", "min")],
            families=("threshold",),
            baselines=False,
            objective="tradeoff",
            penalty=penalty,
        ).recommendations.iloc[0]
        saved.append(rec["epochs_saved"])
    assert saved[1] > saved[0]


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


def test_warns_when_cross_validation_is_impossible():
    frame = pd.DataFrame(u_curve("a"))
    with pytest.warns(UserWarning, match="only 1 trial: nothing can be held out"):
        table = analyse(frame, metrics=[("val_loss", "min")]).recommendations
    assert table["cv_regret_mean"].isna().all() and table["recommended"].notna().all()


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"tolerance": -0.1}, "tolerance=-0.1"),
        ({"objective": "fastest"}, "objective='fastest'"),
        ({"families": ("early",)}, "policy='early'"),
        ({"metrics": [("val_los", "min")]}, "metric 'val_los' is not in the curves"),
        ({"target": "fid"}, "target 'fid' is not in the curves"),
        ({"settings": {"threshold": {"val_loss": {"grace_period": -1}}}}, "'val_loss': grace_period must be"),
        ({"settings": {"patience": {"*": {"min_delta": -0.1}}}}, "'val_loss': min_delta must be >= 0"),
        ({"settings": {"up": {"val_loss": {"strip": 0}}}}, "strip must be >= 1"),
        ({"settings": {"gl": {"val_loss": {"strip": 3}}}}, r"gl on 'val_loss': \['strip'\] cannot be set"),
        ({"settings": {"early": {"val_loss": {"strip": 3}}}}, "early on 'val_loss'"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        analyse(folded_curves(), **options)


def test_curves_from_a_csv_file(tmp_path):
    path = tmp_path / "curves.csv"
    folded_curves().to_csv(path, index=False)
    frame = load_curves(path)
    assert frame["trial_id"].nunique() == 40
    assert analyse(frame).recommendations["n_curves"].eq(40).all()
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ExperimentError, match="lacks the columns trial_id, epoch"):
        load_curves(tmp_path / "bad.csv")


def complete_curves(seed: int, n: int, epochs: int) -> pd.DataFrame:
    """Noisy rising accuracy curves that all ran their whole budget."""
    rng = np.random.default_rng(seed)
    accuracy = np.clip(0.5 + np.cumsum(rng.normal(0.02, 0.03, (n, epochs)), axis=1), 0.01, 1.0)
    return pd.DataFrame(
        [
            {"trial_id": f"t{i:02d}", "fold": i % 3, "epoch": k + 1, "val_loss": 1 - a, "test_accuracy": a}
            for i, row in enumerate(accuracy)
            for k, a in enumerate(row)
        ]
    )


@pytest.mark.parametrize("seed", range(3))
def test_savings_ceiling_is_the_linear_program_and_bounds_every_hindsight_choice(seed):
    import itertools

    from scipy import sparse
    from scipy.optimize import linprog

    from analysis import savings_ceiling

    n, epochs, tolerance = 5, 4, 0.03
    frame = complete_curves(seed, n, epochs)
    ceiling = savings_ceiling(CurveSet.from_frame(frame), "test_accuracy", "max", tolerance)
    accuracy = frame.pivot(index="trial_id", columns="epoch", values="test_accuracy").to_numpy()
    regret = (accuracy.max(axis=1, keepdims=True) - accuracy) / accuracy.max(axis=1, keepdims=True)
    saved = 1 - np.arange(1, epochs + 1) / epochs
    program = linprog(
        -np.tile(saved, n) / n,
        A_ub=regret.reshape(1, -1) / n,
        b_ub=[tolerance],
        A_eq=sparse.kron(sparse.eye(n), np.ones((1, epochs))),
        b_eq=np.ones(n),
        bounds=(0, 1),
        method="highs",
    )
    assert ceiling.epochs_saved == pytest.approx(-program.fun, abs=1e-9)
    assert ceiling.n_curves == n
    # Every real choice of one stop epoch per curve (all 4**5) within the tolerance saves no more.
    best_choice = max(
        saved[list(stops)].mean()
        for stops in itertools.product(range(epochs), repeat=n)
        if regret[np.arange(n), list(stops)].mean() <= tolerance
    )
    assert best_choice <= ceiling.epochs_saved + 1e-12
    assert ceiling.epochs_saved - best_choice < 1 / n  # one curve at most is split by the relaxation


def test_savings_ceiling_bounds_every_replayed_policy_and_is_exact_at_zero_tolerance():
    from analysis import savings_ceiling

    frame = complete_curves(7, 30, 20)
    curves = CurveSet.from_frame(frame)
    analysis = analyse(frame, metrics=[("val_loss", "min")], tolerance=0.05, families=("threshold", "patience"))
    assert analysis.ceiling is not None and analysis.ceiling.n_curves == 30
    within = analysis.candidates[analysis.candidates["regret"] <= 0.05]
    assert len(within) > 5 and (within["epochs_saved"] <= analysis.ceiling.epochs_saved + 1e-12).all()
    report = markdown_report(analysis, 0.05, "curves")
    assert f"would save at most {100 * analysis.ceiling.epochs_saved:.1f}% of the epochs within the 5.0%" in report
    # With no regret allowed each curve stops at its first best epoch.
    accuracy = frame.pivot(index="trial_id", columns="epoch", values="test_accuracy").to_numpy()
    first_best = np.argmax(accuracy == accuracy.max(axis=1, keepdims=True), axis=1) + 1
    exact = savings_ceiling(curves, "test_accuracy", "max", 0.0).epochs_saved
    assert exact == pytest.approx(np.mean(1 - first_best / 20), abs=1e-9)


def test_savings_ceiling_leaves_out_censored_curves_and_flat_curves_stop_at_once():
    from analysis import savings_ceiling

    rows = u_curve("full") + u_curve("cut", length=8)
    assert savings_ceiling(CurveSet.from_frame(pd.DataFrame(rows)), "test_accuracy", "max", 0.01).n_curves == 1
    flat = pd.DataFrame({"trial_id": "a", "epoch": range(1, 11), "test_accuracy": 0.9})
    ceiling = savings_ceiling(CurveSet.from_frame(flat), "test_accuracy", "max", 0.0)
    assert ceiling.epochs_saved == pytest.approx(0.9)
    nothing = savings_ceiling(CurveSet.from_frame(pd.DataFrame(u_curve("cut", length=8))), "test_accuracy", "max", 0.01)
    assert nothing.n_curves == 0 and np.isnan(nothing.epochs_saved)


def misleading_start_curves() -> pd.DataFrame:
    """d_accuracy starts near 1 and dips before it climbs for good; fid improves until epoch 8.

    A threshold on d_accuracy with no grace fires at epoch 1 on every curve, where fid is
    worst; its live stopper has ``grace_period=3``, so the replay must not stop before epoch 4.
    """
    rows = []
    for trial in range(12):
        peak = 0.99 + 0.0005 * trial
        for epoch in range(1, 13):
            accuracy = peak if epoch == 1 else 0.6 + 0.03 * epoch
            rows.append(
                {
                    "trial_id": f"g{trial:02d}",
                    "fold": trial % 3,
                    "epoch": epoch,
                    "d_accuracy": accuracy,
                    "fid": 30.0 + (epoch - 8) ** 2 + trial,
                }
            )
    return pd.DataFrame(rows)


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


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"family": "gl", "settings": {"grace_period": 2}}, r"gl cannot keep \['grace_period'\] fixed"),
        ({"family": "threshold", "settings": {"min_delta": 0.1}}, r"threshold cannot keep \['min_delta'\] fixed"),
        ({"family": "threshold", "settings": {"grace_period": -1}}, "grace_period=-1"),
        ({"family": "threshold", "settings": {"grace_period": True}}, "grace_period=True"),
        ({"family": "up", "mode": "max"}, "up is defined on errors"),
        ({"family": "pq"}, "pq needs train_metric"),
        ({"family": "early"}, "family='early'"),
        ({"family": "gl", "candidates": ()}, "candidates must not be empty"),
    ],
)
def test_bad_policy_arguments_are_the_live_stoppers_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Policy(**{"metric": "val_loss", "candidates": (1.0,), **kwargs})


def test_patience_is_replayed_with_the_live_min_delta_and_grace_period():
    frame = folded_curves()
    options = {"metrics": [("val_loss", "min")], "families": ("patience",), "baselines": False}
    settings = {"patience": {"val_loss": {"min_delta": 0.01, "grace_period": 2}}}
    analysis = analyse(frame, settings=settings, **options)
    policy = analysis.replays[0][0].policy
    assert dict(policy.settings) == {"min_delta": 0.01, "grace_period": 2}
    expected = stop_epochs(
        Policy("patience", "val_loss", "min", policy.candidates, settings={"min_delta": 0.01, "grace_period": 2}),
        analysis.curves,
    )
    assert np.array_equal(analysis.replays[0][0].stop_epoch, expected)
    assert not np.array_equal(
        expected, stop_epochs(Policy("patience", "val_loss", "min", policy.candidates), analysis.curves)
    )
    assert analysis.recommendations.iloc[0]["description"].endswith("of val_loss by more than 0.01, from epoch 3 on")


def test_replay_runs_live_stoppers_with_the_default_target_and_names_the_reason():
    from tune_stop.stoppers import AnyStopper, NonFiniteStopper, PatienceStopper, ThresholdStopper

    curves = pd.DataFrame(u_curve("a") + u_curve("b", minimum_at=20))
    stoppers = [
        ThresholdStopper("val_loss", "min", threshold=0.2),
        AnyStopper(NonFiniteStopper("val_loss"), PatienceStopper("val_loss", "min", patience=2)),
        ThresholdStopper("val_loss", "min", threshold=0.0),
    ]
    table = replay(curves, stoppers).set_index(["stopper", "trial_id"])
    # (t - 10)^2 <= 10 first at t = 7; (t - 20)^2 <= 10 first at t = 17. Patience 2: the minimum + 2.
    assert table.loc[(0, "a"), "stop_epoch"] == 7 and table.loc[(0, "b"), "stop_epoch"] == 17
    assert table.loc[(1, "a"), ["stop_epoch", "reason"]].tolist() == [12, "patience"]
    assert table.loc[(0, "a"), "regret"] == pytest.approx((0.9 - 0.81) / 0.9)  # target: test_accuracy
    never = table.loc[(2, "a")]
    assert np.isnan(never["stop_epoch"]) and never["reason"] == "" and not never["censored"]
    assert never["epochs_used"] == EPOCHS


def test_patience_baseline_is_replayed_as_the_live_stopper_runs_it():
    frame = random_curves(seed=3)
    options = {"metrics": [("val_loss", "min")], "target": "val_accuracy", "families": ("patience",)}
    options["baselines"] = False
    baseline = float(frame["val_loss"].quantile(0.2))
    with_baseline = analyse(frame, settings={"patience": {"val_loss": {"baseline": baseline}}}, **options)
    policy = with_baseline.replays[0][0].policy
    assert policy.settings == {"baseline": baseline}
    curves = with_baseline.curves
    for value, stops in zip(policy.candidates, with_baseline.replays[0][0].stop_epoch.T, strict=True):
        for row, trial_id in enumerate(curves.trial_ids):
            trial = frame[frame["trial_id"] == trial_id]
            assert stops[row] == live_stop_epoch(policy.stopper(value), trial)
    plain = analyse(frame, **options).replays[0][0].stop_epoch
    assert not np.array_equal(plain, with_baseline.replays[0][0].stop_epoch)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: [__import__("ray.tune.stopper").tune.stopper.MaximumIterationStopper(3)], r"stoppers\[0\]: Maximum"),
        (
            lambda: [
                __import__("tune_stop.stoppers").stoppers.AnyStopper(
                    __import__("tune_stop.stoppers").stoppers.NonFiniteStopper("val_loss"),
                    __import__("ray.tune.stopper").tune.stopper.MaximumIterationStopper(3),
                )
            ],
            r"stoppers\[0\]\.stoppers\[1\]: MaximumIterationStopper is not a tune-stop stopper",
        ),
        (
            lambda: [__import__("tune_stop.stoppers").stoppers.ThresholdStopper("val_loss", threshold_key="nope")],
            r"threshold_key='nope' is not in the curves' configs",
        ),
        (
            lambda: [
                Policy("gl", "val_loss", "min", (1.0,)),
                __import__("tune_stop.stoppers").stoppers.GLStopper("val_loss"),
            ],
            "not a mix",
        ),
        (lambda: [__import__("tune_stop.stoppers").stoppers.GLStopper("val_los")], r"'val_los' not in the curves"),
    ],
)
def test_replay_refuses_what_it_cannot_run_in_one_line(make, match):
    curves = pd.DataFrame(u_curve("a"))
    with pytest.raises(ValueError, match=match) as caught:
        replay(curves, make())
    assert "\n" not in str(caught.value)


def test_integer_parameters_refuse_fractions_instead_of_rounding_them():
    with pytest.raises(ValueError, match=r"patience must be a whole number, but got patience=2.5"):
        Policy("patience", "val_loss", "min", (2.0, 2.5))
    with pytest.raises(ValueError, match=r"strips must be a whole number, but got strips=2.9"):
        Policy("up", "val_loss", "min", (2.9,))


def test_policies_hash_and_pickle():
    import pickle

    policy = Policy("up", "val_loss", "min", (1.0, 2.0), settings={"strip": 3})
    assert pickle.loads(pickle.dumps(policy)) == policy and hash(policy) == hash(pickle.loads(pickle.dumps(policy)))


def test_a_retried_trials_later_epochs_are_dropped_as_the_live_stoppers_drop_them(tmp_path):
    from tune_stop.stoppers import PatienceStopper

    # Epochs 1-5 reported, the trial crashed and was retried from its epoch-2 checkpoint.
    losses = [1.0, 0.8, 0.6, 0.5, 0.4, 0.9, 0.95, 0.97]
    epochs = [1, 2, 3, 4, 5, 3, 4, 5]
    frame = pd.DataFrame({"trial_id": "a", "epoch": epochs, "val_loss": losses, "test_accuracy": 0.5})
    frame.to_csv(tmp_path / "curves.csv", index=False)
    curves = load_curves(tmp_path / "curves.csv")
    assert curves["epoch"].tolist() == [1, 2, 3, 4, 5] and curves["val_loss"].tolist() == [1.0, 0.8, 0.9, 0.95, 0.97]
    live = PatienceStopper("val_loss", "min", patience=2)
    stops = [e for e, v in zip(epochs, losses, strict=True) if live("a", {"epoch": e, "val_loss": v})]
    table = replay(curves, [PatienceStopper("val_loss", "min", patience=2)])
    assert stops[0] == table["stop_epoch"].iloc[0] == 4


def test_curves_with_missing_or_zero_epochs_are_refused_in_one_line():
    gap = pd.DataFrame({"trial_id": "a", "epoch": [1, 2, 4], "val_loss": [1.0, 0.5, 0.4], "test_accuracy": 0.5})
    with pytest.raises(ValueError, match=r"trial a has the epochs 1, 2, 4: each curve must hold epochs 1, 2, 3"):
        CurveSet.from_frame(gap)
    with pytest.raises(ValueError, match=r"trial a has the epochs 0, 1, 2"):
        CurveSet.from_frame(gap.assign(epoch=[0, 1, 2]))


def test_a_stopper_that_overrides_its_decision_but_not_its_scores_is_refused():
    from tune_stop.stoppers import GLStopper

    class Stubborn(GLStopper):
        def decide(self, histories, result):
            return super().decide(histories, result) if len(histories[self.metric]) > 2 else (False, "")

    with pytest.raises(ValueError, match=r"stoppers\[0\]: Stubborn overrides how it decides but not its scores"):
        replay(pd.DataFrame(u_curve("a")), [Stubborn("val_loss", 1.0)])

    class Relabelled(GLStopper):
        policy = "gl_relabelled"

    assert replay(pd.DataFrame(u_curve("a")), [Relabelled("val_loss", 5.0)])["reason"].iloc[0] == "gl_relabelled"


def test_a_csv_with_rays_training_iteration_instead_of_epoch_is_read(tmp_path):
    frame = pd.DataFrame(u_curve("a") + u_curve("b", minimum_at=15)).rename(columns={"epoch": "training_iteration"})
    frame.drop(columns=["config_id", "fold"]).to_csv(tmp_path / "curves.csv", index=False)
    curves = load_curves(tmp_path / "curves.csv")
    assert curves.groupby("trial_id")["epoch"].max().tolist() == [EPOCHS, EPOCHS]
    with pytest.warns(UserWarning, match="only 2 configurations"):
        row = analyse(curves, metrics=[("val_loss", "min")], families=("patience",), baselines=False).recommendations
    assert row["cv_unit"].iloc[0] == "trial" and row["n_no_target"].iloc[0] == 0


def test_report_files_get_the_users_usual_permissions(tmp_path):
    import os
    import stat

    from analysis import write_report

    analysis = analyse(folded_curves(), metrics=[("val_loss", "min")], families=("patience",), baselines=False)
    previous = os.umask(0o022)
    try:
        written = write_report(analysis, tmp_path / "report", tolerance=0.01, source="curves")
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(path.stat().st_mode) for path in written} == {0o644}


def test_trial_ids_of_any_type_become_text_sorted_as_text_with_their_rows_kept_together():
    # Integer ids (a generated frame) and a missing id: text order puts 10 before 2.
    frame = pd.DataFrame(
        {
            "trial_id": [2, 2, 10, 10, np.nan, np.nan],
            "epoch": [2, 1, 1, 2, 1, 2],
            "val_loss": [0.2, 0.3, 0.5, 0.4, 0.9, 0.8],
        }
    )
    curves = CurveSet.from_frame(frame)
    assert list(curves.trial_ids) == ["10.0", "2.0", "nan"]
    np.testing.assert_array_equal(curves.matrix("val_loss"), [[0.5, 0.4], [0.3, 0.2], [0.9, 0.8]])


def test_earliest_stops_bound_every_replayed_stop_and_say_what_cannot_fire():
    from analysis import baseline_policies
    from analysis._replay import earliest_stops

    rng = np.random.default_rng(0)
    n, epochs = 300, 12
    # Random walks, some diverging to NaN: every stop on them comes at or after the earliest.
    loss = np.exp(np.cumsum(rng.normal(0, 0.3, (n, epochs)), axis=1))
    loss[rng.random((n, epochs)) < 0.02] = np.nan
    train = np.exp(np.cumsum(rng.normal(-0.05, 0.1, (n, epochs)), axis=1))
    frame = pd.DataFrame(
        {
            "trial_id": np.repeat([f"t{i:03d}" for i in range(n)], epochs),
            "epoch": np.tile(np.arange(1, epochs + 1), n),
            "val_loss": loss.ravel(),
            "train_loss": train.ravel(),
        }
    )
    curves = CurveSet.from_frame(frame)
    policies = candidate_policies(
        ["threshold", "patience", "gl", "pq", "up"], "val_loss", "min", loss, "train_loss", threshold_count=20
    ) + baseline_policies("val_loss", "min", "train_loss")
    for policy in policies:
        earliest = earliest_stops(policy, epochs)
        stops = stop_epochs(policy, curves)
        assert ((stops == 0) | ((earliest > 0) & (stops >= earliest))).all(), policy.name
    # Extremes past the usual: GL of any alpha can fire at epoch 2, a threshold near the largest float at once,
    # and long strips or patience beyond the first curves' 1,024 epochs are still found.
    assert earliest_stops(Policy("gl", "m", "min", (100.0, 5000.0)), 10).tolist() == [2, 2]
    assert earliest_stops(Policy("threshold", "m", "max", (1e299, 1e301)), 10).tolist() == [1, 1]
    assert earliest_stops(Policy("up", "m", "min", (4.0,), settings={"strip": 300}), 2000).tolist() == [1500]
    assert earliest_stops(Policy("patience", "m", "min", (3000.0,)), 10**6).tolist() == [3000]
    by_name = {p.name: p for p in baseline_policies("val_loss", "min", "train_loss")}
    # Keras' patience 0 stops a NaN curve at once; Prechelt's UP3 (strips of 5) needs 4 strips.
    assert earliest_stops(by_name["keras_default"], 12).tolist() == [1]
    assert earliest_stops(by_name["prechelt_up3"], 12).tolist() == [0]
    assert earliest_stops(by_name["prechelt_up3"], 20).tolist() == [20]


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
        assert rows.loc[name, "choice"] == "cannot stop a curve before its epoch budget ends"
        assert np.isnan(rows.loc[name, "recommended"])


def test_pq_reads_the_training_metric_its_settings_name():
    rng = np.random.default_rng(0)
    n, epochs = 12, 20
    frame = pd.DataFrame(
        {
            "trial_id": np.repeat([f"t{i}" for i in range(n)], epochs),
            "epoch": np.tile(np.arange(1, epochs + 1), n),
            "val_error": rng.random(n * epochs),
            "train_error": rng.random(n * epochs),
            "test_accuracy": rng.random(n * epochs),
        }
    )
    settings = {"pq": {"val_error": {"train_metric": "train_error"}}}
    analysis = analyse(frame, metrics=[("val_error", "min")], families=["pq"], baselines=False, settings=settings)
    assert analysis.recommendations["policy"].tolist() == ["pq"]
    assert np.isfinite(analysis.recommendations["recommended"].iloc[0])
