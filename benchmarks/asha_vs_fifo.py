"""ASHA with per-trial thresholds against FIFO full training: wall time to equal best quality.

For ``mlp-digits`` and ``gan-digits``, each seed runs the same sampled configurations
three times through tune-stop: FIFO with only the non-finite guard (every trial to
``max_epochs``, the baseline), ASHA alone (the guard, no thresholds) and the space as
written (ASHA plus its per-trial thresholds). Every epoch carries the wall clock, so the
time at which each search's best-so-far value of the space's metric (``val_loss`` or
FID) first reaches a target is read off its results.

The target is FIFO's final best for that seed, loosened by the spread of FIFO's best
across seeds ("equal within seed noise"). The speed-up is FIFO's time to the target over
the variant's; a variant whose best never reaches it counts as 0 for that seed. Goal:
at least 3x faster at equal best quality. The note also gives the speed-up with each
search's start-up (actors starting and importing torch, before the first epoch) left out.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from analysis import load_experiment
from benchmarks._clocked import CLOCKED
from benchmarks._ray import ray_of_its_own
from search_spaces import SearchSpace, load_space
from tune_stop.app.search import SearchOptions, run_search
from tune_stop.stoppers import mode_sign


def fifo_full_training(space: SearchSpace) -> SearchSpace:
    """The same configurations, every trial to ``max_epochs``: FIFO, only the non-finite guard."""
    return space.full_curves()


def asha_alone(space: SearchSpace) -> SearchSpace:
    """The space's scheduler without its thresholds: only the non-finite guard."""
    return replace(space, stoppers=space.full_curves().stoppers)


@dataclass
class Run:
    """One search: its wall time, epochs trained and best-so-far value over time."""

    fit_s: float
    epochs: int
    seconds: np.ndarray  # wall clock of each epoch's end, from the start of run_search
    best_so_far: np.ndarray  # sign-adjusted (lower is better) running best at those times
    first_epoch_s: float  # when the first epoch started: the actors' start-up before it
    summary: Any = None  # the search's SearchSummary

    @property
    def best(self) -> float:
        return float(self.best_so_far[-1])

    def time_to(self, target: float) -> float:
        """Seconds until the best-so-far first reaches ``target`` (sign-adjusted); inf if never."""
        reached = np.flatnonzero(self.best_so_far <= target)
        return float(self.seconds[reached[0]]) if reached.size else float("inf")


def run_variant(space: SearchSpace, storage: str, name: str) -> Run:
    sign = mode_sign(space.mode)
    started = time.time()
    summary = run_search(
        space, SearchOptions(storage_path=storage, name=name, verbose=0), trainable_cls=CLOCKED[space.trainable]
    )
    if summary.num_errors or summary.best is None:
        raise RuntimeError(f"{name} had {summary.num_errors} failed trials")
    curves = load_experiment(summary.experiment_path).sort_values("clock_end")
    values = sign * curves[space.metric].to_numpy(dtype=float)
    values[~np.isfinite(values)] = np.inf
    return Run(
        fit_s=summary.wall_time_s,
        epochs=len(curves),
        seconds=curves["clock_end"].to_numpy(dtype=float) - started,
        best_so_far=np.minimum.accumulate(values),
        first_epoch_s=float(curves["clock_start"].min()) - started,
        summary=summary,
    )


