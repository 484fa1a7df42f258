"""Reading a finished tune-stop experiment into one tidy DataFrame of learning curves."""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from analysis._loggers import logged_runs
from analysis._notices import AnalysisError, Remedy
from tune_stop._count import counted
from tune_stop.experiment import METADATA_FILE
from tune_stop.reasons import OPTIONAL_STOP_REASON_COLUMNS, STOP_REASON_COLUMNS, STOP_REASONS_FILE

__all__ = ["ExperimentError", "RepeatedEpochsError", "load_curves", "load_experiment", "load_stop_reasons"]

_RAY_COLUMNS = {
    "done",
    "training_iteration",
    "trial_id",
    "date",
    "timestamp",
    "time_total_s",
    "pid",
    "hostname",
    "node_ip",
    "time_since_restore",
    "iterations_since_restore",
    "checkpoint_dir_name",
    "should_checkpoint",
}


class ExperimentError(ValueError):
    """A folder that is missing, unreadable, or not a Ray Tune experiment."""


class RepeatedEpochsError(AnalysisError, ExperimentError):
    """Curves that report an epoch of a trial twice, where nothing says the trial was retried."""


def _as_reported_and_said(curves: pd.DataFrame, where: str, retried: bool) -> pd.DataFrame:
    """:func:`as_reported` of the curves, naming the (trial, epoch) pairs reported more than once.

    A trial retried from a checkpoint reports the epochs after the checkpoint again, and
    the later report replaces the earlier one. In a file of curves that is more often a
    mistake (log files concatenated, a row pasted twice), and keeping the last report can
    cut a whole curve short; so unless ``retried`` says the curves hold retried trials, a
    repeated epoch is an error, and with it, a curve that the rule cuts is a warning with counts.

    Raises:
        RepeatedEpochsError: If an epoch repeats and ``retried`` is False.
    """
    kept = as_reported(curves)
    repeated = curves.duplicated(["trial_id", "epoch"], keep="first")
    if not repeated.any():
        return kept
    before, after = curves.groupby("trial_id")["epoch"].max(), kept.groupby("trial_id")["epoch"].max()
    cut = before[after.reindex(before.index) < before]
    first = curves[repeated].iloc[0]
    consequence = (
        "keeping each epoch's last report, as for a trial retried from a checkpoint, drops "
        f"{counted(len(curves) - len(kept), 'row')}"
    )
    if len(cut):
        trial = cut.index[0]
        consequence += (
            f" and cuts {len(cut)} of {curves['trial_id'].nunique()} curves short (trial {trial}: epoch "
            f"{after[trial]} instead of {before[trial]})"
        )
    if not retried:
        raise RepeatedEpochsError(
            f"{where}: {_repeating(int(repeated.sum()))} "
            f"({counted(curves.loc[repeated, 'trial_id'].nunique(), 'trial')}, e.g. trial {first['trial_id']} epoch "
            f"{first['epoch']}); {consequence}. Remove the repeated rows, or, if the curves hold retried trials, "
            "{remedy}.",
            Remedy.RETRIED_TRIALS,
        )
    if len(cut):
        warnings.warn(f"{where}: {_repeating(int(repeated.sum()))}; {consequence}.", stacklevel=4)
    return kept


def _repeating(rows: int) -> str:
    """``1 row repeats an epoch of its trial``, ``3 rows repeat ...``."""
    return "1 row repeats an epoch of its trial" if rows == 1 else f"{rows} rows repeat an epoch of their trial"


def as_reported(curves: pd.DataFrame) -> pd.DataFrame:
    """Each trial's rows as its live stoppers last saw them, from rows in report order.

    An epoch reported again (a trial retried from a checkpoint) replaces the earlier
    report and drops every epoch after it, as :class:`tune_stop.stoppers.HistoryStopper`
    does: a row survives only if no later row of its trial has an epoch at or below its own.
    """
    if curves.empty:
        return curves
    reversed_epochs = curves["epoch"].iloc[::-1]
    from_here = reversed_epochs.groupby(curves["trial_id"].iloc[::-1], sort=False).cummin().iloc[::-1]
    after = from_here.groupby(curves["trial_id"], sort=False).shift(-1)
    return curves[after.isna() | (curves["epoch"] < after)]


