"""The one-line progress display: what it counts, and how it prints to a log and to a terminal."""

from __future__ import annotations

import io
from collections import Counter
from types import SimpleNamespace

from tune_stop.progress import SearchProgress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def trial(trial_id: str) -> SimpleNamespace:
    return SimpleNamespace(trial_id=trial_id)


def test_the_line_counts_trials_reasons_and_the_best_value_by_the_metrics_direction():
    reasons: Counter[str] = Counter()
    stream = io.StringIO()
    progress = SearchProgress("val_accuracy", "max", 3, lambda: reasons, stream=stream, log_interval_s=0.0)
    progress.on_trial_start(0, [], trial("a"))
    progress.on_trial_start(0, [], trial("b"))
    for value in (0.5, 0.9, float("nan"), 0.7):
        progress.on_trial_result(0, [], trial("a"), {"val_accuracy": value})
    reasons["threshold"] += 1
    progress.on_trial_complete(0, [], trial("a"))
    line = progress.line()
    assert line.startswith("trials 1/3 done, 1 running, 1 waiting | stopped: threshold 1 | best val_accuracy 0.9 |")
    assert "s left" in line
    progress.on_experiment_end([])
    assert stream.getvalue().endswith(progress.line() + "\n") and "\r" not in stream.getvalue()


def test_a_log_gets_a_line_at_most_every_interval_and_a_terminal_one_line_rewritten():
    log = io.StringIO()
    quiet = SearchProgress("val_loss", "min", 2, Counter, stream=log, log_interval_s=3600.0)
    for _ in range(5):
        quiet.on_trial_result(0, [], trial("a"), {"val_loss": 1.0})
    assert log.getvalue().count("\n") == 1  # the first, then nothing within the interval
    terminal = Terminal()
    live = SearchProgress("val_loss", "min", 2, Counter, stream=terminal)
    live.on_trial_start(0, [], trial("a"))
    live.on_trial_complete(0, [], trial("a"))
    live.on_experiment_end([])
    text = terminal.getvalue()
    assert text.count("\r") == 3 and text.count("\n") == 1 and text.endswith("\n")


def test_it_survives_pickling_with_the_experiment_and_starts_afresh_when_resumed():
    import pickle
    import sys

    import cloudpickle

    progress = SearchProgress("val_loss", "min", 2, Counter, stream=io.StringIO())
    progress.on_trial_start(0, [], trial("a"))
    copy = pickle.loads(cloudpickle.dumps(progress))
    assert copy.stream is sys.stderr and copy.statuses == {} and copy.num_trials == 2
    finished = SimpleNamespace(trial_id="a", status="TERMINATED")
    copy.on_trial_start(0, [finished], trial("b"))
    assert copy.line().startswith("trials 1/2 done, 1 running, 0 waiting")
