"""The benchmark suite runs (``--smoke``: sizes too small for timing claims, none asserted)."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import types
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest


@pytest.mark.e2e
def test_smoke_benchmarks_run_and_print_ratios(tmp_path):
    import tempfile

    # Its own Ray temp folder (short: Ray's socket paths live under it), never another Ray's. --smoke took
    # 275 s alone on 2 cores on 2026-12-07, 346 CPU-seconds (search overhead 71 s, ASHA vs FIFO 53 s, calibration
    # 38 s, memory 26 s, the rest under 21 s each), and about 460 s beside the other test worker. Most of it is
    # Ray Tune's trial actors (about 9 CPU-seconds each: they import torch) and the analyses. The limit leaves
    # room for a busy machine, and a run that passes it says which benchmark it was in.
    environment = {**os.environ, "RAY_TMPDIR": tempfile.mkdtemp(prefix="ts-bench-")}
    try:
        run = subprocess.run(
            [sys.executable, "-m", "benchmarks", "--smoke"],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=1800,
            env=environment,
        )
    except subprocess.TimeoutExpired as expired:
        done = (expired.stderr or b"").decode(errors="replace") if isinstance(expired.stderr, bytes) else ""
        finished = [line for line in done.splitlines() if " rows in " in line]
        pytest.fail(f"the quick benchmarks took over 1800 s; finished before that: {finished}")
    assert run.returncode == 0, run.stderr[-2000:]
    for name in (
        "replay + K-fold recommend",
        "stopping configurations: ASHA replays",
        "stopping configurations: the median rule replays",
        "stopping configurations: choose",
        "analysis at scale",
        "search overhead vs plain Ray Tune",
        "marginal cost per trial vs fork pool",
        "cost per trial over the bare loop vs Ray Tune's own",
        "fixed start-up vs spawn pool",
        "fixed start-up vs plain Ray Tune",
        "marginal cost per trial vs fork pool, longer trials",
        "epochs saved: recommended threshold",
        "epochs saved: hindsight ceiling",
        "ASHA alone vs FIFO: mlp-digits",
        "search level: mlp-digits: ASHA alone",
        "calibrated loop (pilot included) vs FIFO: mlp-digits",
        "marginal cost per trial vs plain Ray Tune, longer trials",
        "memory: driver peak RSS",
        "memory: one trial worker peak RSS",
        "driver bookkeeping per finished trial (stop reasons)",
        "memory: driver Python objects kept per finished trial",
        "memory: driver RSS growth per finished trial",
        "calibration: pooled",
        "peers mlp-digits: tune-stop: the chosen configuration",
        "peers mlp-digits: Ray ASHA, Ray's defaults (grace 1, rf 4)",
        "peers mlp-digits: Ray MedianStoppingRule (grace 3, 3 samples)",
        "peers mlp-digits: Ray TrialPlateauStopper (defaults)",
        "peers mlp-digits: chosen on search 1",
        "peers mlp-digits: the grid's cheapest in hindsight / cheapest peer",
        "peers mlp-digits: stated risk, realized minus stated",
    ):
        assert name in run.stdout, name
    lines = run.stdout.splitlines()
    title = next(i for i, line in enumerate(lines) if "(smoke: sizes too small for the targets)" in line)
    assert lines[title + 1].split()[:5] == ["benchmark", "size", "seconds", "baseline_s", "ratio"]


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
    assert len(lines) == 4 and all(" cpu " in line for line in lines)  # 2 spaces x 1 configuration x 2 folds


@pytest.mark.e2e
def test_gpu_check_without_a_gpu_says_so():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device: the benchmark runs instead of refusing")
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


def test_calibration_sets_new_configurations_beyond_the_predicting_range_apart():
    from benchmarks.calibration import _unseen

    old_ids = np.array(["a", "a", "b", "b", "c"])
    old = np.array([0.0, 0.2, 0.3, 0.3, 0.5])  # per configuration: 0.1, 0.3, 0.5
    new_ids = np.array(["x", "x", "y", "z"])
    new = np.array([0.9, 0.7, 0.2, 0.05])  # x: 0.8 above the range, y inside, z below it
    unseen = _unseen(old, old_ids, new, new_ids)
    assert unseen == {
        "beyond": 2.0,
        "above": 1.0,
        "realized_seen": pytest.approx(0.2),
        "predicting_configs": 3.0,
        "new_configs": 3.0,
    }


def test_spawn_pool_workers_do_not_import_the_parents_main(tmp_path, monkeypatch):
    from benchmarks.search_overhead import _main_not_imported

    marker = tmp_path / "imported"
    script = tmp_path / "parent_main.py"
    script.write_text(f"open({str(marker)!r}, 'a').write('imported')\n")
    parent_main = types.ModuleType("__main__")
    parent_main.__file__ = str(script)
    parent_main.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", parent_main)
    spawn = multiprocessing.get_context("spawn")

    with _main_not_imported(), ProcessPoolExecutor(1, mp_context=spawn) as pool:
        pool.submit(os.getpid).result(timeout=60)
    assert not marker.exists()
    assert parent_main.__file__ == str(script)

    with ProcessPoolExecutor(1, mp_context=spawn) as pool:  # multiprocessing's default: imported
        pool.submit(os.getpid).result(timeout=60)
    assert marker.read_text() == "imported"
