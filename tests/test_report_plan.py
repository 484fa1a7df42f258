"""Batched reporting: several epochs per round trip, every stop and checkpoint at its exact epoch."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import pandas as pd
import pytest
import torch
from ray.tune.result import SHOULD_CHECKPOINT

from analysis import load_experiment
from search_spaces import SpaceError, load_space
from tune_stop.app.search import (
    SearchOptions,
    build_scheduler,
    planned_trainable,
    report_plan,
    run_search,
    scheduler_milestones,
)
from tune_stop.schedulers import RecordingASHAScheduler, RecordingMedianStoppingRule
from tune_stop.stoppers import AnyStopper, ThresholdStopper
from tune_stop.trainables import PerceptronTrainable
from tune_stop.trainables._common import ReportPlan

CONFIG = {"dataset": "digits", "hidden_sizes": [32], "optimizer": "adam", "lr": 3e-3, "max_epochs": 12}


def _trainable(plan: ReportPlan, **config: object) -> PerceptronTrainable:
    cls = planned_trainable(PerceptronTrainable, plan)
    return cls(config={**CONFIG, **config})  # type: ignore[return-value]


def _epochs(results: list[dict]) -> list[int]:
    return [int(r["epoch"]) for r in results]


def test_epochs_are_batched_and_a_checkpoint_epoch_comes_alone():
    trainable = _trainable(ReportPlan(checkpoint_frequency=5, interval_s=60.0))
    try:
        batches = [trainable.train_buffered(1000, 0) for _ in range(6)]
    finally:
        trainable.stop()
    # Epochs 1-4 together; 5 (due a checkpoint) alone; 6-9; 10 alone; 11; 12 (the last) alone.
    assert [_epochs(b) for b in batches] == [[1, 2, 3, 4], [5], [6, 7, 8, 9], [10], [11], [12]]
    flagged = [int(r["epoch"]) for b in batches for r in b if r.get(SHOULD_CHECKPOINT)]
    assert flagged == [5, 10, 12]


def test_a_batch_ends_at_each_scheduler_milestone():
    trainable = _trainable(ReportPlan(milestones=frozenset({3, 9}), interval_s=60.0))
    try:
        batches = [trainable.train_buffered() for _ in range(4)]
    finally:
        trainable.stop()
    # A milestone epoch gets a checkpoint (ASHA may stop the trial there), so it comes alone.
    assert [_epochs(b) for b in batches] == [[1, 2], [3], [4, 5, 6, 7, 8], [9]]


def test_the_trial_stops_itself_where_the_driver_will_and_trains_no_further():
    # The threshold is read from the config, as per-trial thresholds are.
    stopper = AnyStopper(ThresholdStopper("val_loss", "min", threshold_key="val_loss_threshold"))
    plan = ReportPlan(stopper=stopper, interval_s=60.0)
    unbatched = PerceptronTrainable(config={**CONFIG, "val_loss_threshold": 0.5})
    try:
        losses = [unbatched.train()["val_loss"] for _ in range(12)]
    finally:
        unbatched.stop()
    stop_epoch = next(i for i, loss in enumerate(losses, start=1) if loss <= 0.5)
    assert 2 <= stop_epoch < 12, losses

    trainable = _trainable(plan, val_loss_threshold=0.5)
    try:
        first = trainable.train_buffered()
        second = trainable.train_buffered()
        model_epoch = trainable.epoch
    finally:
        trainable.stop()
    assert _epochs(first) == list(range(1, stop_epoch))
    assert _epochs(second) == [stop_epoch] and second[0][SHOULD_CHECKPOINT]
    assert model_epoch == stop_epoch  # nothing trained past the stop
    assert [r["val_loss"] for r in first + second] == pytest.approx(losses[:stop_epoch], rel=1e-6)


def test_a_restored_trial_keeps_the_stopping_history(tmp_path):
    from tune_stop.stoppers import PatienceStopper

    plan = ReportPlan(stopper=AnyStopper(PatienceStopper("val_loss", "min", patience=100)), checkpoint_frequency=5)
    plan = pickle.loads(pickle.dumps(plan))  # it travels to the workers pickled
    trainable = _trainable(plan)
    try:
        while trainable.epoch < 5:
            trainable.train_buffered()
        saved = trainable.save(str(tmp_path / "checkpoint"))
        restored = _trainable(plan)
        restored.restore(saved)
        history = restored._local_stopper.stoppers[0].history(restored.trial_id)
        restored.stop()
    finally:
        trainable.stop()
    assert restored.epoch == 5 and len(history) == 5


def test_milestones_are_asha_rungs_and_fifo_has_none():
    space = load_space("mlp-digits")  # ASHA, grace 3, reduction 3, max_t 30
    plan = report_plan(space, SearchOptions())
    assert plan is not None and plan.milestones == frozenset({3, 9, 27})
    assert (
        scheduler_milestones(build_scheduler(space.with_overrides(scheduler="fifo")), space.max_epochs) == frozenset()
    )
    assert report_plan(space, SearchOptions(report_interval_s=0)) is None
    median = space.with_overrides(scheduler="median")
    assert scheduler_milestones(build_scheduler(median), 6) == frozenset(range(1, 7))  # it may stop at any epoch


def test_a_stoppers_file_with_a_scheduler_runs_that_scheduler(tmp_path):
    (tmp_path / "stoppers.yaml").write_text(
        "stoppers:\n  - {policy: non_finite, metrics: [val_loss]}\n"
        "scheduler: {name: median, grace_period: 2, min_samples_required: 4}\n"
    )
    space = load_space("mlp-digits").with_stoppers(tmp_path / "stoppers.yaml")
    scheduler = build_scheduler(space)
    assert isinstance(scheduler, RecordingMedianStoppingRule)
    assert (scheduler.grace_period, scheduler._min_samples_required) == (2, 4)
    (tmp_path / "asha.yaml").write_text("stoppers: []\nscheduler: {name: asha, grace_period: 1, reduction_factor: 4}\n")
    asha = build_scheduler(load_space("mlp-digits").with_stoppers(tmp_path / "asha.yaml"))
    assert isinstance(asha, RecordingASHAScheduler) and scheduler_milestones(asha, 30) == frozenset({1, 4, 16})
    (tmp_path / "bad.yaml").write_text("stoppers: []\nscheduler: {name: median, reduction_factor: 4}\n")
    with pytest.raises(SpaceError, match=r"bad.yaml.*scheduler.reduction_factor"):
        load_space("mlp-digits").with_stoppers(tmp_path / "bad.yaml")


def test_a_stoppers_file_keeps_the_spaces_max_t_only_for_the_spaces_own_asha(tmp_path):
    space = dataclasses.replace(
        load_space("mlp-digits"), scheduler={"name": "asha", "grace_period": 3, "reduction_factor": 3, "max_t": 12}
    )
    (tmp_path / "beside.yaml").write_text(
        "stoppers: []\nscheduler: {name: asha, grace_period: 3, reduction_factor: 3}\n"
    )
    assert space.with_stoppers(tmp_path / "beside.yaml").scheduler["max_t"] == 12  # judged beside the space's ASHA
    # A whole configuration (configuration.yaml) was judged with ASHA's max_t at the epoch budget, and runs so.
    (tmp_path / "other.yaml").write_text(
        "stoppers: []\nscheduler: {name: asha, grace_period: 1, reduction_factor: 4}\n"
    )
    other = space.with_stoppers(tmp_path / "other.yaml")
    assert "max_t" not in other.scheduler
    assert scheduler_milestones(build_scheduler(other), other.max_epochs) == frozenset({1, 4, 16})  # not cut at 12


def _run(space, tmp_path: Path, name: str, interval: float):
    options = SearchOptions(
        storage_path=str(tmp_path), name=name, verbose=0, max_concurrent=1, report_interval_s=interval
    )
    return run_search(space, options)


@pytest.mark.e2e
def test_batched_search_makes_the_same_decisions_as_one_epoch_at_a_time(ray_session, tmp_path):
    """ASHA and per-trial thresholds, one trial at a time so ASHA's order is fixed."""
    space = load_space("mlp-digits").with_overrides(num_samples=3, max_epochs=12)
    batched = _run(space, tmp_path, "batched", 60.0)
    single = _run(space, tmp_path, "single", 0.0)

    def decisions(summary) -> pd.DataFrame:
        rows = pd.DataFrame(summary.stop_reasons)[["config_id", "fold", "stop_reason", "stop_epoch"]]
        return rows.sort_values(["config_id", "fold"], ignore_index=True)

    pd.testing.assert_frame_equal(decisions(batched), decisions(single))
    assert set(decisions(batched)["stop_reason"]) >= {"scheduler", "threshold"}
    columns = ["config_id", "fold", "epoch", "val_loss", "train_loss"]
    curves = [load_experiment(s.experiment_path)[columns] for s in (batched, single)]
    pd.testing.assert_frame_equal(curves[0], curves[1], rtol=1e-6)
    # Every trial's last checkpoint holds the state of its stop epoch.
    for trial_dir in Path(batched.experiment_path).glob("PerceptronTrainable_*"):
        curve = pd.read_csv(trial_dir / "progress.csv")
        last = max(trial_dir.glob("checkpoint_*"), key=lambda p: int(p.name.split("_")[1]))
        assert torch.load(last / "perceptron.pt", weights_only=False)["epoch"] == curve["epoch"].max()
