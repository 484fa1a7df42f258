"""Trial faults: a crash is retried from the last checkpoint and loses nothing."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis import load_experiment, load_stop_reasons
from search_spaces import load_space
from tune_stop.app.search import SearchOptions, run_search

pytestmark = pytest.mark.e2e


def raw_epochs(experiment) -> dict[str, list[int]]:
    """Every epoch each trial reported, duplicates included (from Ray's result.json)."""
    epochs = {}
    for result_file in experiment.glob("*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        epochs[rows[0]["trial_id"]] = [row["epoch"] for row in rows]
    return epochs


def test_a_crashed_trial_resumes_from_its_checkpoint_and_ends_as_without_the_fault(ray_session, tmp_path):
    space = load_space("perceptron-digits").with_overrides(num_samples=1, max_epochs=8, scheduler="fifo")
    every = 2
    clean = run_search(
        space, SearchOptions(storage_path=str(tmp_path), name="clean", verbose=0, checkpoint_frequency=every)
    )
    # Every trial that gets there crashes once at epoch 7 (after epoch 6's checkpoint... and 7 trained).
    faults = {"fail_at_epoch": 7, "fail_marker_dir": str(tmp_path / "markers")}
    faulty = run_search(
        space,
        SearchOptions(storage_path=str(tmp_path), name="faulty", verbose=0, checkpoint_frequency=every, max_failures=1),
        overrides=faults,
    )
    assert faulty.num_errors == 0
    crashed = list((tmp_path / "markers").iterdir())
    assert crashed, "no trial reached the injected fault"

    reasons = {
        name: load_stop_reasons(summary.experiment_path).set_index(["config_id", "fold"])[["stop_reason", "stop_epoch"]]
        for name, summary in (("clean", clean), ("faulty", faulty))
    }
    pd.testing.assert_frame_equal(reasons["clean"].sort_index(), reasons["faulty"].sort_index())

    curves = {
        name: load_experiment(summary.experiment_path).set_index(["config_id", "fold", "epoch"]).sort_index()
        for name, summary in (("clean", clean), ("faulty", faulty))
    }
    # Same curves, epoch for epoch: the retry restored models, optimiser and RNG state.
    pd.testing.assert_series_equal(curves["clean"]["val_loss"], curves["faulty"]["val_loss"], rtol=1e-6)
    for _, curve in load_experiment(faulty.experiment_path).groupby("trial_id"):
        assert list(curve["epoch"]) == list(range(1, int(curve["epoch"].max()) + 1))  # no gaps, no duplicates

    # Epochs trained twice: those after the last checkpoint, at most the checkpoint interval.
    for epochs in raw_epochs(faulty.experiment_path).values():
        repeated = len(epochs) - len(set(epochs))
        assert repeated <= every
