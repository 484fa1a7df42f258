"""Peak memory of the search driver and of one trial worker, and the driver's growth per trial.

Two searches of ``perceptron-xor`` (FIFO, tiny trials, so the trial count is large)
run in fresh processes, with few and with many trials. A sampling thread reads the
resident set size (RSS) of the driver and the peak RSS (``VmHWM``) of every trial actor
(``ray::PerceptronTrainable``) from ``/proc`` every 50 ms (Linux only). The driver's
growth per extra finished trial is set against the size of that trial's result rows
(its ``result.json``): Ray Tune keeps each trial's results in memory (its ``Trial``
objects, then one DataFrame per trial in the ``ResultGrid``); tune-stop drops a
finished trial's stopping histories.

RSS also counts memory outside Python's heap (Ray's C++ core worker, allocator arenas
that are not returned to the system), so a second pair of searches runs with
``tracemalloc`` on: the Python objects still alive after ``run_search`` returns, per
extra trial, are what the driver itself keeps. A third pair runs plain Ray Tune (a
trivial class trainable) with the same trial counts, the baseline for the RSS growth. A
warm-up search first takes the one-time costs (imports, caches) out of every measurement.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import tracemalloc
from pathlib import Path

from benchmarks._ray import ray_of_its_own

EPOCHS = 10


def status_bytes(pid: str, field: str) -> int:
    """A memory field of ``/proc/<pid>/status`` (``VmRSS``, ``VmHWM``) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


class PeakSampler(threading.Thread):
    """Records the peak RSS of this process and of the trial actors until stopped."""

    def __init__(self, interval_s: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.driver_peak = 0
        self.worker_peak = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            self.driver_peak = max(self.driver_peak, status_bytes("self", "VmRSS"))
            for folder in Path("/proc").iterdir():
                if not folder.name.isdigit():
                    continue
                try:
                    if (folder / "cmdline").read_bytes().startswith(b"ray::PerceptronTrainable"):
                        self.worker_peak = max(self.worker_peak, status_bytes(folder.name, "VmHWM"))
                except OSError:  # the process ended meanwhile
                    continue
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def plain_search(num_trials: int, storage: str, name: str) -> str:
    """The baseline: plain Ray Tune, ``num_trials`` trivial trials with a checkpoint each; returns its path."""
    from ray import tune

    class Plain(tune.Trainable):
        def step(self) -> dict[str, float]:
            return {"loss": 1.0 / self.iteration if self.iteration else 1.0, "accuracy": 0.5}

        def save_checkpoint(self, checkpoint_dir: str) -> dict[str, int]:
            return {"iteration": self.iteration}

        def load_checkpoint(self, checkpoint: dict[str, int] | None) -> None:
            pass

        def reset_config(self, new_config: dict[str, float]) -> bool:
            return True

    tuner = tune.Tuner(
        Plain,
        param_space={"x": tune.uniform(0.0, 1.0)},
        tune_config=tune.TuneConfig(num_samples=num_trials, reuse_actors=True),
        run_config=tune.RunConfig(name=name, storage_path=storage, stop={"training_iteration": EPOCHS}, verbose=0),
    )
    return str(tuner.fit().experiment_path)


def child(num_trials: int, traced: bool = False, plain: bool = False, warm_up: bool = True) -> dict[str, float]:
    """One search of ``num_trials`` trials in this process (after a 2-trial warm-up); figures in bytes.

    With ``traced``, ``tracemalloc`` records the Python allocations still alive after the search;
    with ``plain``, the search is :func:`plain_search` (Ray Tune without tune-stop); without
    ``warm_up``, no warm-up search (one already ran in this process, or ``--smoke`` asked for none).
    A Ray already running here (``python -m benchmarks --smoke``'s, of 1 CPU) is used as it is.
    """
    import gc

    from search_spaces import load_space
    from tune_stop.app.search import SearchOptions, init_ray, run_search

    space = load_space("perceptron-xor").with_overrides(num_samples=num_trials, max_epochs=EPOCHS, scheduler="fifo")
    init_ray(SearchOptions(num_cpus=2))
    with tempfile.TemporaryDirectory() as storage:
        warm_up_options = SearchOptions(storage_path=storage, name="warm-up", verbose=0, checkpoint_frequency=0)
        options = SearchOptions(storage_path=storage, name="memory", verbose=0, checkpoint_frequency=0)
        if warm_up and plain:
            plain_search(2, storage, "warm-up")
        elif warm_up:
            run_search(space.with_overrides(num_samples=2), warm_up_options)
        gc.collect()
        before = status_bytes("self", "VmRSS")
        sampler = PeakSampler()
        sampler.start()
        if traced:
            tracemalloc.start()
        experiment_path = (
            plain_search(num_trials, storage, "memory") if plain else run_search(space, options).experiment_path
        )
        gc.collect()
        python_heap = tracemalloc.get_traced_memory()[0] if traced else 0
        tracemalloc.stop()
        sampler.stop()
        after = status_bytes("self", "VmRSS")
        result_bytes = sum(p.stat().st_size for p in Path(experiment_path).glob("*/result.json"))
    return {
        "trials": num_trials,
        "driver_before": before,
        "driver_after": after,
        "driver_peak": sampler.driver_peak,
        "worker_peak": sampler.worker_peak,
        "result_bytes": result_bytes,
        "python_heap": python_heap,
    }


def _measure(*specs: str, warm_up: bool = True) -> list[dict[str, float]]:
    """The figures of each ``"N"``, ``"N:traced"`` or ``"N:plain"`` search, all in one fresh process and Ray
    (``warm_up``: after one warm-up search)."""
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory", "--child" if warm_up else "--child-cold", *specs],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        timeout=600,
    )
    if run.returncode != 0:
        raise RuntimeError(f"memory child failed: {run.stderr[-2000:]}")
    return [dict(figures) for figures in json.loads(run.stdout.strip().splitlines()[-1])]