def compare(
    space_name: str,
    seeds: list[int],
    overrides: dict[str, Any],
    storage: str,
    runs_out: dict[str, list[Run]] | None = None,
) -> list[dict[str, object]]:
    """The rows of ASHA (with and without the thresholds) against FIFO; ``runs_out`` receives the runs by label."""
    space = load_space(space_name).with_overrides(**overrides)
    variants = {"FIFO": fifo_full_training, "ASHA alone": asha_alone, "ASHA + thresholds": lambda s: s}
    runs: dict[str, list[Run]] = {label: [] for label in variants}
    for seed in seeds:
        seeded = space.with_overrides(seed=seed)
        for label, make in variants.items():
            runs[label].append(run_variant(make(seeded), storage, f"{space_name}-{seed}-{label.replace(' ', '')}"))
    if runs_out is not None:
        runs_out.update(runs)
    fifo = runs["FIFO"]
    noise = statistics.stdev(r.best for r in fifo) if len(fifo) > 1 else 0.0
    targets = [r.best + noise for r in fifo]
    fifo_to_target = [r.time_to(t) for r, t in zip(fifo, targets, strict=True)]
    sign = mode_sign(space.mode)
    size = f"{space.num_samples * space.num_folds} trials x {space.max_epochs} epochs, {len(seeds)} seeds"
    rows = []
    for label in ("ASHA + thresholds", "ASHA alone"):
        to_target = [r.time_to(t) for r, t in zip(runs[label], targets, strict=True)]
        speedups = [f / a for f, a in zip(fifo_to_target, to_target, strict=True)]  # 0 where never reached
        # The same with each search's start-up (before its first epoch) left out.
        trained_speedups = [
            (f - fifo_run.first_epoch_s) / (a - run.first_epoch_s)
            for f, a, fifo_run, run in zip(fifo_to_target, to_target, fifo, runs[label], strict=True)
        ]
        reached = [a for a in to_target if np.isfinite(a)]
        start_up = statistics.mean(r.first_epoch_s for r in runs[label])
        fifo_start_up = statistics.mean(r.first_epoch_s for r in fifo)
        rows.append(
            {
                "benchmark": f"{label} vs FIFO: {space_name}",
                "size": size,
                "seconds": statistics.mean(reached) if reached else float("inf"),
                "baseline_s": statistics.mean(fifo_to_target),
                "ratio": statistics.mean(speedups),
                "note": (
                    f"time to FIFO's best {space.metric} (+ seed std {noise:.3g}); reached in "
                    f"{len(reached)}/{len(seeds)} seeds (0x where not); goal >= 3x; from the first epoch "
                    f"{statistics.mean(trained_speedups):.2f}x (start-up {start_up:.1f} s vs {fifo_start_up:.1f} s). "
                    f"Best {space.metric} "
                    f"{sign * statistics.mean(r.best for r in runs[label]):.4g} vs FIFO "
                    f"{sign * statistics.mean(r.best for r in fifo):.4g}; whole search "
                    f"{statistics.mean(r.fit_s for r in runs[label]):.1f} s vs "
                    f"{statistics.mean(r.fit_s for r in fifo):.1f} s, "
                    f"{statistics.mean(r.epochs for r in runs[label]) / statistics.mean(r.epochs for r in fifo):.0%} "
                    "of FIFO's epochs"
                ),
            }
        )
    return rows


def _selected_target(summaries: list[Any], metric: str, sign: float, target: str) -> float:
    """The target of the model the metric selects across ``summaries`` (lower is better for both signs)."""
    found = [s.best for s in summaries if s.best and metric in s.best]
    selected = min(found, key=lambda best: sign * float(best[metric]))
    return (1.0 if target == "fid" else -1.0) * float(selected[target])


