"""Ray's ASHA and median stopping rule, each remembering which trials it stopped, never recording a non-finite
value and never cutting an audit trial."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, MedianStoppingRule, TrialScheduler

from tune_stop._compat import (
    asha_forget_trial,
    asha_metric,
    asha_restore_rung_state,
    asha_rung_state,
    asha_time_attr,
    median_metric,
    median_restore_state,
    median_spare,
    median_state,
)
from tune_stop.stoppers import is_audit

__all__ = [
    "SCHEDULER_SETTINGS",
    "RecordingASHAScheduler",
    "RecordingMedianStoppingRule",
    "RecordingScheduler",
    "build_scheduler",
    "full_entry",
    "stop_reason",
]


def _finite(result: dict[str, Any], metric: str | None) -> bool:
    value = result.get(metric) if metric else None
    return not isinstance(value, (int, float)) or math.isfinite(value)


class RecordingASHAScheduler(AsyncHyperBandScheduler):
    """Ray's ASHA, plus ``stopped``: the epoch at which it stopped each trial.

    A NaN or inf result is never put into ASHA's rungs: Ray's ASHA cannot stop a NaN
    trial (every comparison with NaN is false, so it would run to ``max_t``) and a NaN
    in a rung corrupts its cutoff. tune-stop's non-finite guard stops such trials
    before the scheduler is asked.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stopped: dict[str, int] = {}

    @property
    def metric(self) -> str | None:
        return asha_metric(self)

    def rung_state(self) -> dict[str, Any]:
        """The rung records and trial assignments, which ``Tuner.restore`` would lose (ray#30838)."""
        return {**asha_rung_state(self), "stopped": self.stopped}

    def restore_rung_state(self, state: dict[str, Any]) -> None:
        """Puts back what :meth:`rung_state` saved, so a resumed search decides as before."""
        asha_restore_rung_state(self, state)
        self.stopped = dict(state["stopped"])

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        if not _finite(result, self.metric):
            return TrialScheduler.CONTINUE
        action = super().on_trial_result(tune_controller, trial, result)
        if action == TrialScheduler.STOP and is_audit(getattr(trial, "config", None)):
            return TrialScheduler.CONTINUE  # an audit trial trains to its budget; its results still count in rungs
        if action == TrialScheduler.STOP:
            self.stopped[trial.trial_id] = int(result.get(asha_time_attr(self), 0))
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        if not _finite(result, self.metric):
            asha_forget_trial(self, trial.trial_id)
            return
        super().on_trial_complete(tune_controller, trial, result)


@dataclass(frozen=True)
class _TrialKey:
    """A trial as the median rule keys its results: by id, so the state survives ``Tuner.restore``."""

    trial_id: str


class _NothingWaiting:
    """The controller the median rule is shown: no trial waits, so it never pauses one to yield."""

    def get_live_trials(self) -> list[Trial]:
        return []


class RecordingMedianStoppingRule(MedianStoppingRule):
    """Ray's median stopping rule on ``epoch``, plus ``stopped``: the epoch at which it stopped each trial.

    A trial is stopped at an epoch ``>= grace_period`` when its best result so far is worse
    than the median of the running means (over epochs ``grace_period`` to now) of the other
    trials that reached that epoch, given at least ``min_samples_required`` of them. Two
    departures from Ray's class, both so that a search runs as its replay
    (:mod:`analysis._median`) judged it: with too few samples a trial always continues
    (Ray's class pauses it to yield to waiting trials, which reorders the search), and a
    NaN or inf result is never recorded (tune-stop's non-finite guard stops such trials).
    An audit trial is never stopped; its results still count for the others.
    """

    def __init__(
        self,
        *,
        metric: str | None = None,
        mode: str | None = None,
        grace_period: int = 1,
        min_samples_required: int = 3,
    ) -> None:
        super().__init__(
            time_attr="epoch",
            metric=metric,
            mode=mode,
            grace_period=grace_period,
            min_samples_required=min_samples_required,
        )
        self.grace_period = grace_period
        self.stopped: dict[str, int] = {}
        self._keys: dict[str, _TrialKey] = {}

    @property
    def metric(self) -> str | None:
        return median_metric(self)

    def _key(self, trial: Trial) -> Any:
        return self._keys.setdefault(trial.trial_id, _TrialKey(trial.trial_id))

    def rung_state(self) -> dict[str, Any]:
        """The results it compares trials with, which ``Tuner.restore`` would lose (as ASHA's rungs)."""
        return {**median_state(self), "stopped": self.stopped}

    def restore_rung_state(self, state: dict[str, Any]) -> None:
        """Puts back what :meth:`rung_state` saved, so a resumed search decides as before."""
        median_restore_state(self, state)
        self.stopped = dict(state["stopped"])

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        if not _finite(result, self.metric):
            return TrialScheduler.CONTINUE
        key = self._key(trial)
        action = super().on_trial_result(_NothingWaiting(), key, self._kept(result))  # type: ignore[arg-type]
        if action == TrialScheduler.STOP and is_audit(getattr(trial, "config", None)):
            median_spare(self, key)  # it trains on, and its results still count for the others
            return TrialScheduler.CONTINUE
        if action == TrialScheduler.STOP:
            self.stopped[trial.trial_id] = int(result.get("epoch", 0))
        return action

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        if _finite(result, self.metric):
            super().on_trial_complete(tune_controller, self._key(trial), self._kept(result))

    def _kept(self, result: dict[str, Any]) -> dict[str, Any]:
        """Only what the rule reads (it holds every result of every trial, and saves them for a resume)."""
        return {name: result[name] for name in ("epoch", self.metric) if name and name in result}


