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


def live_stop_epoch(stopper: Stopper, trial: pd.DataFrame | list[dict[str, Any]], trial_id: str = "t") -> int:
    """The first epoch at which the live ``stopper`` stops the trial (its rows or :func:`results`), 0 if never."""
    for result in results(trial) if isinstance(trial, pd.DataFrame) else trial:
        if stopper(trial_id, result):
            return int(result["epoch"])
    return 0


def live_stop(stopper: Stopper, history: list[float], metric: str = "val_loss", **more: list[float]) -> int:
    """:func:`live_stop_epoch` on plain lists of values (``more``: other metrics of the same epochs)."""
    rows = [
        {"epoch": epoch, metric: value, **{key: values[epoch - 1] for key, values in more.items()}, "config": {}}
        for epoch, value in enumerate(history, start=1)
    ]
    return live_stop_epoch(stopper, rows)
