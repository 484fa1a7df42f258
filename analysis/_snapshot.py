"""Judging a stop by the best snapshot up to it, as a user who keeps the best checkpoint does.

Keras' ``EarlyStopping(restore_best_weights=True)``, Ray Tune's
``CheckpointConfig(checkpoint_score_attribute=...)`` and GAN practice (pick the snapshot
with the best FID) keep, of the epochs trained, the one with the best *monitored* value
(the search's selection metric: ``val_loss``, or ``fid``). What that run delivers at a
stop at epoch ``s`` is the target at that kept epoch, not at ``s``. :func:`kept_columns`
adds two columns that say so, and the analysis judges them in place of the target and
the selection metric: every figure (regret, regret against full training, the best and
selected models, the noise floor) is then of the kept snapshot, with training everything
keeping its best snapshot too. The stopping rules still see the raw metric.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tune_stop.stoppers import mode_sign

__all__ = ["kept_columns", "kept_name", "unkept"]


def kept_name(column: str, monitor: str) -> str:
    """The name of ``column`` at the best snapshot by ``monitor``."""
    return f"{column} (best {monitor} snapshot)"


def unkept(name: str, kept_by: tuple[str, str] | None) -> str:
    """The raw column a kept column was made from (``name`` itself where nothing was kept)."""
    return name.removesuffix(f" (best {kept_by[0]} snapshot)") if kept_by is not None else name


def kept_columns(frame: pd.DataFrame, monitor: str, monitor_mode: str, target: str) -> tuple[pd.DataFrame, str, str]:
    """``frame`` with the target and the monitor at the best snapshot up to each epoch, and their names.

    Per trial (rows in epoch order), the kept epoch at ``e`` is the first epoch up to ``e``
    with the best finite ``monitor`` (ties keep the earlier, as Keras does); before any
    finite value, the epoch itself.
    """
    ordered = frame.sort_values(["trial_id", "epoch"], kind="stable")
    sign = mode_sign(monitor_mode)
    kept_target = np.empty(len(ordered))
    kept_monitor = np.empty(len(ordered))
    target_values = ordered[target].to_numpy(dtype=float)
    monitor_values = ordered[monitor].to_numpy(dtype=float)
    for rows in ordered.groupby("trial_id", sort=False).indices.values():
        scores = sign * monitor_values[rows]
        scores = np.where(np.isfinite(scores), scores, np.inf)
        before = np.concatenate([[np.inf], np.minimum.accumulate(scores)[:-1]])
        improved = scores < before  # a new best (strictly: ties keep the earlier)
        kept = np.maximum.accumulate(np.where(improved, np.arange(len(rows)), -1))
        at = rows[np.where(kept >= 0, kept, np.arange(len(rows)))]
        kept_target[rows], kept_monitor[rows] = target_values[at], monitor_values[at]
    target_name, monitor_name = kept_name(target, monitor), kept_name(monitor, monitor)
    ordered = ordered.assign(**{target_name: kept_target, monitor_name: kept_monitor})
    return ordered.loc[frame.index], target_name, monitor_name
