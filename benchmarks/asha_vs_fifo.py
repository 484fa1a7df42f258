"""ASHA with per-trial thresholds against FIFO full training: wall time at equal best quality.

For ``mlp-digits`` and ``gan-digits``, each seed runs the same sampled configurations
twice through tune-stop: as the space says (ASHA plus its per-trial thresholds), and
FIFO with only the non-finite guard (every trial to ``max_epochs``). Reported: the ratio
of ``Tuner.fit`` wall times (FIFO / ASHA, so higher is better) and the best value of
the space's metric that each found (``val_loss`` or FID), against the spread of FIFO's
best across seeds. Goal: at least 3x faster at equal best quality.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import replace

import ray

from search_spaces import SearchSpace, load_space
from tune_stop.search import SearchOptions, init_ray, run_search


def fifo_full_training(space: SearchSpace) -> SearchSpace:
    """The same configurations, every trial to ``max_epochs``: FIFO, only the non-finite guard."""
    guard = [spec for spec in space.stoppers if spec["policy"] == "non_finite"]
    return replace(space.with_overrides(scheduler="fifo"), stoppers=guard)


def compare(space_name: str, seeds: list[int], overrides: dict[str, int], storage: str) -> dict[str, object]:
    fifo_s, asha_s, fifo_best, asha_best, epochs = [], [], [], [], []
    for seed in seeds:
        space = load_space(space_name).with_overrides(seed=seed, **overrides)
        for variant, times, bests in (
            (fifo_full_training(space), fifo_s, fifo_best),
            (space, asha_s, asha_best),
        ):
            name = f"{space_name}-{seed}-{'asha' if variant is space else 'fifo'}"
            summary = run_search(variant, SearchOptions(storage_path=storage, name=name, verbose=0))
            if summary.num_errors or summary.best is None:
                raise RuntimeError(f"{space_name} (seed {seed}) had {summary.num_errors} failed trials")
            times.append(summary.wall_time_s)
            bests.append(float(summary.best[space.metric]))
            if variant is space:
                epochs.append(sum(int(row["stop_epoch"]) for row in summary.stop_reasons))
    speedups = [f / a for f, a in zip(fifo_s, asha_s, strict=True)]
    spread = statistics.stdev(fifo_best) if len(fifo_best) > 1 else float("nan")
    gap = statistics.mean(asha_best) - statistics.mean(fifo_best)
    budget = space.num_samples * space.num_folds * space.max_epochs
    return {
        "benchmark": f"ASHA + thresholds vs FIFO: {space_name}",
        "size": f"{space.num_samples * space.num_folds} trials x {space.max_epochs} epochs, {len(seeds)} seeds",
        "seconds": statistics.mean(asha_s),
        "baseline_s": statistics.mean(fifo_s),
        "ratio": statistics.mean(speedups),
        "note": (
            f"speed-up {statistics.mean(speedups):.2f}x (min {min(speedups):.2f}, goal >= 3); best {space.metric} "
            f"ASHA {statistics.mean(asha_best):.4g} vs FIFO {statistics.mean(fifo_best):.4g} "
            f"(gap {gap:+.3g}, FIFO seed std {spread:.3g}); epochs {statistics.mean(epochs) / budget:.0%} of FIFO's"
        ),
    }


def run(quick: bool = False) -> list[dict[str, object]]:
    seeds = [0, 1] if quick else [0, 1, 2]
    mlp = {"num_samples": 2, "max_epochs": 6} if quick else {}
    gan = {"num_samples": 1, "max_epochs": 3} if quick else {}
    init_ray(SearchOptions())
    try:
        with tempfile.TemporaryDirectory() as storage:
            return [compare("mlp-digits", seeds, mlp, storage), compare("gan-digits", seeds, gan, storage)]
    finally:
        ray.shutdown()


if __name__ == "__main__":
    for row in run():
        print(row)
