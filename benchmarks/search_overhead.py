"""Search overhead: trials through tune-stop against the same loops in a bare process pool.

Full size: 32 trials x 20 epochs of the digits MLP (the ``mlp-digits`` configurations,
16 samples x 2 folds) with its stoppers armed but never triggered (FIFO, thresholds
below anything reachable), so both sides train exactly the same epochs. tune-stop
runs them through Ray Tune (actors reused, stoppers, the stop-reasons callback, a
checkpoint at the end of each trial, result files, epochs batched per round trip); the
baseline runs the same training loop in a ``concurrent.futures.ProcessPoolExecutor``
(the platform's default start method) with as many workers as Ray has CPUs, one torch
thread each, as Ray gives a 1-CPU trial. Goal: ratio <= 1.3.

Each side is also timed from the start of its first epoch to the end of its last one,
which leaves out the one-time start-up (Ray's actors take seconds to start and import
torch; the pool's forked workers inherit the parent's imports, warmed up first: the
dataset loaded and an optimizer built, which imports ``torch._dynamo``). A second baseline, a
``spawn`` pool, starts fresh interpreters as Ray does, so it pays the same imports.
"""

from __future__ import annotations

import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from benchmarks._bare import bare_trial, one_thread, warm_up
from benchmarks._clocked import ClockedPerceptron
from search_spaces import SearchSpace, load_space

WORKERS = 2


def overhead_space(num_samples: int, num_epochs: int) -> SearchSpace:
    """``mlp-digits`` with FIFO, 2 folds and thresholds no trial reaches: every trial runs all epochs."""
    space = load_space("mlp-digits").with_overrides(num_samples=num_samples, max_epochs=num_epochs, scheduler="fifo")
    stoppers: list[dict[str, Any]] = [
        {"policy": "non_finite", "metrics": ["train_loss", "val_loss"]},
        {"policy": "threshold", "metric": "val_loss", "mode": "min", "threshold": {"uniform": [1e-6, 2e-6]}},
    ]
    space = replace(space, num_folds=2, stoppers=stoppers)
    space.validate()
    return space


def run_bare(space: SearchSpace, start_method: str | None = None) -> tuple[float, float]:
    """Seconds for every trial in a fresh process pool (start-up included), and the training span.

    ``start_method`` None is the platform's default (``fork`` on Linux: workers inherit the
    parent's imports); ``"spawn"`` starts fresh interpreters that import torch, as Ray's do.
    """
    context = multiprocessing.get_context(start_method)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=WORKERS, initializer=one_thread, mp_context=context) as pool:
        spans = list(pool.map(bare_trial, space.trial_configs()))
    total = time.perf_counter() - started
    return total, max(end for _, end in spans) - min(start for start, _ in spans)


def run_tune_stop(space: SearchSpace, storage: str, name: str, interval_s: float = 0.5) -> tuple[float, float, int]:
    """Seconds in ``Tuner.fit``, the training span (first epoch's start to last epoch's end), actors used."""
    from analysis import load_experiment
    from tune_stop.search import SearchOptions, run_search

    options = SearchOptions(
        storage_path=storage, name=name, verbose=0, checkpoint_frequency=0, report_interval_s=interval_s
    )
    summary = run_search(space, options, trainable_cls=ClockedPerceptron)
    if summary.num_errors or summary.reason_counts() != {"completed": summary.num_trials}:
        raise RuntimeError(f"the overhead search did not run every epoch: {summary.reason_counts()}")
    curves = load_experiment(summary.experiment_path)
    if len(curves) != summary.num_trials * space.max_epochs:
        raise RuntimeError(f"expected {summary.num_trials * space.max_epochs} epochs, got {len(curves)}")
    pids = {
        pid
        for results in Path(summary.experiment_path).glob("*/result.json")
        for pid in pd.read_json(results, lines=True)["pid"]
    }
    return summary.wall_time_s, float(curves["clock_end"].max() - curves["clock_start"].min()), len(pids)


def run(quick: bool = False) -> list[dict[str, object]]:
    import ray

    from tune_stop.search import SearchOptions, init_ray

    num_samples, num_epochs, repeats = (4, 5, 1) if quick else (16, 20, 3)
    space = overhead_space(num_samples, num_epochs)
    started = time.perf_counter()
    init_ray(SearchOptions(num_cpus=WORKERS))
    init_s = time.perf_counter() - started
    warm_up(next(iter(space.trial_configs())))
    bare, spawned, ours, unbatched = [], [], [], []
    try:
        with tempfile.TemporaryDirectory() as storage:
            for repeat in range(repeats):
                bare.append(run_bare(space))
                spawned.append(run_bare(space, "spawn"))
                ours.append(run_tune_stop(space, storage, f"overhead-{repeat}"))
                unbatched.append(run_tune_stop(space, storage, f"unbatched-{repeat}", interval_s=0.0))
    finally:
        ray.shutdown()
    total = statistics.median(o[0] / b[0] for o, b in zip(ours, bare, strict=True))
    span = statistics.median(o[1] / b[1] for o, b in zip(ours, bare, strict=True))
    size = f"{num_samples * 2} trials x {num_epochs} epochs, {WORKERS} workers"
    fit_s, bare_s = statistics.median(o[0] for o in ours), statistics.median(b[0] for b in bare)
    return [
        {
            "benchmark": "search overhead (Tuner.fit)",
            "size": size,
            "seconds": fit_s,
            "baseline_s": bare_s,
            "ratio": total,
            "note": (
                f"goal <= 1.3; median of {repeats}; ray.init took {init_s:.1f} s more; baseline: process pool "
                f"(fork); outside the training span: {fit_s - statistics.median(o[1] for o in ours):.1f} s vs "
                f"{bare_s - statistics.median(b[1] for b in bare):.1f} s"
            ),
        },
        {
            "benchmark": "search overhead vs a spawn pool",
            "size": size,
            "seconds": fit_s,
            "baseline_s": statistics.median(p[0] for p in spawned),
            "ratio": statistics.median(o[0] / p[0] for o, p in zip(ours, spawned, strict=True)),
            "note": "baseline: process pool whose workers start fresh interpreters and import torch, as Ray's do",
        },
        {
            "benchmark": "search overhead, training span",
            "size": size,
            "seconds": statistics.median(o[1] for o in ours),
            "baseline_s": statistics.median(b[1] for b in bare),
            "ratio": span,
            "note": (
                "first epoch's start to last epoch's end (start-up left out on both sides); "
                f"actors that ran trials: {[o[2] for o in ours]}"
            ),
        },
        {
            "benchmark": "search overhead, one epoch per round trip",
            "size": size,
            "seconds": statistics.median(u[0] for u in unbatched),
            "baseline_s": bare_s,
            "ratio": statistics.median(u[0] / b[0] for u, b in zip(unbatched, bare, strict=True)),
            "note": (
                "--report-interval 0 (Ray Tune's usual one result per call); span ratio "
                f"{statistics.median(u[1] / b[1] for u, b in zip(unbatched, bare, strict=True)):.2f}; "
                f"actors: {[u[2] for u in unbatched]}"
            ),
        },
    ]


if __name__ == "__main__":
    with pd.option_context("display.width", 250, "display.max_colwidth", 200):
        print(pd.DataFrame(run()).to_string(index=False))
