"""tune-stop against the real Lightning and Keras ``EarlyStopping`` on thousands of seeded random curves.

Lightning is driven through its own evaluation method, ``_evaluate_stopping_criteria``,
one float64 value per epoch, exactly as its trainer does at the end of an epoch; Keras
through its callback hooks (with the torch backend and float64). On finite curves
patience agrees exactly (with Keras also ``baseline`` and ``start_from_epoch``, which
Lightning lacks); the documented differences are asserted as such:

* a value equal to the threshold stops a ``ThresholdStopper`` (``<=``) but not Lightning's
  ``stopping_threshold`` (``<``);
* NaN and inf: Lightning's default ``check_finite=True`` stops at once; tune-stop's
  ``PatienceStopper`` counts them as epochs without improvement and leaves them to the
  ``NonFiniteStopper`` that every search puts in front (with it, the two agree);
* Keras counts the first epoch it judges as an improvement even when it is NaN or inf
  (its best starts as None), so curves that start non-finite stop differently.
"""

from __future__ import annotations

import math
import os
import types

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import CurveSet, baseline_policies, stop_epochs
from tests.live import live_stop
from tune_stop.stoppers import AnyStopper, NonFiniteStopper, PatienceStopper, ThresholdStopper

CURVES_PER_CASE = 250


def random_curves(seed: int, *, grid: float | None = None, non_finite: bool = False) -> list[list[float]]:
    """Noisy learning curves of 1-40 epochs; on a ``grid`` they tie, and ``non_finite`` adds NaN/inf."""
    rng = np.random.default_rng(seed)
    curves = []
    for _ in range(CURVES_PER_CASE):
        length = int(rng.integers(1, 41))
        curve = 1.0 / np.arange(1, length + 1) + rng.uniform(0, 0.02) * np.arange(length) + rng.normal(0, 0.02, length)
        if grid is not None:
            curve = np.round(curve / grid) * grid
        if non_finite:
            broken = rng.random(length) < 0.05
            curve[broken] = rng.choice([np.nan, np.inf, -np.inf], size=int(broken.sum()))
        curves.append([float(v) for v in curve])
    return curves


def lightning_stop(curve: list[float], **options) -> int:
    """The epoch (from 1) at which Lightning's ``EarlyStopping`` signals the trainer to stop, 0 if never."""
    # Imported here, not at collection: Lightning takes seconds to import, paid only where its tests run.
    callback = pytest.importorskip("pytorch_lightning.callbacks").EarlyStopping(monitor="val_loss", **options)
    for epoch, value in enumerate(curve, start=1):
        should_stop, _ = callback._evaluate_stopping_criteria(torch.tensor(value, dtype=torch.float64))
        if should_stop:
            return epoch
    return 0


PATIENCE_CASES = [
    # mode, patience, min_delta, grid (None: continuous values; a grid makes ties and min_delta boundaries)
    ("min", 0, 0.0, None),
    ("min", 3, 0.0, None),
    ("min", 3, 0.01, None),
    ("max", 2, 0.005, None),
    ("min", 1, 0.0, 0.01),
    ("min", 2, 0.01, 0.01),
    ("max", 3, 0.02, 0.01),
    ("min", 5, 0.1, 0.05),
]


@pytest.mark.parametrize(("mode", "patience", "min_delta", "grid"), PATIENCE_CASES)
def test_patience_stops_where_lightning_does_on_finite_curves(mode, patience, min_delta, grid):
    curves = random_curves(seed=patience * 100 + int(min_delta * 1000) + (grid is not None), grid=grid)
    sign = 1.0 if mode == "min" else -1.0
    mismatches = []
    for index, curve in enumerate(curves):
        curve = [sign * v for v in curve]
        ours = live_stop(PatienceStopper("val_loss", mode, patience=patience, min_delta=min_delta), curve)
        theirs = lightning_stop(curve, mode=mode, patience=patience, min_delta=min_delta, check_finite=False)
        if ours != theirs:
            mismatches.append((index, ours, theirs))
    assert mismatches == []


