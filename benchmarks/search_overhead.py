"""Search overhead at scale: tune-stop against the same trials in process pools and in plain Ray Tune.

Trials of the digits MLP (``mlp-digits`` configurations, 2 folds each, 20 epochs) with
stoppers armed but never firing, so every side trains exactly the same epochs, at 32
and 256 trials (and 1,024 with ``--full``):

- **fork pool**: the bare loop in a ``concurrent.futures.ProcessPoolExecutor`` whose
  workers inherit the parent's warm imports (one torch thread each, as Ray gives a 1-CPU
  trial);
- **spawn pool**: the same with fresh interpreters that import torch, as Ray's workers do,
  and nothing the trials do not need (not the parent's ``__main__``);
- **plain Ray Tune**: what a Ray user writes without tune-stop: the same loop as a
  function trainable reporting every epoch and a checkpoint with the last, Ray's own
  ``FunctionStopper`` on ``val_loss`` and ASHA, actors reused, Ray's default loggers;
- **tune-stop**: ``run_search`` (its stoppers, the stop-reasons callback, epochs batched
  per round trip, a checkpoint at the end, CSV and JSON results);
- **Ray Tune's floor**: plain Ray Tune running trials that train nothing (one result with
  a checkpoint each, actors reused): what Ray Tune itself costs per trial on this machine,
  whatever the tool on top.

Both Ray sides run ASHA with its grace period at the budget, so it judges every result
and cuts nothing. A least-squares line through each side's wall times over the sizes
gives its marginal cost per trial (slope) and a fixed start-up (intercept). The intercept
is an extrapolation that takes in the small searches' noise whole (a second more in the
32-trial searches' mean moves it by 1.14 s); the start-up rows time it directly
instead: one trial per worker, a median of ``START_UP_REPEATS`` searches, from the call
until every trial has ended (the Ray sides start in a running Ray, as a search on a
cluster does). Goals: at 256 trials tune-stop
within 5% of plain Ray Tune; its marginal cost per trial within 5% of the bare loop's;
its start-up at or below the spawn pool's. The same marginal costs are then measured on
trials ten times as long (``LONG_EPOCHS`` epochs each).
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._bare import bare_trial, empty_trial, one_thread, ray_trial, warm_up
from benchmarks._ray import ray_of_its_own
from search_spaces import SearchSpace, load_space

WORKERS = 2
FOLDS = 2
EPOCHS = 20
#: The largest sizes; ``--full`` adds 1,024 trials.
SIZES, FULL_SIZES, QUICK_SIZES, SMOKE_SIZES = (32, 256), (32, 256, 1024), (4, 8), (2, 4)
#: Searches of one trial per worker timed for each side's start-up.
START_UP_REPEATS = 5
#: Trials ten times as long, at these sizes (quick: to show it runs).
LONG_EPOCHS, LONG_SIZES, QUICK_LONG_SIZES = 200, (8, 40), (2, 4)
#: ``smoke``: every side once at the smallest sizes, to show the code runs (the smallest is one trial per worker).
SMOKE_EPOCHS = 2
#: Below this, a threshold no trial reaches.
UNREACHABLE = 1e-6

#: What each side's run gives: wall seconds, and the actors or pool workers that ran trials.
Timed = tuple[float, int]


def overhead_space(num_trials: int, num_epochs: int) -> SearchSpace:
    """``mlp-digits``, 2 folds, thresholds no trial reaches, ASHA that cuts nothing: every trial runs every epoch."""
    space = load_space("mlp-digits").with_overrides(num_samples=num_trials // FOLDS, max_epochs=num_epochs)
    stoppers: list[dict[str, Any]] = [
        {"policy": "non_finite", "metrics": ["train_loss", "val_loss"]},
        {
            "policy": "threshold",
            "metric": "val_loss",
            "mode": "min",
            "threshold": {"uniform": [UNREACHABLE, 2 * UNREACHABLE]},
        },
    ]
    asha = {"name": "asha", "grace_period": num_epochs, "reduction_factor": 3}
    space = replace(space, num_folds=FOLDS, stoppers=stoppers, scheduler=asha)
    space.validate()
    return space


@contextmanager
def _main_not_imported() -> Iterator[None]:
    """Spawned workers skip the parent's ``__main__``, which multiprocessing imports in each.

    It does unless that is a package's ``__main__``: run as ``python -m
    benchmarks.search_overhead``, each worker imported this module (pandas, the space
    loader), and 2 trials in a spawn pool took 4.2 s against 3.0 s without it; from a
    script that imports Ray, 14.3 s.
    """
    main = sys.modules["__main__"]
    saved: dict[str, Any] = {name: main.__dict__[name] for name in ("__spec__", "__file__") if name in main.__dict__}
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.update(saved)


def run_bare(space: SearchSpace, start_method: str | None = None) -> Timed:
    """Every trial in a fresh process pool (start-up included).

    ``start_method`` None is the platform's default (``fork`` on Linux: workers inherit the
    parent's imports); ``"spawn"`` starts fresh interpreters that import torch, as Ray's do,
    and only what the trials need.
    """
    context = multiprocessing.get_context(start_method)
    fresh = _main_not_imported() if context.get_start_method() == "spawn" else nullcontext()
    started = time.perf_counter()
    with fresh, ProcessPoolExecutor(max_workers=WORKERS, initializer=one_thread, mp_context=context) as pool:
        list(pool.map(bare_trial, space.trial_configs()))
    return time.perf_counter() - started, WORKERS


def _actors(experiment: Path, trials: int, epochs: int) -> int:
    """The actors that ran a finished Ray Tune experiment's trials, after checking every epoch ran."""
    frames = [pd.read_json(results, lines=True) for results in experiment.glob("*/result.json")]
    rows = pd.concat(frames) if frames else pd.DataFrame()
    if len(frames) != trials or len(rows) != trials * epochs:
        raise RuntimeError(f"expected {trials} trials x {epochs} epochs, got {len(frames)} trials, {len(rows)} rows")
    return int(rows["pid"].nunique())


