"""ASHA that remembers which trials it stopped, never records a non-finite value and never cuts an audit trial."""

from __future__ import annotations

import math
from typing import Any

from ray.tune.experiment import Trial
from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

from tune_stop._compat import (
    asha_forget_trial,
    asha_metric,
    asha_restore_rung_state,
    asha_rung_state,
    asha_time_attr,
)
from tune_stop.stoppers import is_audit

__all__ = ["RecordingASHAScheduler"]


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
