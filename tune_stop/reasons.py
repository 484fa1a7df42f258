"""Why each trial stopped: a Tune callback that writes ``stop_reasons.csv``.

Each trial's row is appended to the file as the trial ends, so the driver's work per
trial stays flat however many trials the search has, and the file holds every finished
trial's row if the driver is killed. A storage path without appends (a cloud bucket)
gets the whole file at most every :data:`REMOTE_WRITE_S` seconds and when the search
ends. A trial retried after an error appends a second row; the last one counts.

Reasons: the policy name of the stopper that fired (``threshold``, ``patience``,
``gl``, ``pq``, ``up``, ``non_finite``, ``max_epochs``), ``completed`` when the trial
ran to its last epoch, ``scheduler`` when ASHA stopped it, ``error`` when it failed,
and ``terminated`` when Tune ended it for any other reason (e.g. a time budget).
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

from ray.tune import Callback, Stopper
from ray.tune.experiment import Trial

from tune_stop.schedulers import RecordingScheduler, stop_reason
from tune_stop.stoppers import AuditExempt, is_audit, last_stop_record
from tune_stop.stoppers._base import result_epoch

__all__ = [
    "OPTIONAL_STOP_REASON_COLUMNS",
    "REMOTE_WRITE_S",
    "STOP_REASONS_FILE",
    "STOP_REASON_COLUMNS",
    "StopReasonsCallback",
]

STOP_REASONS_FILE = "stop_reasons.csv"

#: Seconds between whole-file writes to a storage path that cannot append (a cloud bucket).
REMOTE_WRITE_S = 30.0
STOP_REASON_COLUMNS = (
    "trial_id",
    "config_id",
    "fold",
    "stop_reason",
    "stop_epoch",
    "metric",
    "value",
    "detail",
    "audit_stop_epoch",
)

#: Columns that older experiments' files may lack (read as empty).
OPTIONAL_STOP_REASON_COLUMNS = ("audit_stop_epoch",)


def _last_error_line(trial: Trial) -> str:
    """The last line of the trial's error trace (the exception and its message)."""
    # Read the driver's local copy: the copy in storage is synced only later.
    path = trial.error_file
    try:
        lines = Path(path).read_text().strip().splitlines() if path else []
    except OSError:
        lines = []
    return lines[-1][:300] if lines else "error"


