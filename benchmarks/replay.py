"""Replay and K-fold recommendation speed against a straightforward per-curve Python loop.

Full size: 10,000 curves x 200 epochs x 100 threshold candidates x 5 folds (target:
under 5 s for the vectorised replay plus recommendation on this machine). The
baseline loop runs on a subset and is scaled to the full size per (curve, candidate).
The patience row replays the live stopper's own scan for all curves at once, against
the live ``PatienceStopper`` fed epoch by epoch (and checks that they agree).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from analysis import CurveSet, Policy, analyse, replay_policy, threshold_candidates
from tune_stop.stoppers import FAMILIES


def synthetic_curves(num_curves: int, num_epochs: int, seed: int = 0) -> pd.DataFrame:
    """Noisy U-shaped validation losses with their test accuracies, in 5 folds."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, num_epochs + 1)[None, :]
    minimum = rng.uniform(0.2, 0.8, (num_curves, 1)) * num_epochs
    scale = rng.uniform(0.5, 2.0, (num_curves, 1))
    val = scale * (1.0 / t + ((t - minimum) / num_epochs) ** 2) + rng.normal(0, 0.01, (num_curves, num_epochs))
    accuracy = 1.0 - val / (2 * scale)
    return pd.DataFrame(
        {
            "trial_id": np.repeat(np.arange(num_curves), num_epochs),
            "fold": np.repeat(np.arange(num_curves) % 5, num_epochs),
            "epoch": np.tile(np.arange(1, num_epochs + 1), num_curves),
            "val_loss": val.ravel(),
            "test_accuracy": accuracy.ravel(),
        }
    )


def python_loop(curves: list[np.ndarray], targets: list[np.ndarray], thresholds: tuple[float, ...]) -> np.ndarray:
    """The straightforward way: for each curve and candidate, scan the epochs."""
    regrets = np.zeros((len(curves), len(thresholds)))
    for i, (curve, target) in enumerate(zip(curves, targets, strict=True)):
        best = max(target)
        for k, threshold in enumerate(thresholds):
            stop = len(curve)
            for epoch, value in enumerate(curve, start=1):
                if value <= threshold:
                    stop = epoch
                    break
            regrets[i, k] = (best - target[stop - 1]) / abs(best)
    return regrets


def run(quick: bool = False) -> list[dict[str, object]]:
    num_curves, num_epochs, count = (1_000, 100, 50) if quick else (10_000, 200, 100)
    subset = 50 if quick else 200
    frame = synthetic_curves(num_curves, num_epochs)

    started = time.perf_counter()
    curves = CurveSet.from_frame(frame)
    load_s = time.perf_counter() - started

    values = curves.matrix("val_loss")
    thresholds = threshold_candidates(values, "min", count)
    started = time.perf_counter()
    result = replay_policy(Policy("threshold", "val_loss", "min", thresholds), curves, "test_accuracy", "max")
    replay_s = time.perf_counter() - started

    started = time.perf_counter()
    analysis = analyse(
        curves, metrics=[("val_loss", "min")], families=("threshold",), threshold_count=count, baselines=False
    )
    recommend_s = time.perf_counter() - started

    patience = Policy("patience", "val_loss", "min", tuple(float(v) for v in FAMILIES["patience"].grid))
    started = time.perf_counter()
    patience_stops = replay_policy(patience, curves, "test_accuracy", "max").stop_epoch
    patience_s = time.perf_counter() - started
    started = time.perf_counter()
    live_subset = min(subset, 50)
    for curve in range(live_subset):
        for column, value in enumerate(patience.candidates):
            stopper, stop = patience.stopper(value), 0
            for epoch, loss in enumerate(values[curve], start=1):
                if stopper("t", {"epoch": epoch, "val_loss": float(loss)}):
                    stop = epoch
                    break
            assert stop == patience_stops[curve, column], "the live stopper and the replay disagree"
    live_s = (time.perf_counter() - started) * num_curves / live_subset

    targets = curves.matrix("test_accuracy")
    started = time.perf_counter()
    loop = python_loop(list(values[:subset]), list(targets[:subset]), thresholds)
    loop_s = (time.perf_counter() - started) * num_curves / subset
    assert np.allclose(loop, result.regret[:subset]), "the loop and the replay disagree"

    row = analysis.recommendations.iloc[0]
    size = f"{num_curves} curves x {num_epochs} epochs x {len(thresholds)} candidates x 5 folds"
    return [
        {
            "benchmark": "replay (threshold)",
            "size": size,
            "seconds": replay_s,
            "baseline_s": loop_s,
            "ratio": replay_s / loop_s,
            "note": f"baseline: per-curve Python loop on {subset} curves, scaled",
        },
        {
            "benchmark": "replay + K-fold recommend",
            "size": size,
            "seconds": recommend_s,
            "baseline_s": loop_s,
            "ratio": recommend_s / loop_s,
            "note": f"target < 5 s; recommended threshold {row['recommended']:.4g}",
        },
        {
            "benchmark": "replay (patience)",
            "size": f"{num_curves} curves x {num_epochs} epochs x {len(patience.candidates)} candidates",
            "seconds": patience_s,
            "baseline_s": live_s,
            "ratio": patience_s / live_s,
            "note": f"baseline: the live PatienceStopper fed epoch by epoch on {live_subset} curves, scaled",
        },
        {
            "benchmark": "curves to matrices",
            "size": f"{len(frame):,} rows",
            "seconds": load_s,
            "baseline_s": np.nan,
            "ratio": np.nan,
            "note": "CurveSet.from_frame",
        },
    ]


if __name__ == "__main__":
    with pd.option_context("display.width", 250, "display.max_colwidth", 200):
        print(pd.DataFrame(run()).to_string(index=False))