def run_plain_ray(space: SearchSpace, storage: str, name: str) -> Timed:
    """The same trials as a Ray Tune user would run them without tune-stop (see the module's docstring)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.stopper import FunctionStopper

    configs = list(space.trial_configs())
    tuner = tune.Tuner(
        tune.with_resources(ray_trial, {"cpu": 1}),
        param_space={"trial": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(
            metric="val_loss",
            mode="min",
            scheduler=ASHAScheduler(
                time_attr="training_iteration", max_t=space.max_epochs, grace_period=space.max_epochs
            ),
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage,
            stop=FunctionStopper(_below_unreachable),
            verbose=0,
        ),
    )
    started = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - started
    if grid.num_errors:
        raise RuntimeError(f"plain Ray Tune: {grid.num_errors} trials failed")
    return wall, _actors(Path(storage) / name, len(configs), space.max_epochs)


def run_ray_floor(space: SearchSpace, storage: str, name: str) -> Timed:
    """As many trials as ``space`` has, each reporting one result and a checkpoint and training nothing."""
    from ray import tune

    configs = list(space.trial_configs())
    tuner = tune.Tuner(
        tune.with_resources(empty_trial, {"cpu": 1}),
        param_space={"trial": tune.grid_search(configs)},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name=name, storage_path=storage, verbose=0),
    )
    started = time.perf_counter()
    grid = tuner.fit()
    wall = time.perf_counter() - started
    if grid.num_errors or len(grid) != len(configs):
        raise RuntimeError(f"Ray Tune's floor: {grid.num_errors} of {len(grid)} trials failed")
    return wall, 0


def _below_unreachable(trial_id: str, result: dict[str, Any]) -> bool:
    return bool(result["val_loss"] < UNREACHABLE)


def run_tune_stop(space: SearchSpace, storage: str, name: str, interval_s: float = 0.5) -> Timed:
    """Seconds in ``Tuner.fit`` through ``run_search``, and the actors used."""
    from tune_stop.app.search import SearchOptions, run_search

    options = SearchOptions(
        storage_path=storage, name=name, verbose=0, checkpoint_frequency=0, report_interval_s=interval_s
    )
    summary = run_search(space, options)
    if summary.num_errors or summary.reason_counts() != {"completed": summary.num_trials}:
        raise RuntimeError(f"the overhead search did not run every epoch: {summary.reason_counts()}")
    return summary.wall_time_s, _actors(Path(summary.experiment_path), summary.num_trials, space.max_epochs)


def fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``(intercept, slope)`` of seconds against trials: fixed start-up, seconds per trial."""
    trials, seconds = np.array(points, dtype=float).T
    slope, intercept = np.polyfit(trials, seconds, 1)
    return float(intercept), float(slope)


