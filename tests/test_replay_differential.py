"""Differential test: the replay and the live stoppers stop every random curve at the same epoch.

Every family with every fixed argument it has (strips 1-10, baseline, min_delta on
floating-point boundaries, grace_period, per-trial thresholds), on seeded random curves
with ties, plateaus, NaN and +-inf, and curves of length 1. Any disagreement fails.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pandas as pd
import pytest
from ray.tune import Stopper

from analysis import CurveSet, Policy, replay, stop_epochs
from tune_stop.stoppers import (
    AnyStopper,
    MaxEpochStopper,
    NonFiniteStopper,
    ThresholdStopper,
)

NUM_CURVES = 150


def random_curves(num_curves: int, seed: int) -> tuple[pd.DataFrame, dict[str, list[dict]]]:
    """Curves on a 0.05 grid (ties, plateaus, min_delta boundaries), with NaN and +-inf sprinkled in.

    About one curve in eight is cut short of its budget (censored); lengths run from 1.

    Returns:
        The long frame, and each trial's rows as the Ray results a live stopper sees.
    """
    rng = np.random.default_rng(seed)
    rows = []
    per_trial: dict[str, list[dict]] = {}
    for trial in range(num_curves):
        length = int(rng.choice([1, 2, 3, *range(4, 31)]))
        budget = length + (int(rng.integers(1, 5)) if rng.random() < 0.125 else 0)
        steps = rng.choice([-0.1, -0.05, 0.0, 0.0, 0.05, 0.1], size=length)
        val = np.round(np.clip(rng.uniform(0.3, 1.0) + np.cumsum(steps), 0.0, 2.0) / 0.05) * 0.05
        train = np.round(np.clip(rng.uniform(0.2, 0.8) + np.cumsum(np.minimum(steps, 0.0)), 0.0, 2.0), 2)
        for values in (val, train):
            broken = rng.random(length) < 0.04
            values[broken] = rng.choice([np.nan, np.inf, -np.inf], size=int(broken.sum()))
        config = {"max_epochs": budget, "val_loss_threshold": round(float(rng.uniform(0.2, 0.9)), 2)}
        trial_id = f"t{trial:04d}"
        per_trial[trial_id] = []
        for epoch in range(length):
            metrics = {
                "epoch": epoch + 1,
                "val_loss": float(val[epoch]),
                "val_accuracy": float(1.0 - val[epoch]),
                "train_loss": float(train[epoch]),
            }
            per_trial[trial_id].append({**metrics, "config": config})
            rows.append({"trial_id": trial_id, **metrics, **{f"config/{k}": v for k, v in config.items()}})
    return pd.DataFrame(rows), per_trial


def curves_for(case: str) -> tuple[CurveSet, dict[str, list[dict]]]:
    """Fresh curves for each case (seeded by its name), so the cases together see thousands."""
    frame, per_trial = random_curves(NUM_CURVES, seed=zlib.crc32(case.encode()))
    return CurveSet.from_frame(frame), per_trial


def live_stops(make_stopper, trial_ids, per_trial) -> np.ndarray:
    """First stop epoch of a fresh live stopper on every trial (0 where it never stops)."""
    stopper = make_stopper()
    stops = np.zeros(len(trial_ids), dtype=np.int64)
    for row, trial_id in enumerate(trial_ids):
        for result in per_trial[str(trial_id)]:
            if stopper(str(trial_id), result):
                stops[row] = result["epoch"]
                break
    return stops


# family, mode, candidates, every combination of fixed arguments to try.
FAMILY_CASES = [
    ("threshold", "min", (0.0, 0.3, 0.5, 0.75, 1.0), {"grace_period": [0, 1, 4]}),
    ("threshold", "max", (0.3, 0.5, 0.75, 1.0), {"grace_period": [0, 3]}),
    (
        "patience",
        "min",
        (0, 1, 2, 4),
        {"min_delta": [0.0, 0.05, 0.1, 0.3], "grace_period": [0, 2], "baseline": [None, 0.4, 0.75]},
    ),
    ("patience", "max", (0, 1, 3), {"min_delta": [0.0, 0.1], "grace_period": [0, 3], "baseline": [None, 0.5]}),
    ("gl", "min", (0.0, 1.0, 5.0, 20.0), {}),
    ("pq", "min", (0.0, 0.5, 2.0, 10.0), {"strip": list(range(1, 11))}),
    ("up", "min", (1, 2, 3), {"strip": list(range(1, 11))}),
]


def _settings_grid(options: dict[str, list]) -> list[dict]:
    names = list(options)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*options.values())]


CASES = [
    pytest.param(
        family, mode, candidates, settings, id=f"{family}-{mode}-" + "-".join(f"{k}{v}" for k, v in settings.items())
    )
    for family, mode, candidates, options in FAMILY_CASES
    for settings in _settings_grid(options)
]


@pytest.mark.e2e  # slower: thousands of random curves through the live stoppers; the whole suite runs it
@pytest.mark.parametrize(("family", "mode", "candidates", "settings"), CASES)
def test_replay_of_every_family_and_fixed_argument_matches_the_live_stopper(family, mode, candidates, settings):
    curve_set, per_trial = curves_for(f"{family}-{mode}-{settings}")
    metric = "val_accuracy" if mode == "max" else "val_loss"
    train_metric = "train_loss" if family == "pq" else None
    policy = Policy(
        family, metric, mode, tuple(float(c) for c in candidates), train_metric=train_metric, settings=settings
    )
    vectorised = stop_epochs(policy, curve_set)
    by_stopper = replay(curve_set, [policy.stopper(value) for value in policy.candidates], target="val_loss")
    for column, value in enumerate(policy.candidates):
        live = live_stops(lambda value=value: policy.stopper(value), curve_set.trial_ids, per_trial)
        disagree = np.flatnonzero(vectorised[:, column] != live)
        assert disagree.size == 0, (
            value,
            [(curve_set.trial_ids[i], vectorised[i, column], live[i]) for i in disagree[:5]],
        )
        replayed = by_stopper.loc[by_stopper["stopper"] == column, "stop_epoch"].fillna(0).to_numpy(dtype=np.int64)
        assert np.array_equal(replayed, live), value
    assert vectorised.any(), "no candidate fired on any curve: the case tests nothing"


def test_guards_per_trial_thresholds_and_combinations_match_the_live_stoppers():
    curve_set, per_trial = curves_for("guards")

    def stoppers() -> list[Stopper]:
        return [
            NonFiniteStopper(["val_loss", "train_loss"]),
            MaxEpochStopper(7),
            ThresholdStopper("val_loss", "min", threshold_key="val_loss_threshold"),
            ThresholdStopper("val_loss", "min", threshold_key="val_loss_threshold", grace_period=2),
            AnyStopper(
                NonFiniteStopper("val_loss"),
                ThresholdStopper("val_loss", "min", threshold_key="val_loss_threshold"),
                Policy("patience", "val_loss", "min", (2.0,), settings={"min_delta": 0.05}).stopper(2.0),
            ),
            AnyStopper(MaxEpochStopper(5), Policy("up", "val_loss", "min", (1.0,), settings={"strip": 2}).stopper(1.0)),
        ]

    table = replay(curve_set, stoppers(), target="val_loss")
    for index in range(len(stoppers())):
        live_stopper = stoppers()[index]
        live = live_stops(lambda s=live_stopper: s, curve_set.trial_ids, per_trial)
        rows = table[table["stopper"] == index]
        assert np.array_equal(rows["stop_epoch"].fillna(0).to_numpy(dtype=np.int64), live), index
        # The reason is the live stop record's policy: the first stopper in order among those that fired.
        for trial_id, reason in zip(rows["trial_id"], rows["reason"], strict=True):
            record = live_stopper.stop_record(str(trial_id)) if hasattr(live_stopper, "stop_record") else None
            assert reason == (record.policy if record is not None else ""), (index, trial_id)
        assert (live > 0).any()
