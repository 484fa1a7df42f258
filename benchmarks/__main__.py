"""``python -m benchmarks [--quick | --smoke] [--full]``: run every benchmark and print one table of ratios."""

from __future__ import annotations

import argparse
import contextlib
import functools
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from benchmarks import (
    analysis_scale,
    asha_vs_fifo,
    bookkeeping,
    calibration,
    compute_saved,
    configuration_speed,
    gan_fid,
    memory,
    peers,
    replay,
    search_level,
    search_overhead,
)
from benchmarks._ray import ray_of_its_own


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to show the suite runs (no timing claims)")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="--quick with four benchmarks at their smallest sizes: shows every benchmark runs (the test)",
    )
    parser.add_argument("--full", action="store_true", help="add the largest sizes (search overhead at 1,024 trials)")
    parser.add_argument("--keep", type=Path, help="folder that keeps the recorded full-curve searches for a rerun")
    args = parser.parse_args()
    quick = args.quick or args.smoke
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        # The calibration and search-level rows realize recommendations on the same recorded searches.
        recorded = args.keep or Path(scratch)
        recorded.mkdir(parents=True, exist_ok=True)
        runs: list[tuple[str, Callable[[], list[dict[str, object]]]]] = [
            (module.__name__, functools.partial(module.run, quick=quick))
            for module in (replay, configuration_speed, gan_fid, compute_saved, bookkeeping)
        ]
        runs += [
            (module.__name__, functools.partial(module.run, quick=quick, smoke=args.smoke))
            for module in (analysis_scale, memory, asha_vs_fifo)
        ]
        runs += [
            (
                "benchmarks.search_overhead",
                functools.partial(search_overhead.run, quick=quick, full=args.full, smoke=args.smoke),
            ),
            ("benchmarks.calibration", functools.partial(calibration.run, quick=quick, keep=recorded)),
            ("benchmarks.search_level", functools.partial(search_level.run, quick=quick, keep=recorded)),
            ("benchmarks.peers", functools.partial(peers.run, quick=quick, keep=recorded)),
        ]
        # --smoke: one Ray for every benchmark, of 1 CPU (a search then starts one trial actor, not one per core:
        # each imports torch); the others start their own, as a user's search does.
        with ray_of_its_own(1, start=True) if args.smoke else contextlib.nullcontext():
            for name, run in runs:
                started = time.perf_counter()
                done = run()
                rows += done
                print(f"{name}: {len(done)} rows in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}"
        + (f" ({'smoke' if args.smoke else 'quick'}: sizes too small for the targets)" if quick else "")
    )
    with pd.option_context("display.width", 400, "display.max_colwidth", 300):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