def test_with_non_finite_values_lightning_defaults_equal_the_guarded_patience_and_the_baseline_row():
    curves = random_curves(seed=7, non_finite=True)
    frame = pd.DataFrame(
        [
            {"trial_id": f"t{i:04d}", "epoch": epoch, "val_loss": value, "config/max_epochs": 40}
            for i, curve in enumerate(curves)
            for epoch, value in enumerate(curve, start=1)
        ]
    )
    (lightning_row,) = [p for p in baseline_policies("val_loss", "min", None) if p.name == "lightning_default"]
    replayed = stop_epochs(lightning_row, CurveSet.from_frame(frame))[:, 0]
    differs_without_guard = 0
    for index, curve in enumerate(curves):
        theirs = lightning_stop(curve)  # Lightning's defaults: patience 3, check_finite=True
        guarded = AnyStopper(NonFiniteStopper("val_loss"), PatienceStopper("val_loss", "min", patience=3))
        assert live_stop(guarded, curve) == theirs == replayed[index], index
        # Without the guard a NaN is an epoch without improvement, as with check_finite=False.
        alone = live_stop(PatienceStopper("val_loss", "min", patience=3), curve)
        assert alone == lightning_stop(curve, check_finite=False), index
        differs_without_guard += alone != theirs
    assert differs_without_guard > 0, "no curve shows the documented NaN difference"


@pytest.mark.parametrize(("mode", "grid"), [("min", None), ("max", None), ("min", 0.05), ("max", 0.05)])
def test_threshold_agrees_with_lightnings_stopping_threshold_except_on_ties(mode, grid):
    curves = random_curves(seed=11 + (grid is not None), grid=grid)
    sign = 1.0 if mode == "min" else -1.0
    threshold = sign * (float(np.round(0.3 / grid) * grid) if grid is not None else 0.3)  # a value on the grid
    ties = 0
    for curve in curves:
        curve = [sign * v for v in curve]
        ours = live_stop(ThresholdStopper("val_loss", mode, threshold=threshold), curve)
        theirs = lightning_stop(curve, mode=mode, stopping_threshold=threshold, patience=10**9, check_finite=False)
        if ours and curve[ours - 1] == threshold:  # the documented difference: a tie stops in tune-stop only
            ties += 1
            assert theirs == 0 or theirs > ours
        else:
            assert ours == theirs
    if grid is not None:
        assert ties > 0, "no curve tied the threshold: the case tests nothing"


def keras_stop(curve: list[float], **options) -> int:
    """The epoch (from 1) at which Keras' ``EarlyStopping`` sets ``model.stop_training``, 0 if never.

    Driven through its own hooks (``on_train_begin``, ``on_epoch_end(epoch, logs)``) with
    Keras' float type set to float64, so its comparisons run at the precision tune-stop's do.
    """
    keras = _keras()
    model = types.SimpleNamespace(stop_training=False)
    callback = keras.callbacks.EarlyStopping(monitor="val_loss", **options)
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(curve):
        callback.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            return epoch + 1
    return 0


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    keras.config.set_floatx("float64")
    return keras


KERAS_CASES = [
    # mode, patience, min_delta, baseline, start_from_epoch (tune-stop's grace_period), grid
    ("min", 0, 0.0, None, 0, None),
    ("min", 2, 0.01, None, 3, None),
    ("min", 3, 0.0, 0.3, 0, None),
    ("max", 2, 0.005, -0.25, 2, None),
    ("min", 2, 0.01, 0.3, 1, 0.01),
    ("max", 1, 0.05, -0.3, 0, 0.05),
]


