"""``python -m benchmarks [--quick]``: run every benchmark and print one table of ratios."""

from __future__ import annotations

import argparse
import platform
import time

import pandas as pd

from benchmarks import (
    analysis_scale,
    asha_vs_fifo,
    bookkeeping,
    calibration,
    compute_saved,
    gan_fid,
    memory,
    replay,
    search_level,
    search_overhead,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, to show the suite runs (no timing claims)")
    args = parser.parse_args()
    rows = []
    for module in (
        replay,
        analysis_scale,
        gan_fid,
        search_overhead,
        compute_saved,
        calibration,
        search_level,
        asha_vs_fifo,
        memory,
        bookkeeping,
    ):
        rows += module.run(quick=args.quick)
    table = pd.DataFrame(rows)
    print(
        f"{platform.node()} {platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}"
        + (" (quick: sizes too small for the targets)" if args.quick else "")
    )
    with pd.option_context("display.width", 400, "display.max_colwidth", 300):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))


if __name__ == "__main__":
    main()