def _fitted(per_size: dict[int, list[Timed]]) -> tuple[float, float]:
    """:func:`fit_line` through one side's wall times at every size."""
    return fit_line([(size, wall) for size, runs in per_size.items() for wall, _ in runs])


def run(quick: bool = False, full: bool = False, smoke: bool = False) -> list[dict[str, object]]:
    quick = quick or smoke
    sizes = SMOKE_SIZES if smoke else QUICK_SIZES if quick else FULL_SIZES if full else SIZES
    epochs = SMOKE_EPOCHS if smoke else 5 if quick else EPOCHS
    repeats = {size: 1 if quick or size > 256 else 2 if size > 32 else 3 for size in sizes}
    sides: dict[str, Callable[[SearchSpace, str, str], Timed]] = {
        "fork pool": lambda space, storage, name: run_bare(space),
        "spawn pool": lambda space, storage, name: run_bare(space, "spawn"),
        "plain Ray Tune": run_plain_ray,
        "tune-stop": run_tune_stop,
        "Ray Tune's floor": run_ray_floor,
    }
    timed: dict[str, dict[int, list[Timed]]] = {side: {size: [] for size in sizes} for side in sides}
    unbatched: list[Timed] = []
    start_up: dict[str, list[float]] = {side: [] for side in ("spawn pool", "plain Ray Tune", "tune-stop")}
    long_sizes, long_epochs = (
        (sizes, epochs) if smoke else (QUICK_LONG_SIZES, 2 * epochs) if quick else (LONG_SIZES, LONG_EPOCHS)
    )
    long_sides = ("fork pool", "plain Ray Tune", "tune-stop")
    long_timed: dict[str, dict[int, list[Timed]]] = {side: {size: [] for size in long_sizes} for side in long_sides}
    with ray_of_its_own(WORKERS, start=True), tempfile.TemporaryDirectory() as storage:
        warm_up(next(iter(overhead_space(sizes[0], epochs).trial_configs())))
        for size in sizes:
            space = overhead_space(size, epochs)
            for repeat in range(repeats[size]):
                for side, runner in sides.items():
                    name = f"{side.replace(' ', '-')}-{size}-{repeat}"
                    timed[side][size].append(runner(space, storage, name))
                if size == sizes[0] and not smoke:
                    unbatched.append(run_tune_stop(space, storage, f"unbatched-{repeat}", interval_s=0.0))
        if smoke:
            # Only to show the code runs: the smallest size (one trial per worker) stands in for the
            # start-up searches, and the sizes above for the longer trials.
            start_up = {side: [wall for wall, _ in timed[side][WORKERS]] for side in start_up}
            long_timed = {side: timed[side] for side in long_sides}
            unbatched = timed["tune-stop"][sizes[0]]  # the unbatched path runs in tests/test_report_plan.py
        else:
            one_per_worker = overhead_space(WORKERS, epochs)
            for repeat in range(2 if quick else START_UP_REPEATS):
                for side in start_up:
                    name = f"start-up-{side.replace(' ', '-')}-{repeat}"
                    start_up[side].append(sides[side](one_per_worker, storage, name)[0])
            for size in long_sizes:
                space = overhead_space(size, long_epochs)
                for side in long_sides:
                    name = f"long-{side.replace(' ', '-')}-{size}"
                    long_timed[side][size].append(sides[side](space, storage, name))
    lines = {side: _fitted(per) for side, per in timed.items()}
    at = sizes[1]
    median = {side: statistics.median(t[0] for t in per[at]) for side, per in timed.items()}
    actors = {side: [t[1] for t in per[at]] for side, per in timed.items()}
    label = f"{at} trials x {epochs} epochs, {WORKERS} workers"
    fitted = f"fit over {', '.join(map(str, sizes))} trials"
    ours_start, ours_slope = lines["tune-stop"]
    rows: list[dict[str, object]] = [
        {
            "benchmark": f"search overhead vs {side}",
            "size": label,
            "seconds": median["tune-stop"],
            "baseline_s": median[side],
            "ratio": median["tune-stop"] / median[side],
            "note": ("goal <= 1.05; " if side == "plain Ray Tune" else "")
            + f"median of {repeats[at]}; actors: tune-stop {actors['tune-stop']}, plain Ray {actors['plain Ray Tune']}",
        }
        for side in ("fork pool", "spawn pool", "plain Ray Tune")
    ]
    for side, goal in (("fork pool", "goal <= 1.05"), ("spawn pool", "no goal"), ("plain Ray Tune", "goal <= 1.05")):
        start, slope = lines[side]
        rows.append(
            {
                "benchmark": f"marginal cost per trial vs {side}",
                "size": fitted,
                "seconds": ours_slope,
                "baseline_s": slope,
                "ratio": ours_slope / slope,
                "note": f"{goal}; fixed start-up: tune-stop {ours_start:.2f} s, {side} {start:.2f} s",
            }
        )
    floor_start, floor_slope = lines["Ray Tune's floor"]
    added = ours_slope - lines["fork pool"][1]
    rows.append(
        {
            "benchmark": "cost per trial over the bare loop vs Ray Tune's own",
            "size": fitted,
            "seconds": added,
            "baseline_s": floor_slope,
            "ratio": added / floor_slope,
            "note": (
                "tune-stop's marginal cost minus the fork pool's, against the slope of plain Ray Tune "
                f"running trials that train nothing (start-up {floor_start:.2f} s): no tool on Ray Tune "
                "costs less per trial than the floor"
            ),
        }
    )
    started = {side: statistics.median(seconds) for side, seconds in start_up.items()}
    intercepts = ", ".join(f"{side} {lines[side][0]:.2f} s" for side in ("tune-stop", "spawn pool", "plain Ray Tune"))
    for side, note in (
        ("spawn pool", f"goal <= 1; each includes one trial per worker; intercepts of the fitted lines: {intercepts}"),
        ("plain Ray Tune", "what tune-stop adds to Ray Tune's own start-up (Tuner.fit on both, in a running Ray)"),
    ):
        rows.append(
            {
                "benchmark": f"fixed start-up vs {side}",
                "size": f"{WORKERS} trials, one per worker, median of {len(start_up[side])}",
                "seconds": started["tune-stop"],
                "baseline_s": started[side],
                "ratio": started["tune-stop"] / started[side],
                "note": note,
            }
        )
    long_lines = {side: _fitted(per) for side, per in long_timed.items()}
    for side in ("fork pool", "plain Ray Tune"):
        rows.append(
            {
                "benchmark": f"marginal cost per trial vs {side}, longer trials",
                "size": f"{long_epochs} epochs per trial, fit over {', '.join(map(str, long_sizes))} trials",
                "seconds": long_lines["tune-stop"][1],
                "baseline_s": long_lines[side][1],
                "ratio": long_lines["tune-stop"][1] / long_lines[side][1],
                "note": f"goal <= 1.05 (set for trials of {EPOCHS} epochs); one run per size",
            }
        )
    first = sizes[0]
    rows.append(
        {
            "benchmark": "search overhead, one epoch per round trip",
            "size": f"{first} trials x {epochs} epochs",
            "seconds": statistics.median(u[0] for u in unbatched),
            "baseline_s": statistics.median(t[0] for t in timed["tune-stop"][first]),
            "ratio": statistics.median(u[0] for u in unbatched)
            / statistics.median(t[0] for t in timed["tune-stop"][first]),
            "note": "--report-interval 0 (Ray Tune's one result per call) against tune-stop's batching",
        }
    )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_overhead", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to show it runs")
    parser.add_argument("--full", action="store_true", help="add 1,024 trials (about 4 more minutes)")
    args = parser.parse_args()
    with pd.option_context("display.width", 250, "display.max_colwidth", 200):
        print(pd.DataFrame(run(quick=args.quick, full=args.full)).to_string(index=False))


if __name__ == "__main__":
    main()
