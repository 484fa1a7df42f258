"""ASHA replayed on recorded curves decides as a real Ray Tune ASHA run on the same curves."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from ray import tune
from ray.tune.schedulers import TrialScheduler

from analysis._asha import AshaSpec, arrivals, simulate_asha, sorted_cutoff
from analysis._policies import Policy
from analysis._replay import CurveSet, stop_epochs
from tune_stop.schedulers import RecordingASHAScheduler

EPOCHS = 20


def recorded_curves(num_curves: int = 14, seed: int = 0) -> np.ndarray:
    """Noisy decreasing losses at different speeds; one has a NaN at a rung (epoch 3), one diverges."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, EPOCHS + 1)
    curves = rng.uniform(0.2, 1.0, (num_curves, 1)) / t ** rng.uniform(0.1, 1.0, (num_curves, 1)) + rng.normal(
        0, 0.02, (num_curves, EPOCHS)
    )
    curves[3, 2] = np.nan
    curves[5, 8:] = np.inf
    return curves


class ReplayedCurve(tune.Trainable):
    """Reports one recorded curve, one epoch per step."""

    def setup(self, config, curves=None):
        self.curves = curves if curves is not None else self.curves
        self.values, self.epoch = self.curves[config["index"]], 0

    def step(self):
        self.epoch += 1
        value = float(self.values[self.epoch - 1])
        return {"epoch": self.epoch, "val_loss": value, "done": self.epoch >= len(self.values)}

    def reset_config(self, new_config):
        self.values, self.epoch = self.curves[new_config["index"]], 0
        return True

    def save_checkpoint(self, checkpoint_dir):
        return {"epoch": self.epoch}

    def load_checkpoint(self, checkpoint):
        self.epoch = checkpoint["epoch"]


def real_run(curves: np.ndarray, spec: AshaSpec, stopper, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    """End epochs (0: whole curve) and ASHA's stops of a real Ray Tune run, trials in order on one worker."""
    scheduler = spec.scheduler(EPOCHS)
    assert isinstance(scheduler, RecordingASHAScheduler)
    tuner = tune.Tuner(
        tune.with_parameters(ReplayedCurve, curves=curves),
        param_space={"index": tune.grid_search(list(range(len(curves))))},  # trials start in this order
        tune_config=tune.TuneConfig(scheduler=scheduler, max_concurrent_trials=1, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(tmp_path), stop=stopper, verbose=0),
    )
    results = tuner.fit()
    ends = np.zeros(len(curves), dtype=np.int64)
    by_asha = np.zeros(len(curves), dtype=bool)
    for result in results:
        index, epoch = result.config["index"], int(result.metrics["epoch"])
        ends[index] = 0 if epoch >= EPOCHS and result.metrics["trial_id"] not in scheduler.stopped else epoch
        by_asha[index] = result.metrics["trial_id"] in scheduler.stopped
    return ends, by_asha


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("spec", "policy"),
    [
        (AshaSpec("val_loss", "min", grace_period=1, reduction_factor=3), None),
        (
            AshaSpec("val_loss", "min", grace_period=2, reduction_factor=2),
            Policy("threshold", "val_loss", "min", (0.12,)),
        ),
        (
            AshaSpec("val_loss", "min", grace_period=1, reduction_factor=3),
            Policy("patience", "val_loss", "min", (2.0,)),
        ),
    ],
    ids=["asha-alone", "asha-and-threshold", "asha-and-patience"],
)
def test_replayed_asha_makes_the_decisions_of_a_real_ray_tune_run(ray_session, tmp_path, spec, policy):
    curves = recorded_curves()
    frame_curves = CurveSet.from_frame(
        pd.DataFrame(
            {
                "trial_id": np.repeat([f"c{i:02d}" for i in range(len(curves))], EPOCHS),
                "epoch": np.tile(np.arange(1, EPOCHS + 1), len(curves)),
                "val_loss": curves.ravel(),
            }
        )
    )
    policy_stops = stop_epochs(policy, frame_curves) if policy else np.zeros((len(curves), 1), dtype=np.int64)
    stops, by_asha = simulate_asha(spec, curves, np.full(len(curves), EPOCHS), EPOCHS, policy_stops)
    real_ends, real_by_asha = real_run(curves, spec, policy.stopper(policy.candidates[0]) if policy else None, tmp_path)
    assert stops[:, 0].tolist() == real_ends.tolist()
    assert by_asha[:, 0].tolist() == real_by_asha.tolist()
    assert by_asha.any()  # ASHA cut some trials: the comparison says something


