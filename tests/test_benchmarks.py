"""The benchmark suite runs (``--quick``: sizes too small for timing claims, none asserted)."""

from __future__ import annotations

import subprocess
import sys


def test_quick_benchmarks_run_and_print_ratios():
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "replay + K-fold recommend" in run.stdout
    assert "ratio" in run.stdout
