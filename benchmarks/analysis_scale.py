"""The whole analysis at the scale of a large search: time and peak memory.

Full size: 100,000 synthetic curves x 200 epochs (20,000 configurations x 5 data
folds), recommended as ``tune-stop recommend`` does: the replay of 100 ``val_loss``
threshold candidates, cross-validation holding out configurations crossed with folds
(25 cells), prediction intervals, search-level figures and the hindsight ceiling.
Goal: under 30 s and under 4 GB. The baseline is the same analysis on a tenth of the
curves in the same run (a ratio of 10 is linear scaling).

Each size runs in a fresh process, whose peak resident set size (``VmHWM``) counts
everything: the long frame of 20 million rows, the matrices and the analysis.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from benchmarks.memory import status_bytes

CANDIDATES = 100
FOLDS = 5


def measure(num_curves: int, num_epochs: int) -> dict[str, Any]:
    """Builds the curves, then times their analysis; run in a fresh process for a clean peak."""
    from analysis import CurveSet, analyse
    from benchmarks.replay import synthetic_curves

    frame = synthetic_curves(num_curves, num_epochs)
    frame["config_id"] = frame["trial_id"] // FOLDS
    started = time.perf_counter()
    curves = CurveSet.from_frame(frame)
    load_s = time.perf_counter() - started
    del frame
    started = time.perf_counter()
    analysis = analyse(
        curves,
        metrics=[("val_loss", "min")],
        families=("threshold",),
        threshold_count=CANDIDATES,
        baselines=False,
        objective="search",
    )
    analyse_s = time.perf_counter() - started
    row = analysis.recommendations.iloc[0]
    return {
        "load_s": load_s,
        "analyse_s": analyse_s,
        "peak_bytes": status_bytes("self", "VmHWM"),
        "cv_groups": int(row["cv_groups"]),
        "cv_unit": str(row["cv_unit"]),
        "search_figures": bool(row[["best_regret", "selected_regret", "compute_used"]].notna().all()),
    }


def _in_fresh_process(num_curves: int, num_epochs: int) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "benchmarks.analysis_scale", "--curves", str(num_curves), "--epochs", str(num_epochs)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def run(quick: bool = False, smoke: bool = False) -> list[dict[str, object]]:
    """The row at 100,000 curves; ``quick`` at 10,000; ``smoke`` at 1,000 (only shows the code runs)."""
    num_curves, num_epochs = (1_000, 50) if smoke else (10_000, 100) if quick else (100_000, 200)
    small = _in_fresh_process(num_curves // 10, num_epochs)
    large = _in_fresh_process(num_curves, num_epochs)
    if not (large["search_figures"] and small["search_figures"]):
        raise RuntimeError("the analysis at scale left search-level figures out")
    return [
        {
            "benchmark": "analysis at scale (replay, grouped CV, intervals, search figures)",
            "size": f"{num_curves:,} curves x {num_epochs} epochs x {CANDIDATES} candidates x {FOLDS} folds",
            "seconds": large["analyse_s"],
            "baseline_s": small["analyse_s"],
            "ratio": large["analyse_s"] / small["analyse_s"],
            "note": (
                f"goal < 30 s and < 4 GB; peak RSS {large['peak_bytes'] / 2**30:.2f} GiB (frame included); "
                f"baseline: {num_curves // 10:,} curves; {large['cv_groups']} groups of {large['cv_unit']}s "
                f"x folds; matrices built in {large['load_s']:.1f} s more"
            ),
        }
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analysis_scale", description=__doc__)
    parser.add_argument("--curves", type=int, help="measure one size in this process and print it as JSON")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.curves:
        print(json.dumps(measure(args.curves, args.epochs)))
        return
    for row in run(quick=args.quick):
        print(row)


if __name__ == "__main__":
    main()