def _children(specs: list[str], warm_up: bool = True) -> list[dict[str, float]]:
    """:func:`child` for each spec in this process, one Ray and one warm-up (``warm_up``) for all of them."""
    figures = []
    with ray_of_its_own():
        for index, spec in enumerate(specs):
            trials, _, flag = spec.partition(":")
            first = warm_up and index == 0
            figures.append(child(int(trials), traced=flag == "traced", plain=flag == "plain", warm_up=first))
    return figures


def _ratio(part: float, whole: float) -> float:
    """``part / whole``, NaN where ``whole`` is 0 (at smoke sizes RSS may not move by a page)."""
    return part / whole if whole else float("nan")


def run(quick: bool = False, smoke: bool = False) -> list[dict[str, object]]:
    """Each figure from a search of ``few`` and one of ``many`` trials (``smoke``: the smallest that runs)."""
    few, many = (1, 2) if smoke else (4, 16) if quick else (25, 200)
    if smoke:
        # Only shows the code runs: four searches here, on the Ray of `python -m benchmarks --smoke` (a process and
        # a Ray of their own would cost seconds of CPU), no warm-up, the traced ones standing in for the untraced.
        specs = [f"{trials}{flag}" for flag in (":traced", ":plain") for trials in (few, many)]
        traced_small, traced_large, plain_small, plain_large = _children(specs, warm_up=False)
        small, large = traced_small, traced_large
    else:  # each search in a fresh process and Ray
        specs = [f"{trials}{flag}" for flag in ("", ":traced", ":plain") for trials in (few, many)]
        searches = [figures for spec in specs for figures in _measure(spec)]
        small, large, traced_small, traced_large, plain_small, plain_large = searches
    mib = 2**20
    extra_trials = large["trials"] - small["trials"]
    growth = [measured["driver_after"] - measured["driver_before"] for measured in (small, large)]
    per_trial = (growth[1] - growth[0]) / extra_trials
    rows_per_trial = (large["result_bytes"] - small["result_bytes"]) / extra_trials
    plain_per_trial = (
        (plain_large["driver_after"] - plain_large["driver_before"])
        - (plain_small["driver_after"] - plain_small["driver_before"])
    ) / extra_trials
    heap_per_trial = (traced_large["python_heap"] - traced_small["python_heap"]) / (
        traced_large["trials"] - traced_small["trials"]
    )
    return [
        {
            "benchmark": "memory: driver peak RSS",
            "size": f"{large['trials']:.0f} trials (perceptron-xor, {EPOCHS} epochs)",
            "seconds": float("nan"),
            "baseline_s": float("nan"),
            "ratio": large["driver_peak"] / small["driver_peak"],
            "note": (
                f"{large['driver_peak'] / mib:.0f} MiB vs {small['driver_peak'] / mib:.0f} MiB with "
                f"{small['trials']:.0f} trials (ratio = many / few)"
            ),
        },
        {
            "benchmark": "memory: driver Python objects kept per finished trial",
            "size": f"{small['trials']:.0f} -> {large['trials']:.0f} trials",
            "seconds": float("nan"),
            "baseline_s": float("nan"),
            "ratio": _ratio(heap_per_trial, rows_per_trial),
            "note": (
                f"{heap_per_trial / 1024:.1f} KiB per trial (tracemalloc) against {rows_per_trial / 1024:.1f} KiB of "
                "its result rows (result.json); goal: ratio <= 1"
            ),
        },
        {
            "benchmark": "memory: driver RSS growth per finished trial",
            "size": f"{small['trials']:.0f} -> {large['trials']:.0f} trials",
            "seconds": float("nan"),
            "baseline_s": float("nan"),
            "ratio": _ratio(per_trial, plain_per_trial),
            "note": (
                f"{per_trial / 1024:.1f} KiB per trial; baseline: plain Ray Tune with a trivial trainable, "
                f"{plain_per_trial / 1024:.1f} KiB (both include Ray's C++ core worker and allocator arenas); "
                f"result rows {rows_per_trial / 1024:.1f} KiB"
            ),
        },
        {
            "benchmark": "memory: one trial worker peak RSS",
            "size": "perceptron-xor actor",
            "seconds": float("nan"),
            "baseline_s": float("nan"),
            # 0: the sampler saw no trial actor alive (a smoke search can end between two samples on a busy
            # machine); the ratio is then NaN, as _ratio makes it, not a crash of the whole benchmark run.
            "ratio": _ratio(large["worker_peak"], small["worker_peak"]),
            "note": (
                f"{large['worker_peak'] / mib:.0f} MiB after {large['trials']:.0f} trials vs "
                f"{small['worker_peak'] / mib:.0f} MiB after {small['trials']:.0f} (ratio = many / few; 0 MiB: "
                "no trial actor sampled)"
            ),
        },
    ]


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] in ("--child", "--child-cold"):
        print(json.dumps(_children(sys.argv[2:], warm_up=sys.argv[1] == "--child")))
    else:
        for row in run():
            print(row)
