"""A compact live progress line for a search, instead of Ray Tune's status tables.

One line: trials done, running and waiting, how the finished ones stopped, the best value
so far (the same definition as the summary's: the best epoch of any trial by the search's
metric and mode), the elapsed time and a rough estimate of what remains. On a terminal it
is rewritten in place; in a log it is printed at most every ``log_interval_s`` seconds.
"""

from __future__ import annotations

import math
import numbers
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

from ray.tune import Callback

from tune_stop.stoppers import mode_sign

__all__ = ["SearchProgress"]


class SearchProgress(Callback):
    """Prints the search's progress as one line (a Ray Tune callback on the driver).

    Args:
        metric: The search's metric.
        mode: ``"min"`` or ``"max"``.
        num_trials: Trials in the search.
        stop_reasons: Returns the count of each stop reason of the trials ended so far.
        stream: Where to print (standard error by default).
        log_interval_s: Least seconds between two lines when ``stream`` is not a terminal.
    """

    def __init__(
        self,
        metric: str,
        mode: str,
        num_trials: int,
        stop_reasons: Callable[[], Counter[str]],
        stream: TextIO | None = None,
        log_interval_s: float = 10.0,
    ) -> None:
        self.metric = metric
        self.sign = mode_sign(mode)
        self.num_trials = num_trials
        self.stop_reasons = stop_reasons
        self.stream = stream if stream is not None else sys.stderr
        self.log_interval_s = log_interval_s
        self.best = self.sign * math.inf  # the worst value there is, so any finite one improves on it
        self.started_at = time.monotonic()
        self.statuses: dict[str, str] = {}
        self.done_at_start: int | None = None  # trials already done when this process took over
        self.last_printed = -math.inf
        self.width = 0

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its callbacks with the experiment; a resumed search starts its own clock
        # and stream, and learns the trials' states from Tune again.
        return {**self.__dict__, "stream": None, "statuses": {}, "done_at_start": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.stream = sys.stderr
        self.started_at, self.last_printed, self.width = time.monotonic(), -math.inf, 0

    @property
    def interactive(self) -> bool:
        isatty = getattr(self.stream, "isatty", None)
        return bool(isatty()) if callable(isatty) else False

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._update(trials)
        self.statuses[trial.trial_id] = "RUNNING"
        self._show()

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        self._update(trials)
        reported = result.get(self.metric)
        value = float(reported) if isinstance(reported, numbers.Real) else math.nan
        if math.isfinite(value) and self.sign * value < self.sign * self.best:
            self.best = value
        self._show()

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._end(trials, trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._end(trials, trial)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self._update(trials)
        self._show(final=True)

    def _update(self, trials: list[Any]) -> None:
        """Every trial's state as Tune sees it (so a resumed search counts the trials finished before)."""
        for each in trials:
            status = getattr(each, "status", None)
            if isinstance(status, str):
                self.statuses[each.trial_id] = status

    def _end(self, trials: list[Any], trial: Any) -> None:
        self._update(trials)
        self.statuses[trial.trial_id] = "TERMINATED"
        self._show(force=True)

    def line(self) -> str:
        """The progress line as it stands."""
        done = sum(status in ("TERMINATED", "ERROR") for status in self.statuses.values())
        running = sum(status == "RUNNING" for status in self.statuses.values())
        waiting = max(self.num_trials - done - running, 0)
        if self.done_at_start is None:
            self.done_at_start = done
        elapsed = time.monotonic() - self.started_at
        reasons = ", ".join(f"{reason} {count}" for reason, count in self.stop_reasons().most_common())
        best = f"{self.best:.4g}" if math.isfinite(self.best) else "-"
        text = (
            f"trials {done}/{self.num_trials} done, {running} running, {waiting} waiting"
            f"{f' | stopped: {reasons}' if reasons else ''} | best {self.metric} {best} | {elapsed:.0f} s"
        )
        finished_here = done - self.done_at_start
        if finished_here > 0 and done < self.num_trials:
            text += f", about {elapsed / finished_here * (self.num_trials - done):.0f} s left"
        return text

    def _show(self, force: bool = False, final: bool = False) -> None:
        now = time.monotonic()
        if self.interactive:
            if not (force or final or now - self.last_printed >= 0.5):
                return
            text = self.line()
            self.stream.write("\r" + text.ljust(self.width) + ("\n" if final else ""))
            self.width = len(text)
        else:
            if not (final or now - self.last_printed >= self.log_interval_s):
                return
            self.stream.write(self.line() + "\n")
        self.stream.flush()
        self.last_printed = now