#: The schedulers that record their stops (``stop_reasons.csv``) and keep their state across a resume.
RecordingScheduler = RecordingASHAScheduler | RecordingMedianStoppingRule


def stop_reason(scheduler: RecordingScheduler) -> str:
    """How ``stop_reasons.csv`` says the scheduler stopped a trial."""
    if isinstance(scheduler, RecordingMedianStoppingRule):
        return "stopped by the median stopping rule"
    return "stopped by ASHA at a rung"


#: Each scheduler's settings and their defaults (a space's ``scheduler:`` entry may give any of them).
SCHEDULER_SETTINGS: dict[str, dict[str, Any]] = {
    "asha": {"grace_period": 1, "reduction_factor": 3.0, "max_t": None},
    "median": {"grace_period": 1, "min_samples_required": 3},
    "fifo": {},
}


def full_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``entry`` with every setting it leaves out at its default (``max_t`` stays out: the epoch budget).

    Raises:
        ValueError: For an unknown scheduler or setting.
    """
    name = entry.get("name")
    if name not in SCHEDULER_SETTINGS:
        raise ValueError(f"the scheduler must be asha, median or fifo, but got {dict(entry)}")
    unknown = sorted(set(entry) - {"name", *SCHEDULER_SETTINGS[name]})
    if unknown:
        raise ValueError(
            f"{name} takes {', '.join(SCHEDULER_SETTINGS[name]) or 'no settings'}, not {', '.join(unknown)}"
        )
    defaults = {key: value for key, value in SCHEDULER_SETTINGS[name].items() if value is not None}
    return {"name": name, **defaults, **{key: value for key, value in entry.items() if key != "name"}}


def build_scheduler(entry: Mapping[str, Any], max_epochs: int) -> TrialScheduler:
    """The scheduler of a ``scheduler:`` entry (a space's or a ``stoppers.yaml``'s), on ``epoch``.

    ``{"name": "asha", "grace_period", "reduction_factor", "max_t"}`` (``max_t`` defaults to
    ``max_epochs``), ``{"name": "median", "grace_period", "min_samples_required"}`` or
    ``{"name": "fifo"}``; the ASHA and the median rule record the trials they stop.

    Raises:
        ValueError: For another name, an unknown setting, or a value the scheduler cannot take.
    """
    entry = full_entry(entry)
    for key, value in entry.items():
        least = 1.0 + 1e-9 if key == "reduction_factor" else 1
        if key != "name" and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < least):
            raise ValueError(
                f"{entry['name']}'s {key} must be a number {'> 1' if least != 1 else '>= 1'}, got {value!r}"
            )
    max_t = int(entry.get("max_t", max_epochs))
    if entry["name"] != "fifo" and int(entry["grace_period"]) > max_t:
        raise ValueError(f"{entry['name']}'s grace_period {entry['grace_period']} exceeds the {max_t} epochs")
    if entry["name"] == "fifo":
        return FIFOScheduler()
    if entry["name"] == "median":
        return RecordingMedianStoppingRule(
            grace_period=int(entry["grace_period"]), min_samples_required=int(entry["min_samples_required"])
        )
    return RecordingASHAScheduler(
        time_attr="epoch",
        max_t=max_t,
        grace_period=int(entry["grace_period"]),
        reduction_factor=float(entry["reduction_factor"]),
    )
