"""The replay (`analysis._replay`): exact stops and regrets on known curves, the live stoppers' own rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import (
    CurveSet,
    Policy,
    analyse,
    candidate_policies,
    replay,
    stop_epochs,
)
from analysis._replay import replay_policy
from tests.curves import (
    EPOCHS,
    POLICIES,
    folded_curves,
    random_curves,
    u_curve,
)
from tests.live import live_stop_epoch, results


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


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(
    "policy", POLICIES, ids=lambda p: f"{p.family}-{p.metric}-{'-'.join(f'{k}{v}' for k, v in p.settings.items())}"
)
@pytest.mark.e2e  # slower: every curve through the live stoppers; the whole suite runs it
def test_vectorised_replay_agrees_with_the_live_stoppers_on_every_curve(seed, policy):
    frame = random_curves(seed)
    curves = CurveSet.from_frame(frame)
    stops = stop_epochs(policy, curves)
    trials = {trial_id: results(trial) for trial_id, trial in frame.groupby("trial_id")}
    for row, trial_id in enumerate(curves.trial_ids):
        trial = trials[trial_id]
        for column, value in enumerate(policy.candidates):
            assert stops[row, column] == live_stop_epoch(policy.stopper(value), trial), (trial_id, value)


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
