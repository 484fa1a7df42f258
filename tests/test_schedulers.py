"""RecordingASHAScheduler: records its stops and never lets NaN into a rung."""

from __future__ import annotations

import math

from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler

from tune_stop.schedulers import RecordingASHAScheduler


def make_scheduler():
    scheduler = RecordingASHAScheduler(time_attr="epoch", max_t=9, grace_period=1, reduction_factor=3)
    scheduler.set_search_properties("val_loss", "min")
    trials = [Trial("PerceptronTrainable", trial_id=name, stub=True) for name in ("a", "b", "c", "d")]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    return scheduler, trials


def rung_values(scheduler):
    return [value for bracket in scheduler._brackets for _, rung in bracket._rungs for value in rung.values()]


def test_nan_never_enters_a_rung_and_never_stops_or_crashes():
    scheduler, trials = make_scheduler()
    assert scheduler.on_trial_result(None, trials[0], {"epoch": 1, "val_loss": math.nan}) == TrialScheduler.CONTINUE
    scheduler.on_trial_complete(None, trials[0], {"epoch": 1, "val_loss": math.inf})
    assert not any(math.isnan(v) or math.isinf(v) for v in rung_values(scheduler))
    assert "a" not in scheduler.stopped


def test_stops_are_recorded_with_their_epoch():
    scheduler, trials = make_scheduler()
    actions = [
        scheduler.on_trial_result(None, trial, {"epoch": 1, "val_loss": loss})
        for trial, loss in zip(trials, [0.1, 0.2, 0.3, 0.9], strict=True)
    ]
    stopped = {t.trial_id for t, a in zip(trials, actions, strict=True) if a == TrialScheduler.STOP}
    assert stopped, "ASHA stopped nobody at the first rung"
    assert set(scheduler.stopped) == stopped
    assert all(epoch == 1 for epoch in scheduler.stopped.values())
