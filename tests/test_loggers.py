"""Result loggers keep a retried trial's rows (Ray Tune copies a stale storage file over them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from ray.train._internal.session import _TrainingResult
from ray.train._internal.storage import StorageContext
from ray.tune import Checkpoint
from ray.tune.experiment import Trial
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from tune_stop.loggers import CSVLogger, JsonLogger

SYNCED = [1, 2]  # epochs in the trial's file at the last sync to storage
DRIVER = [1, 2, 3, 4, 5, 6]  # epochs the driver had logged when the trial crashed

LOGGERS = [(CSVLogger, CSVLoggerCallback, "progress.csv"), (JsonLogger, JsonLoggerCallback, "result.json")]


def restarting_trial(tmp_path: Path) -> Trial:
    """A trial with a checkpoint, so the loggers restore its file from storage when it restarts."""
    storage = StorageContext(storage_path=str(tmp_path / "storage"), experiment_dir_name="exp")
    trial = Trial("retried", config={}, storage=storage, stub=True)
    trial.init_local_path()  # names the trial's folder, as Tune does before it starts
    (tmp_path / "checkpoint").mkdir()
    checkpoint = Checkpoint.from_directory(str(tmp_path / "checkpoint"))
    trial.run_metadata.checkpoint_manager.register_checkpoint(_TrainingResult(checkpoint=checkpoint, metrics={}))
    assert trial.checkpoint is not None and trial.local_path is not None
    return trial


def write_epochs(folder: str, name: str, epochs: list[int]) -> None:
    Path(folder).mkdir(parents=True, exist_ok=True)
    if name.endswith(".csv"):
        text = "epoch\n" + "".join(f"{epoch}\n" for epoch in epochs)
    else:
        text = "".join(json.dumps({"epoch": epoch}) + "\n" for epoch in epochs)
    Path(folder, name).write_text(text)


def read_epochs(folder: str, name: str) -> list[int]:
    path = Path(folder, name)
    frame = pd.read_csv(path) if name.endswith(".csv") else pd.read_json(path, lines=True)
    return frame["epoch"].tolist()


def log_epoch_7_after_the_restart(logger: CSVLoggerCallback | JsonLoggerCallback, trial: Trial) -> None:
    logger.log_trial_result(7, trial, {"epoch": 7})
    logger.log_trial_end(trial)


@pytest.mark.e2e  # Ray's logger callbacks need a started Ray
@pytest.mark.parametrize(("ours", "rays", "name"), LOGGERS)
def test_a_restarted_trial_keeps_the_rows_logged_since_the_last_sync(ray_session, tmp_path, ours, rays, name):
    trial = restarting_trial(tmp_path)
    write_epochs(trial.storage.trial_fs_path, name, SYNCED)
    write_epochs(trial.local_path, name, DRIVER)

    log_epoch_7_after_the_restart(ours(), trial)
    assert read_epochs(trial.local_path, name) == [*DRIVER, 7]

    # Ray Tune's own logger replaces them with the older copy: the loss this prevents.
    write_epochs(trial.local_path, name, DRIVER)
    log_epoch_7_after_the_restart(rays(), trial)
    assert read_epochs(trial.local_path, name) == [*SYNCED, 7]


@pytest.mark.e2e  # Ray's logger callbacks need a started Ray
@pytest.mark.parametrize(("ours", "name"), [(ours, name) for ours, _, name in LOGGERS])
def test_a_resumed_trial_without_a_driver_copy_continues_the_storage_copy(ray_session, tmp_path, ours, name):
    trial = restarting_trial(tmp_path)
    write_epochs(trial.storage.trial_fs_path, name, SYNCED)

    log_epoch_7_after_the_restart(ours(), trial)
    assert read_epochs(trial.local_path, name) == [*SYNCED, 7]


@pytest.mark.e2e  # Ray's logger callbacks need a started Ray
def test_the_json_logger_writes_the_same_text_as_rays(ray_session, tmp_path):
    results = [
        {"epoch": 1, "val_loss": 0.5, "done": False, "config": {"lr": 0.1, "hidden_sizes": [64, 32], "fold": 0}},
        {"epoch": 2, "val_loss": float("nan"), "train_loss": float("inf"), "note": 'é "quoted"\n', "none": None},
        {"epoch": np.int64(3), "val_loss": np.float32(0.25), "flags": np.array([True, False]), "ok": np.bool_(True)},
        {"epoch": 4, "unserializable": object, "nested": {"deep": {"values": [1.5, -0.0, 1e-300]}}},
    ]
    written = {}
    for name, callback in (("ours", JsonLogger), ("rays", JsonLoggerCallback)):
        storage = StorageContext(storage_path=str(tmp_path / name), experiment_dir_name="exp")
        trial = Trial("same", config={}, storage=storage, stub=True)
        trial.init_local_path()
        logger = callback()
        for iteration, result in enumerate(results, start=1):
            logger.log_trial_result(iteration, trial, result)
        logger.log_trial_end(trial)
        written[name] = Path(trial.local_path, "result.json").read_bytes()
    assert written["ours"] == written["rays"]
    assert len(written["ours"].splitlines()) == len(results)