def loop_row(
    space_name: str,
    seeds: list[int],
    overrides: dict[str, Any],
    storage: str,
    done: dict[str, list[Run]] | None = None,
) -> dict[str, object]:
    """``search --calibrate``: pilot on half the samples, then the rest with the recommended policy.

    Per seed, on the same samples: FIFO trains every sample to the budget (the baseline:
    the model it selects, its wall time and epochs); ASHA alone runs the space's scheduler
    with no stopper; the loop splits the samples into a full-curve pilot and a search
    with the recommended policy beside the space's scheduler (and 10% audit trials), pilot
    included in its time and epochs. A search's best model is the one the space's metric
    selects (in either part of the loop), judged, as the recommendation's tolerance is,
    by the target (test accuracy, or FID) against the model FIFO's search selects.
    """
    from tune_stop.app.calibrate import calibrate_and_search

    space = load_space(space_name).with_overrides(**overrides)
    sign = mode_sign(space.mode)
    target = "fid" if space.trainable == "gan" else "test_accuracy"
    figures: dict[str, dict[str, list[float]]] = {
        label: {"loss": [], "seconds": [], "epochs": []} for label in ("loop", "ASHA alone")
    }
    fifo_seconds, chosen = [], []
    for seed in seeds:
        seeded = space.with_overrides(seed=seed)

        def options(variant: str, seed: int = seed) -> SearchOptions:
            return SearchOptions(
                storage_path=storage, name=f"{space_name}-{seed}-{space.num_samples}-{variant}", verbose=0
            )

        reused = {label: runs[seeds.index(seed)] for label, runs in (done or {}).items()}
        started = time.time()
        fifo = reused["FIFO"].summary if "FIFO" in reused else run_search(fifo_full_training(seeded), options("fifo"))
        fifo_seconds.append(reused["FIFO"].fit_s if "FIFO" in reused else time.time() - started)
        fifo_value = _selected_target([fifo], space.metric, sign, target)
        fifo_epochs = len(load_experiment(fifo.experiment_path))
        started = time.time()
        if "ASHA alone" in reused:
            alone, alone_seconds = reused["ASHA alone"].summary, reused["ASHA alone"].fit_s
        else:
            alone = run_search(asha_alone(seeded), options("asha"))
            alone_seconds = time.time() - started
        started = time.time()
        loop = calibrate_and_search(
            seeded,
            options("loop"),
            {},
            calibration_configs=max(2, seeded.num_samples // 2),
            audit_fraction=0.1,
            say=lambda _: None,
        )
        loop_seconds = time.time() - started
        ran = loop.configuration[0] if loop.configuration is not None else loop.recommended
        chosen.append(ran or "none within 1% (the space's own stoppers)")
        for label, summaries, seconds, epochs in (
            ("loop", [loop.search, loop.calibration], loop_seconds, loop.compute_with_calibration),
            ("ASHA alone", [alone], alone_seconds, len(load_experiment(alone.experiment_path)) / fifo_epochs),
        ):
            value = _selected_target(summaries, space.metric, sign, target)
            figures[label]["loss"].append((value - fifo_value) / abs(fifo_value))
            figures[label]["seconds"].append(seconds)
            figures[label]["epochs"].append(epochs)

    def summary(label: str) -> str:
        losses = figures[label]["loss"]
        return (
            f"{label}: epochs {statistics.mean(figures[label]['epochs']):.0%} of FIFO's, the model selected by "
            f"{space.metric} within 1% of FIFO's in {target} in {sum(x <= 0.01 for x in losses)}/{len(seeds)} seeds "
            f"(mean relative loss {100 * statistics.mean(losses):+.2f}%), "
            f"{statistics.mean(figures[label]['seconds']):.1f} s"
        )

    counts = ", ".join(f"{policy} ({n} of {len(seeds)})" for policy, n in Counter(chosen).items())
    return {
        "benchmark": f"calibrated loop (pilot included) vs FIFO: {space_name}",
        "size": f"{space.num_samples * space.num_folds} trials x {space.max_epochs} epochs, {len(seeds)} seeds",
        "seconds": statistics.mean(figures["loop"]["seconds"]),
        "baseline_s": statistics.mean(fifo_seconds),
        "ratio": statistics.mean(figures["loop"]["epochs"]),
        "note": f"{summary('loop')}; {summary('ASHA alone')}; FIFO {statistics.mean(fifo_seconds):.1f} s; "
        f"policies: {counts}",
    }


def run(quick: bool = False, smoke: bool = False) -> list[dict[str, object]]:
    """Every row at full size; ``quick`` at small sizes; ``smoke`` the smallest that runs each path once.

    ``smoke`` (one seed, three-epoch searches, no GAN searches: the GAN's FID target, its selection by a
    minimum and its clock are left out) only shows that the code runs.
    """
    quick = quick or smoke
    seeds = [0] if smoke else [0, 1] if quick else [0, 1, 2]
    mlp = {"num_samples": 1 if smoke else 2, "max_epochs": 3 if smoke else 6} if quick else {}
    gan = {"num_samples": 1, "max_epochs": 2 if smoke else 3} if quick else {}
    with ray_of_its_own(start=True), tempfile.TemporaryDirectory() as storage:
        loop_samples = {"num_samples": 4} if quick else {}
        # smoke: the loop row reuses the comparison's FIFO and ASHA-alone searches (same samples), two fewer
        # Ray Tune searches (seconds of actor start-up each on 2 cores); it only shows the code runs.
        done: dict[str, list[Run]] = {}
        rows = compare("mlp-digits", seeds, {**mlp, **loop_samples} if smoke else mlp, storage, done)
        if not smoke:
            rows += compare("gan-digits", seeds, gan, storage)
        rows.append(loop_row("mlp-digits", seeds, {**mlp, **loop_samples}, storage, done if smoke else None))
        if not smoke:
            rows.append(loop_row("gan-digits", seeds, {**gan, **loop_samples}, storage))
        return rows


if __name__ == "__main__":
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_colwidth", 300):
        print(pd.DataFrame(run()).to_string(index=False))