def _check_folder(path: Path) -> None:
    if not path.exists():
        raise ExperimentError(f"no experiment folder at {path}")
    if not path.is_dir():
        raise ExperimentError(f"{path} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ExperimentError(f"cannot read the experiment folder {path}")
    if not any(path.glob("experiment_state-*.json")):
        raise ExperimentError(f"{path} is not a Ray Tune experiment folder (no experiment_state-*.json)")


def load_stop_reasons(path: str | os.PathLike[str]) -> pd.DataFrame:
    """The experiment's ``stop_reasons.csv``, one row per trial.

    Columns: ``trial_id``, ``config_id``, ``fold``, ``stop_reason``, ``stop_epoch``,
    ``metric``, ``value``, ``detail``, ``audit_stop_epoch`` (for an audit trial, where its
    policy would have stopped it; empty otherwise and in older files). Empty (with these
    columns) when the file is absent.

    Raises:
        ExperimentError: If the file exists but lacks these columns.
    """
    file = Path(path) / STOP_REASONS_FILE
    if not file.is_file():
        return pd.DataFrame(columns=list(STOP_REASON_COLUMNS))
    try:
        frame = pd.read_csv(file, dtype={"trial_id": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ExperimentError(f"{file} is not a readable CSV ({type(error).__name__})") from None
    missing = [c for c in STOP_REASON_COLUMNS if c not in frame and c not in OPTIONAL_STOP_REASON_COLUMNS]
    if missing:
        raise ExperimentError(f"{file} lacks the columns {', '.join(missing)}")
    for column in OPTIONAL_STOP_REASON_COLUMNS:
        if column not in frame:
            frame[column] = pd.NA
    # A trial retried after an error can have two rows (rows are appended as trials end): the last counts.
    frame = frame.drop_duplicates("trial_id", keep="last")
    order = ["config_id", "fold", "trial_id"]
    return frame.sort_values(order, kind="stable", key=lambda column: column.astype(str)).reset_index(drop=True)


def load_experiment(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Learning curves of every trial as one long DataFrame, one row per (trial, epoch).

    Columns: ``trial_id``, ``config_id``, ``fold``, ``config/<key>`` for every
    hyperparameter, ``epoch``, every reported metric, and the trial's ``stop_reason``
    and ``stop_epoch`` (empty where no reason was recorded). Rows are sorted by
    ``config_id``, ``fold``, ``trial_id`` and ``epoch``; an epoch reported again (a trial
    retried from a checkpoint) keeps its last report and drops the epochs reported after
    the earlier one, as the live stoppers do (:func:`as_reported`).

    Raises:
        ExperimentError: If ``path`` is not a readable Ray Tune experiment folder.
    """
    from ray.tune import ExperimentAnalysis

    folder = Path(path).expanduser().resolve()
    _check_folder(folder)
    try:
        analysis = ExperimentAnalysis(str(folder))
    except (OSError, ValueError, RuntimeError) as error:
        raise ExperimentError(f"cannot read {folder} as a Ray Tune experiment: {error}") from None
    frames = []
    for trial in analysis.trials:
        curve = analysis.trial_dataframes.get(trial.trial_id)
        if curve is None or curve.empty:
            continue
        if "epoch" not in curve:  # a trainable written without tune-stop: Ray's own count of reports
            curve["epoch"] = curve["training_iteration"] if "training_iteration" in curve else range(1, len(curve) + 1)
        curve = _without_broken_last_row(curve, trial.trial_id)
        curve = curve.drop(columns=[c for c in curve.columns if c in _RAY_COLUMNS or c.startswith("config/")])
        curve = curve.assign(trial_id=trial.trial_id)
        # Ray's own retries: read as the live stoppers saw them, and said where that cuts a curve.
        curve = _as_reported_and_said(curve, f"trial {trial.trial_id}", retried=True).drop(columns="trial_id")
        curve.insert(0, "trial_id", trial.trial_id)
        curve.insert(1, "config_id", trial.config.get("config_id", trial.trial_id))
        curve = curve.drop(columns="fold", errors="ignore")
        curve.insert(2, "fold", trial.config.get("fold", 0))
        for key, value in trial.config.items():
            # A list value (e.g. hidden_sizes) must not be spread over the rows.
            curve[f"config/{key}"] = pd.Series([value] * len(curve), index=curve.index, dtype=object)
        frames.append(curve)
    if not frames:
        raise ExperimentError(f"{folder} holds no trial results")
    curves = pd.concat(frames, ignore_index=True)
    reasons = load_stop_reasons(folder)[["trial_id", "stop_reason", "stop_epoch"]]
    if reasons.empty and (folder / METADATA_FILE).is_file():
        reasons = _reasons_from_ray(folder, analysis.trials, curves)
    _warn_where_reasons_disagree(curves, reasons)
    curves = curves.merge(reasons, on="trial_id", how="left")
    return curves.sort_values(["config_id", "fold", "trial_id", "epoch"], ignore_index=True)


def _reasons_from_ray(folder: Path, trials: list[Any], curves: pd.DataFrame) -> pd.DataFrame:
    """Stop reasons from what Ray recorded of each trial, where a tune-stop experiment lost ``stop_reasons.csv``.

    Ray keeps each trial's state: ``error`` for a failed trial; a trial that reached its
    epoch budget ``completed``; any other ended trial was stopped by a stopper or the
    scheduler, which Ray does not record (``stopped, reason not recorded``).
    """
    last = curves.groupby("trial_id")["epoch"].max()
    rows = []
    for trial in trials:
        if trial.trial_id not in last.index:
            continue
        epoch = int(last[trial.trial_id])
        budget = trial.config.get("max_epochs")
        if trial.status == "ERROR":
            reason = "error"
        elif isinstance(budget, int) and epoch >= budget:
            reason = "completed"
        elif trial.status == "TERMINATED":
            reason = "stopped, reason not recorded"
        else:
            reason = "unfinished"
        rows.append({"trial_id": trial.trial_id, "stop_reason": reason, "stop_epoch": epoch})
    warnings.warn(
        f"{folder / STOP_REASONS_FILE} is missing: the stop reasons are read from Ray's trial states "
        "(completed, error, or stopped with the reason not recorded).",
        stacklevel=3,
    )
    return pd.DataFrame(rows, columns=["trial_id", "stop_reason", "stop_epoch"])


def _without_broken_last_row(curve: pd.DataFrame, trial_id: str) -> pd.DataFrame:
    """The curve without a last row that was cut off mid-line (it lacks values every other row has)."""
    if len(curve) < 2:
        return curve
    numeric = curve.apply(pd.to_numeric, errors="coerce")
    always = numeric.iloc[:-1].notna().all()
    missing = [str(c) for c in numeric.columns[always & numeric.iloc[-1].isna()]]
    if not missing:
        return curve
    warnings.warn(
        f"trial {trial_id}: the last row of its results lacks {', '.join(missing[:3])}"
        f"{' and more' if len(missing) > 3 else ''} (a file cut off mid-row?): that row is left out.",
        stacklevel=3,
    )
    return curve.iloc[:-1]


def _warn_where_reasons_disagree(curves: pd.DataFrame, reasons: pd.DataFrame) -> None:
    """Warns about trials whose results end before the epoch ``stop_reasons.csv`` says they stopped at."""
    if reasons.empty:
        return
    last = curves.groupby("trial_id")["epoch"].max()
    stopped = pd.to_numeric(reasons.set_index("trial_id")["stop_epoch"], errors="coerce")
    short = [t for t in last.index if t in stopped.index and stopped[t] > last[t]]
    if short:
        trial = short[0]
        reason = reasons.set_index("trial_id").loc[trial, "stop_reason"]
        warnings.warn(
            ("1 trial's" if len(short) == 1 else f"{len(short)} trials'")
            + f" results end before the epoch stop_reasons.csv records (trial {trial}: results "
            f"end at epoch {last[trial]}, stopped at {int(stopped[trial])} as {reason}): "
            "their result files are damaged or incomplete, so they count as cut short.",
            stacklevel=3,
        )


#: Endings by which pandas reads a file as compressed: its bytes say nothing of its rows.
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst", ".tar")


def _cut_off_last_row(path: Path, n_columns: int) -> int:
    """The number of fields of the file's last row if it was cut off mid-row, else 0.

    Cut off means: the file does not end with a line break and its last line holds
    fewer fields than the header. A last line with a quote may continue a quoted field
    from the line before, and a compressed file's bytes are not its rows: neither is judged.
    """
    if path.suffix.lower() in _COMPRESSED:
        return 0
    with path.open("rb") as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        file.seek(max(0, size - 65_536))
        tail = file.read()
    if not tail or tail.endswith((b"\n", b"\r")):
        return 0
    last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
    if '"' in last or "\r" in last:
        return 0
    try:
        fields = len(next(csv.reader([last]), []))
    except csv.Error:
        return 0
    return fields if fields < n_columns else 0


def load_curves(source: str | os.PathLike[str] | pd.DataFrame, *, retried_trials: bool = False) -> pd.DataFrame:
    """Curves from an experiment folder, a CSV file of curves, or a DataFrame.

    A CSV or DataFrame needs at least ``trial_id`` and ``epoch`` (integers from 1; Ray's
    ``training_iteration`` stands in for a missing ``epoch``), one row per (trial, epoch)
    in report order; ``fold`` defaults to 0 and ``config_id`` to the trial.

    Args:
        source: An experiment folder, a CSV file or a DataFrame.
        retried_trials: The CSV or DataFrame holds trials retried from checkpoints: an
            epoch reported again replaces the earlier report and drops the epochs reported
            after it, as the live stoppers do (a warning says where that cuts a curve short).
            Without it a repeated epoch is an error. An experiment folder is read so always.

    Raises:
        ExperimentError: If the source is unreadable or lacks the required columns, or
            (``RepeatedEpochsError``) repeats an epoch without ``retried_trials``.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        where = "the DataFrame"
    else:
        path = Path(source).expanduser()
        try:
            logged = logged_runs(path)
        except ValueError as error:
            raise ExperimentError(str(error)) from None
        if logged is not None:
            frame, what = logged
            warnings.warn(f"{path}: read as {what}; epochs they count from 0 are read from 1", stacklevel=2)
            return load_curves(frame, retried_trials=retried_trials)
        if path.is_dir() or not path.exists():
            return load_experiment(path)
        try:
            frame = pd.read_csv(path)
            cut_off = _cut_off_last_row(path, len(frame.columns))
        except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            raise ExperimentError(f"cannot read curves from {path} ({type(error).__name__})") from None
        where = str(path)
        if cut_off and len(frame):
            last = frame.iloc[-1]
            warnings.warn(
                f"{path}: the last row (trial {last.get('trial_id', '?')}) is cut off mid-row ({cut_off} of "
                f"{len(frame.columns)} fields); it is left out, so that trial ends an epoch early, as if cut short.",
                stacklevel=2,
            )
            frame = frame.iloc[:-1]
    if "epoch" not in frame and "training_iteration" in frame:
        frame = frame.rename(columns={"training_iteration": "epoch"})
    missing = [c for c in ("trial_id", "epoch") if c not in frame]
    if missing:
        raise ExperimentError(f"{where} lacks the columns {', '.join(missing)}")
    if frame.empty:
        raise ExperimentError(f"{where} holds no rows of curves (only a header)")
    epochs = pd.to_numeric(frame["epoch"], errors="coerce")
    if not epochs.isna().any() and (epochs.groupby(frame["trial_id"].astype(str)).min() == 0).all():
        # Lightning's and Keras' loggers (and TensorBoard steps) count epochs from 0.
        warnings.warn(
            f"{where}: every trial's epochs start at 0; read as counted from 0 (epoch 0 is epoch 1)", stacklevel=2
        )
        epochs = epochs + 1
    if epochs.isna().any() or (epochs < 1).any() or (epochs % 1 != 0).any():
        raise ExperimentError(f"{where}: epoch must hold integers >= 1 (or >= 0 in every trial, counted from 0)")
    frame["epoch"] = epochs.astype(int)
    frame["trial_id"] = frame["trial_id"].astype(str)
    if "fold" not in frame:
        frame["fold"] = 0
    if "config_id" not in frame:
        frame["config_id"] = frame["trial_id"]
    return _as_reported_and_said(frame, where, retried_trials)
