"""Judging whole stopping configurations: the fast replays against Ray's schedulers asked result by result.

``recommend`` replays 40 stopping configurations (ASHA and the median rule at several
settings, alone and beside a patience rule) on 66 simulated searches. Its replays take
one ASHA rung, or one epoch of the median rule, at a time in the order the trials
started (:func:`analysis._asha._rung_by_rung`, :func:`analysis._median._epoch_by_epoch`);
the baseline is the result-by-result replay on the same searches (Ray's own
``AsyncHyperBandScheduler``; the median rule's incremental form, pinned to Ray's class).
Both must end every trial at the same epoch (checked). A third row times the whole choice
(:func:`analysis.choose_configuration`) on about 10,000 curves (target: ``recommend``
under 60 s in all), against the same choice on a tenth of them.

Curves: noisy falling validation losses, 3 folds per configuration, 40 epochs (recorded
mlp-digits searches have this shape); the configurations' speeds and floors are drawn at
random.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from analysis import CurveSet, SearchCurves, choose_configuration
from analysis._asha import AshaSpec, _result_by_result, simulate_asha
from analysis._configuration_choice import DRAWS, _Plan
from analysis._configurations import configuration_grid
from analysis._median import MedianSpec, simulate_median
from analysis._median import _result_by_result as median_result_by_result

EPOCHS = 40
WORKERS = 4


def synthetic_search(configs: int, seed: int = 0) -> SearchCurves:
    """``configs`` configurations x 3 folds x :data:`EPOCHS` epochs of falling losses with test accuracies."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, EPOCHS + 1)[None, :]
    floor = np.repeat(rng.uniform(0.05, 0.5, configs), 3)[:, None]
    speed = np.repeat(rng.uniform(0.05, 1.0, configs), 3)[:, None]
    n = 3 * configs
    loss = floor + (1.0 - floor) * np.exp(-speed * t) + rng.normal(0, 0.01, (n, EPOCHS))
    frame = pd.DataFrame(
        {
            "trial_id": np.repeat([f"t{i}" for i in range(n)], EPOCHS),
            "config_id": np.repeat([f"c{i // 3}" for i in range(n)], EPOCHS),
            "fold": np.repeat(np.arange(n) % 3, EPOCHS),
            "epoch": np.tile(np.arange(1, EPOCHS + 1), n),
            "config/max_epochs": EPOCHS,
            "val_loss": loss.ravel(),
            "test_accuracy": (1.0 - loss / 2).ravel(),
        }
    )
    curves = CurveSet.from_frame(frame)
    index = np.unique(np.asarray(curves.config_ids).astype(str), return_inverse=True)[1]
    return SearchCurves(curves, index, "val_loss", "min", "test_accuracy", "max", "val_loss", "min")


def _replays(curves: SearchCurves, name: str) -> tuple[float, float]:
    """Seconds of the fast and of the result-by-result replays of the grid's ``name`` schedulers, alone."""
    searches = _Plan.of(curves, DRAWS, seed=0).searches()
    grid = [c for c in configuration_grid("val_loss", "min", budget=EPOCHS) if c.scheduler["name"] == name]
    fast_s = slow_s = 0.0
    for config in (c for c in grid if c.policy is None):
        for rows, order in searches:
            values, lengths = curves.metric_values[rows], curves.curves.lengths[rows]
            never = np.zeros((len(rows), 1), dtype=np.int64)
            started = time.perf_counter()
            if name == "asha":
                spec = AshaSpec.from_scheduler(config.scheduler, "val_loss", "min", WORKERS)
                fast = simulate_asha(spec, values, lengths, EPOCHS, never, order=order)
                middle = time.perf_counter()
                slow = _result_by_result(spec, values, lengths, EPOCHS, never, order, None)
            else:
                median = MedianSpec.from_scheduler(config.scheduler, "val_loss", "min", WORKERS)
                fast = simulate_median(median, values, lengths, never, order=order)
                middle = time.perf_counter()
                slow = median_result_by_result(median, values, lengths, never, order, None)
            fast_s += middle - started
            slow_s += time.perf_counter() - middle
            if not (np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])):
                raise AssertionError(f"the two replays of {config.describe()} disagree")
    return fast_s, slow_s


def run(quick: bool = False) -> list[dict[str, object]]:
    configs = 30 if quick else 300
    curves = synthetic_search(configs)
    rows = []
    for name, what, settings in (("asha", "ASHA", "16 ASHA"), ("median", "the median rule", "3 median-rule")):
        fast_s, slow_s = _replays(curves, name)
        rows.append(
            {
                "benchmark": f"stopping configurations: {what} replays",
                "size": f"{3 * configs} curves x {EPOCHS} epochs, the grid's {settings} settings alone x 66 searches",
                "seconds": fast_s,
                "baseline_s": slow_s,
                "ratio": fast_s / slow_s,
                "note": "baseline: result by result (same stops, checked)",
            }
        )
    large, small = (60, 6) if quick else (3_330, 333)
    timings = []
    for size in (small, large):
        search = synthetic_search(size, seed=1)
        grid = configuration_grid("val_loss", "min", budget=EPOCHS)
        started = time.perf_counter()
        choose_configuration(search, grid, tolerance=0.01, workers=WORKERS)
        timings.append(time.perf_counter() - started)
    rows.append(
        {
            "benchmark": "stopping configurations: choose",
            "size": f"{3 * large} curves x {EPOCHS} epochs, 40 configurations x 66 searches",
            "seconds": timings[1],
            "baseline_s": timings[0],
            "ratio": timings[1] / timings[0],
            "note": f"baseline: the same on {3 * small} curves; searches of at most 200 configurations",
        }
    )
    return rows


if __name__ == "__main__":
    with pd.option_context("display.width", 300, "display.max_colwidth", 200):
        print(pd.DataFrame(run()).to_string(index=False))
