"""stop_reasons.csv: one row per trial, appended as trials end, rewritten whole after a retry or a restore."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.bookkeeping import finished_trials
from tune_stop.reasons import STOP_REASONS_FILE, StopReasonsCallback


def rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "bookkeeping" / STOP_REASONS_FILE).open(newline="") as stream:
        return list(csv.DictReader(stream))


def test_rows_are_appended_as_trials_end_and_a_retried_trial_keeps_one_row(tmp_path):
    trials, stopper = finished_trials(4, tmp_path)
    callback = StopReasonsCallback(stopper, metric="val_loss")
    texts = []
    for trial in trials[:3]:
        callback.on_trial_complete(0, trials, trial)
        texts.append((tmp_path / "bookkeeping" / STOP_REASONS_FILE).read_text())
    # Each end appends: what was written stays, byte for byte, at the head of the file.
    assert texts[1].startswith(texts[0]) and texts[2].startswith(texts[1])
    assert [row["trial_id"] for row in rows(tmp_path)] == [t.trial_id for t in trials[:3]]
    assert [row["stop_reason"] for row in rows(tmp_path)] == ["completed", "patience", "completed"]
    # A trial that ends twice (an error, then a retry that completes) has one row: the last.
    callback.on_trial_complete(0, trials, trials[3])
    callback.on_trial_complete(0, trials, trials[3])
    assert [row["stop_reason"] for row in rows(tmp_path) if row["trial_id"] == trials[3].trial_id] == ["patience"]
    assert len(rows(tmp_path)) == 4


def test_a_restored_search_rewrites_the_rows_of_its_snapshot_before_appending(tmp_path):
    trials, stopper = finished_trials(3, tmp_path)
    callback = StopReasonsCallback(stopper, metric="val_loss")
    callback.on_trial_complete(0, trials, trials[0])
    snapshot = callback.get_state()
    callback.on_trial_complete(0, trials, trials[1])  # after the snapshot: this trial runs again on resume
    restored = StopReasonsCallback(stopper, metric="val_loss")
    restored.set_state(snapshot)
    restored.on_trial_complete(0, trials, trials[2])
    assert [row["trial_id"] for row in rows(tmp_path)] == [trials[0].trial_id, trials[2].trial_id]
    restored.on_trial_complete(0, trials, trials[1])
    assert len(rows(tmp_path)) == 3 and len({row["trial_id"] for row in rows(tmp_path)}) == 3
