"""The benchmark suite runs (``--quick``: sizes too small for timing claims, none asserted)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.e2e
def test_quick_benchmarks_run_and_print_ratios():
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    for name in (
        "replay + K-fold recommend",
        "analysis at scale",
        "search overhead vs plain Ray Tune",
        "marginal cost per trial vs fork pool",
        "cost per trial over the bare loop vs Ray Tune's own",
        "fixed start-up vs spawn pool",
        "epochs saved: recommended threshold",
        "epochs saved: hindsight ceiling",
        "ASHA + thresholds vs FIFO: gan-digits",
        "ASHA alone vs FIFO: mlp-digits",
        "search level: mlp-digits: ASHA alone",
        "calibrated loop (pilot included) vs FIFO: mlp-digits",
        "driver bookkeeping per finished trial (stop reasons)",
        "memory: driver Python objects kept per finished trial",
        "memory: driver RSS growth per finished trial",
    ):
        assert name in run.stdout, name
    assert "ratio" in run.stdout


@pytest.mark.e2e
def test_gpu_check_dry_run_on_the_cpu():
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--gpus-per-trial", "0", "--quick"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=400,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith((" gan-", "gan-"))]
    assert len(lines) == 12 and all(" cpu " in line for line in lines)


@pytest.mark.e2e
def test_gpu_check_without_a_gpu_says_so():
    import torch

    if torch.cuda.is_available():
        return
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "gpu_check: no CUDA device on this machine; run it on a GPU node (--gpus-per-trial 0 is a CPU dry run)"
    ]