def asked_at_every_result(scheduler, metric: str, values, lengths, policy, order, workers: int):
    """The reference replay: a scheduler asked at every result, as Tune asks it (stopper first).

    Returns ``(stops, by_scheduler)`` as the replays return them for one candidate.
    """
    trials: list[Any] = [SimpleNamespace(trial_id=f"t{i}", config={}) for i in range(len(values))]
    for trial in trials:
        scheduler.on_trial_add(None, trial)
    stops = np.zeros(len(values), dtype=np.int64)
    by_scheduler = np.zeros(len(values), dtype=bool)
    events = arrivals(lengths, order, workers, None)
    ended = None
    while True:
        try:
            index, epoch = events.send(ended)
        except StopIteration:
            break
        result = {"epoch": epoch, metric: float(values[index, epoch - 1])}
        last = epoch >= lengths[index]
        if policy[index] == epoch or last:
            scheduler.on_trial_complete(None, trials[index], result)
            stops[index] = epoch if not last or policy[index] else 0
            ended = True
        elif scheduler.on_trial_result(None, trials[index], result) == TrialScheduler.STOP:
            scheduler.on_trial_complete(None, trials[index], result)
            stops[index], by_scheduler[index], ended = epoch, True, True
        else:
            ended = False
    return stops, by_scheduler


@pytest.mark.e2e  # slower: a thousand random curve sets through the replay and Ray's class; the whole suite runs it
def test_the_replay_asks_asha_only_where_it_can_stop_and_decides_as_when_asked_at_every_result():
    rng = np.random.default_rng(3)
    cut = 0
    for case in range(1000):
        n, epochs = int(rng.integers(2, 14)), int(rng.integers(2, 12))
        values = rng.normal(0, 1, (n, epochs)).cumsum(axis=1)
        if case % 4 == 0:
            values = rng.integers(0, 3, (n, epochs)).astype(float)
        values[rng.random((n, epochs)) < 0.05] = np.nan
        lengths = rng.integers(1, epochs + 1, n)
        for i, length in enumerate(lengths):
            values[i, length:] = np.nan
        spec = AshaSpec(
            "m",
            str(rng.choice(["min", "max"])),
            grace_period=int(rng.integers(1, 4)),
            reduction_factor=float(rng.choice([2, 2.5, 3, 4])),
            max_t=int(rng.integers(1, epochs + 1)) if case % 5 == 0 else None,
            workers=int(rng.integers(1, 4)),
        )
        policy = np.where(rng.random(n) < 0.3, rng.integers(1, epochs + 1, n), 0)
        order = rng.permutation(n)
        state = np.random.get_state()
        expected, _ = asked_at_every_result(spec.scheduler(epochs), "m", values, lengths, policy, order, spec.workers)
        np.random.set_state(state)
        stops, by_asha = simulate_asha(spec, values, lengths, epochs, policy[:, None], order=order)
        assert stops[:, 0].tolist() == expected.tolist(), (case, spec)
        cut += int(by_asha.sum())
    assert cut > 300  # ASHA cut trials: the comparison says something