class StopReasonsCallback(Callback):
    """Records each trial's stop reason into the experiment folder as it ends.

    Args:
        stopper: The experiment's stopper; if it has ``stop_record(trial_id)`` (as
            :class:`~tune_stop.stoppers.AnyStopper` and every policy do), its record
            names the policy, epoch and triggering value.
        scheduler: The scheduler, if it records its own stop decisions.
        max_epochs_key: The config key of each trial's epoch budget.
        metric: The search's metric, whose final value a ``completed`` row records.
    """

    def __init__(
        self,
        stopper: Stopper | None,
        scheduler: RecordingScheduler | None = None,
        max_epochs_key: str = "max_epochs",
        metric: str | None = None,
    ) -> None:
        self.stopper = stopper
        self.scheduler = scheduler
        self.max_epochs_key = max_epochs_key
        self.metric = metric
        self._rows: dict[str, dict[str, Any]] = {}
        self._storage: Any = None
        self._in_file: set[str] = set()  # trials whose row this process has put in the file
        self._rewrite = False  # the next write rewrites the file from the rows (after a restore)
        self._whole_written = -math.inf
        self._pending = False

    def reason_counts(self) -> Counter[str]:
        """How many of the trials ended so far stopped for each reason."""
        return Counter(str(row["stop_reason"]) for row in self._rows.values())

    def _row(self, trial: Trial, reason: str, epoch: int, metric: str, value: float, detail: str) -> dict[str, Any]:
        config = trial.config
        audit_epoch = self._audit_stop_epoch(trial) if is_audit(config) else None
        if audit_epoch is not None:
            detail += f" (audit trial: its policy would have stopped it at epoch {audit_epoch})"
        return {
            "trial_id": trial.trial_id,
            "config_id": config.get("config_id", ""),
            "fold": config.get("fold", ""),
            "stop_reason": reason,
            "stop_epoch": epoch,
            "metric": metric,
            "value": "" if isinstance(value, float) and math.isnan(value) and not metric else value,
            "detail": detail,
            "audit_stop_epoch": "" if audit_epoch is None else audit_epoch,
        }

    def _audit_stop_epoch(self, trial: Trial) -> int | None:
        """For an audit trial, the first epoch at which a policy it was exempted from fired, or None."""
        children = getattr(self.stopper, "stoppers", (self.stopper,))
        epochs = [
            record.epoch
            for child in children
            if isinstance(child, AuditExempt) and (record := child.stop_record(trial.trial_id)) is not None
        ]
        return min(epochs) if epochs else None

    def _classify(self, trial: Trial) -> dict[str, Any]:
        result = trial.last_result or {}
        epoch = result_epoch(result, fallback=0)
        stop_record = getattr(self.stopper, "stop_record", None)
        record = stop_record(trial.trial_id) if callable(stop_record) else None
        # After Tuner.restore, Tune calls its own unpickled copy of the stopper, not ours.
        record = record or last_stop_record(trial.trial_id)
        if record is not None and is_audit(trial.config) and record.policy != "non_finite":
            record = None  # the policy never stops an audit trial: this is where it would have (see _row)
        if record is not None:
            return self._row(trial, record.policy, record.epoch, record.metric, record.value, record.detail)
        max_epochs = trial.config.get(self.max_epochs_key)
        if max_epochs is not None and epoch >= int(max_epochs):
            metric = self.metric if self.metric is not None and self.metric in result else ""
            value = float(result[metric]) if metric else math.nan
            return self._row(trial, "completed", epoch, metric, value, f"ran all {max_epochs} epochs")
        if self.scheduler is not None and trial.trial_id in self.scheduler.stopped:
            metric = self.scheduler.metric or ""
            value = float(result.get(metric, math.nan)) if metric else math.nan
            return self._row(trial, "scheduler", epoch, metric, value, stop_reason(self.scheduler))
        return self._row(trial, "terminated", epoch, "", math.nan, "ended by Tune")

    def _write(self, trial: Trial) -> None:
        """Appends the trial's row (a local storage path) or, at most every few seconds, writes the whole file."""
        storage = trial.storage
        if storage is None:
            return
        self._storage = storage
        filesystem, folder = storage.storage_filesystem, storage.experiment_fs_path
        if filesystem.type_name == "local" and (self._rewrite or trial.trial_id in self._in_file):
            # A restored search, or a trial that ended before (an error, then a retry): one row per trial.
            self._pending = True
            self._write_whole()
            self._rewrite = False
        elif filesystem.type_name == "local":
            # Straight to the storage path (not the driver's staging folder, synced only now and then).
            path = Path(folder) / STOP_REASONS_FILE
            new = not path.is_file() or path.stat().st_size == 0
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=STOP_REASON_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerow(self._rows[trial.trial_id])
            with open(path, "a", newline="") as stream:
                stream.write(buffer.getvalue())  # one write: a killed driver leaves whole rows
        if filesystem.type_name == "local":
            self._in_file.add(trial.trial_id)
            return
        self._pending = True
        if time.monotonic() - self._whole_written >= REMOTE_WRITE_S:
            self._write_whole()

    def _write_whole(self) -> None:
        """Writes every row to the storage path at once, atomically (a temporary file moved into place)."""
        storage = self._storage
        if storage is None or not self._pending:
            return
        filesystem, folder = storage.storage_filesystem, storage.experiment_fs_path
        rows = sorted(self._rows.values(), key=lambda row: (str(row["config_id"]), str(row["fold"]), row["trial_id"]))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=STOP_REASON_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
        temporary = f"{folder}/.{STOP_REASONS_FILE}.tmp"
        with filesystem.open_output_stream(temporary) as stream:
            stream.write(buffer.getvalue().encode())
        filesystem.move(temporary, f"{folder}/{STOP_REASONS_FILE}")
        self._whole_written, self._pending = time.monotonic(), False
        self._in_file = set(self._rows)

    def on_experiment_end(self, trials: list[Trial], **info: Any) -> None:
        self._write_whole()

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._rows[trial.trial_id] = self._classify(trial)
        self._write(trial)
        # A finished trial never reports again: its histories are no longer needed.
        forget = getattr(self.stopper, "forget", None)
        if callable(forget):
            forget(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        result = trial.last_result or {}
        epoch = result_epoch(result, fallback=0)
        self._rows[trial.trial_id] = self._row(trial, "error", epoch, "", math.nan, _last_error_line(trial))
        self._write(trial)

    def get_state(self) -> dict[str, Any] | None:
        # Tune saves this with every experiment snapshot and gives it back on
        # Tuner.restore. Tune restores the stopper (with its histories) itself, but not
        # ASHA's rungs (ray#30838): they travel here, so a resumed search makes the same
        # stop decisions as an uninterrupted one.
        return {
            "rows": dict(self._rows),
            "scheduler": self.scheduler.rung_state() if self.scheduler is not None else None,
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._rows = dict(state.get("rows", {}))
        # Rows appended after the restored snapshot belong to trials that run again: rewrite the file first.
        self._rewrite = True
        if state.get("scheduler") is not None and self.scheduler is not None:
            self.scheduler.restore_rung_state(state["scheduler"])
