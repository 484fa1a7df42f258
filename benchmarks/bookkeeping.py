"""Driver bookkeeping per finished trial at 100, 1,000 and 10,000 trials: flat, not growing with the search.

When a trial ends, tune-stop's driver classifies why it stopped and records the row in
``stop_reasons.csv`` (:class:`tune_stop.reasons.StopReasonsCallback`), and the stopper
drops the trial's histories. This benchmark drives that callback with Ray Tune ``Trial``
objects whose results end as a search's do (a mix of stop reasons) on a real local
storage folder, and times the driver's work per finished trial at each size. The
baseline, measured in the same run, is the earlier writer that rewrote the whole sorted
file every time a trial ended (driver work per trial growing with the trials finished).
Goal: the 10,000-trial figure within 1.2x of the 100-trial figure. Ray Tune's own
per-trial bookkeeping (scheduling actors, results, experiment snapshots) is not timed here.
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

from ray.train._internal.storage import StorageContext
from ray.tune.experiment import Trial

from tune_stop.reasons import STOP_REASONS_FILE, StopReasonsCallback
from tune_stop.stoppers import AnyStopper, NonFiniteStopper, PatienceStopper

SIZES = (100, 1_000, 10_000)


class RewritingCallback(StopReasonsCallback):
    """The earlier writer: the whole sorted file rewritten, atomically, whenever a trial ends."""

    def _write(self, trial: Trial) -> None:
        self._storage, self._pending = trial.storage, True
        self._write_whole()


def finished_trials(count: int, folder: Path) -> tuple[list[Trial], AnyStopper]:
    """``count`` trials of 3 epochs each, half stopped by patience, the rest completed."""
    storage = StorageContext(storage_path=str(folder), experiment_dir_name="bookkeeping")
    (folder / "bookkeeping").mkdir(parents=True, exist_ok=True)
    stopper = AnyStopper(NonFiniteStopper(["val_loss"]), PatienceStopper("val_loss", "min", patience=1))
    trials = []
    for index in range(count):
        trial = Trial(
            "bookkeeping",
            config={"config_id": index // 3, "fold": index % 3, "max_epochs": 3},
            storage=storage,
            stub=True,
        )
        losses = (0.5, 0.6, 0.7) if index % 2 else (0.5, 0.4, 0.3)
        for epoch, loss in enumerate(losses, start=1):
            result = {"epoch": epoch, "val_loss": loss, "config": trial.config}
            if stopper(trial.trial_id, result):
                break
        trial.update_last_result(result)
        trials.append(trial)
    return trials, stopper


def seconds_per_trial(callback_class: type[StopReasonsCallback], count: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        trials, stopper = finished_trials(count, Path(folder))
        callback = callback_class(stopper, metric="val_loss")
        started = time.perf_counter()
        for trial in trials:
            callback.on_trial_complete(0, trials, trial)
        elapsed = time.perf_counter() - started
        rows = list(csv.DictReader((Path(folder) / "bookkeeping" / STOP_REASONS_FILE).open()))
        assert len(rows) == count, (len(rows), count)
    return elapsed / count


def run(quick: bool = False) -> list[dict[str, object]]:
    """Seconds per finished trial at each size, ours against the earlier whole-file writer."""
    sizes = (100, 1_000) if quick else SIZES
    ours = {size: seconds_per_trial(StopReasonsCallback, size) for size in sizes}
    rewriting = {size: seconds_per_trial(RewritingCallback, size) for size in sizes}
    rows = []
    for size in sizes:
        baseline = rewriting.get(size, float("nan"))
        rows.append(
            {
                "benchmark": "driver bookkeeping per finished trial (stop reasons)",
                "size": f"{size} trials",
                "seconds": ours[size],
                "baseline_s": baseline,
                "ratio": ours[size] / ours[sizes[0]],
                "note": (
                    f"ratio: against {sizes[0]} trials (goal at 10,000: <= 1.2); the earlier whole-file writer "
                    + f"{1e3 * baseline:.2f} ms per trial here"
                ),
            }
        )
    return rows


if __name__ == "__main__":
    import pandas as pd

    with pd.option_context("display.width", 250, "display.max_colwidth", 200):
        print(pd.DataFrame(run()).to_string(index=False))