def test_the_replays_cutoff_is_rays_to_the_last_bit():
    """``sorted_cutoff`` against Ray's ``_Bracket.cutoff`` (NumPy's nanpercentile) on random rung records."""
    from ray.tune.schedulers.async_hyperband import _Bracket

    rng = np.random.default_rng(7)
    for case in range(2000):
        reduction_factor = float(rng.choice([1.5, 2, 2.5, 3, 4, 7, 8]))
        n = int(rng.integers(1, 120))
        values = rng.normal(0, 10 ** rng.uniform(-8, 3), n)
        if case % 3 == 0:
            values = rng.integers(-3, 3, n).astype(float)  # ties
        if case % 50 == 0:
            values[rng.integers(n)] = float(rng.choice([np.nan, np.inf, -np.inf]))
        recorded = {f"t{i}": float(value) for i, value in enumerate(values)}
        with np.errstate(invalid="ignore"):  # NumPy's lerp between an inf and a finite record
            ours = sorted_cutoff(recorded, reduction_factor)
            rays = _Bracket(1, 100, reduction_factor, 0).cutoff(recorded)
        assert ours == rays or (np.isnan(ours) and np.isnan(rays)), (case, reduction_factor, n)
    assert sorted_cutoff({}, 3.0) is None


@pytest.mark.e2e  # slower: a thousand random curve sets through both replays; the whole suite runs it
def test_the_rung_by_rung_form_decides_as_the_result_by_result_replay():
    """The second form (one rung at a time, in start order) against Ray's scheduler asked result by result."""
    from analysis._asha import _result_by_result, _rung_by_rung, _rung_by_rung_epochs

    rng = np.random.default_rng(11)
    fast, cut = 0, 0
    for case in range(1000):
        n, epochs = int(rng.integers(1, 25)), int(rng.integers(1, 20))
        values = rng.normal(0, 1, (n, epochs)).cumsum(axis=1)
        if case % 4 == 0:
            values = rng.integers(0, 3, (n, epochs)).astype(float)  # ties at the cutoffs
        if case % 10 == 0:
            values[rng.random((n, epochs)) < 0.05] = np.nan  # a NaN at a rung: the second form declines
        lengths = rng.integers(1, epochs + 1, n) if case % 3 else np.full(n, epochs)
        for i, length in enumerate(lengths):
            values[i, length:] = np.nan
        spec = AshaSpec(
            "m",
            str(rng.choice(["min", "max"])),
            grace_period=int(rng.integers(1, 6)),
            reduction_factor=float(rng.choice([1.2, 1.5, 2, 2.5, 3, 4, 8])),  # 1.2: two rungs on one epoch
            max_t=int(rng.integers(1, epochs + 1)) if case % 5 == 0 else None,
            workers=int(rng.integers(1, 6)),
        )
        policy = np.where(rng.random((n, 3)) < 0.3, rng.integers(1, epochs + 2, (n, 3)), 0)
        order = rng.permutation(n)
        expected = _result_by_result(spec, values, lengths, epochs, policy, order, None)
        rungs = _rung_by_rung_epochs(spec, epochs, values, lengths)
        if rungs is None:
            continue
        fast += 1
        stops, by_asha = _rung_by_rung(spec, rungs, values, lengths, policy, order, spec.max_t or epochs)
        assert stops.tolist() == expected[0].tolist(), (case, spec)
        assert by_asha.tolist() == expected[1].tolist(), (case, spec)
        cut += int(by_asha.sum())
    assert fast > 700 and cut > 700  # most sets took the second form, and ASHA cut trials in them


def test_an_order_that_starts_only_some_trials_is_replayed_result_by_result():
    from analysis._asha import _result_by_result

    rng = np.random.default_rng(2)
    values = rng.normal(0, 1, (8, 9)).cumsum(axis=1)
    lengths, policy = np.full(8, 9), np.zeros((8, 1), dtype=np.int64)
    spec, order = AshaSpec("m", "min", 1, 2.0, workers=2), np.array([5, 1, 3])
    expected = _result_by_result(spec, values, lengths, 9, policy, order, None)
    assert [a.tolist() for a in simulate_asha(spec, values, lengths, 9, policy, order=order)] == [
        e.tolist() for e in expected
    ]