@pytest.mark.parametrize(("mode", "patience", "min_delta", "baseline", "start", "grid"), KERAS_CASES)
def test_patience_baseline_and_grace_period_stop_where_keras_does(mode, patience, min_delta, baseline, start, grid):
    _keras()
    curves = random_curves(seed=patience * 10 + start + (grid is not None), grid=grid)
    sign = 1.0 if mode == "min" else -1.0
    mismatches = []
    for index, curve in enumerate(curves):
        curve = [sign * v for v in curve]
        ours = live_stop(
            PatienceStopper(
                "val_loss", mode, patience=patience, min_delta=min_delta, grace_period=start, baseline=baseline
            ),
            curve,
        )
        theirs = keras_stop(
            curve, mode=mode, patience=patience, min_delta=min_delta, baseline=baseline, start_from_epoch=start
        )
        if ours != theirs:
            mismatches.append((index, ours, theirs))
    assert mismatches == []


def test_keras_differs_only_where_the_first_judged_epoch_is_not_finite():
    _keras()
    curves = random_curves(seed=5, non_finite=True)
    differing = 0
    for curve in curves:
        ours = live_stop(PatienceStopper("val_loss", "min", patience=2), curve)
        theirs = keras_stop(curve, mode="min", patience=2)
        if math.isfinite(curve[0]):
            assert ours == theirs
        else:  # Keras counts its first judged epoch as an improvement even when it is NaN or inf
            differing += ours != theirs
    assert differing > 0, "no curve shows the documented difference"


@pytest.mark.parametrize(
    ("entry", "framework"),
    [
        ({"policy": "patience", "metric": "val_loss", "mode": "min", "patience": 3, "min_delta": 0.01}, "lightning"),
        ({"policy": "patience", "metric": "val_loss", "mode": "min", "patience": 2, "grace_period": 3}, "keras"),
        ({"policy": "patience", "metric": "val_loss", "mode": "min", "patience": 4, "min_delta": 0.005}, "keras"),
        ({"policy": "threshold", "metric": "val_loss", "mode": "min", "threshold": 0.3}, "lightning"),
    ],
)
def test_a_loaded_recommendation_runs_in_lightning_and_keras_and_stops_where_tune_stop_does(tmp_path, entry, framework):
    import yaml

    from tune_stop.stopping import load_stopping

    path = tmp_path / "stoppers.yaml"
    guard = {"policy": "non_finite", "metrics": ["val_loss"]}
    path.write_text(yaml.safe_dump({"stoppers": [guard, entry]}))
    stopping = load_stopping(path, max_epochs=40)
    arguments = getattr(stopping, framework)()
    assert arguments.pop("monitor") == "val_loss"
    stop = lightning_stop if framework == "lightning" else keras_stop
    for curve in random_curves(11):  # continuous values: no ties at the threshold
        assert stop(curve, **arguments) == live_stop(load_stopping(path, max_epochs=40).stopper, curve)


def test_a_rule_the_frameworks_cannot_run_is_refused_saying_why(tmp_path):
    import yaml

    from tune_stop.stopping import load_stopping

    threshold = {"policy": "threshold", "metric": "val_loss", "mode": "min", "threshold": 0.3}
    (tmp_path / "t.yaml").write_text(yaml.safe_dump({"stoppers": [threshold]}))
    with pytest.raises(ValueError, match=r"Keras cannot run this rule: .*Keras has no threshold rule"):
        load_stopping(tmp_path / "t.yaml", max_epochs=10).keras()
    scheduled = {"scheduler": {"name": "asha", "grace_period": 2}, "stoppers": [threshold]}
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(scheduled))
    with pytest.raises(ValueError, match="runs the asha scheduler, which compares trials"):
        load_stopping(tmp_path / "a.yaml", max_epochs=10).lightning()
    graced = {**threshold, "grace_period": 3}  # Lightning would stop at epoch 1: refused, not silently different
    (tmp_path / "graced.yaml").write_text(yaml.safe_dump({"stoppers": [graced]}))
    with pytest.raises(ValueError, match="Lightning has no grace period"):
        load_stopping(tmp_path / "graced.yaml", max_epochs=10).lightning()
    gl = {"policy": "gl", "metric": "val_loss", "alpha": 5.0}
    (tmp_path / "g.yaml").write_text(yaml.safe_dump({"stoppers": [gl]}))
    with pytest.raises(ValueError, match="no GL rule"):
        load_stopping(tmp_path / "g.yaml", max_epochs=10).lightning()
