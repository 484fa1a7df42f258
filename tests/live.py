"""Runs a live stopper on a recorded curve the way Ray Tune calls it: one result per epoch."""

from __future__ import annotations

from typing import Any

import pandas as pd
from ray.tune import Stopper


def results(trial: pd.DataFrame) -> list[dict[str, Any]]:
    """One trial's rows as Ray results: the metrics at the top, ``config/<key>`` columns in ``config``."""
    rows = []
    for record in trial.sort_values("epoch").to_dict("records"):
        config = {key.removeprefix("config/"): value for key, value in record.items() if key.startswith("config/")}
        result = {key: value for key, value in record.items() if not key.startswith("config/")}
        result["epoch"] = int(result["epoch"])
        rows.append({**result, "config": config})
    return rows


def live_stop_epoch(stopper: Stopper, trial: pd.DataFrame, trial_id: str = "t") -> int:
    """The first epoch at which the live ``stopper`` stops the trial, 0 if it never does."""
    for result in results(trial):
        if stopper(trial_id, result):
            return int(result["epoch"])
    return 0


def live_stop(stopper: Stopper, history: list[float], metric: str = "val_loss", **more: list[float]) -> int:
    """:func:`live_stop_epoch` on plain lists of values (``more``: other metrics of the same epochs)."""
    frame = pd.DataFrame({"epoch": range(1, len(history) + 1), metric: history, **more})
    return live_stop_epoch(stopper, frame)
