"""The median stopping rule's replay decides as Ray's class does, driven result by result, and as a real run."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from ray import tune
from ray.tune.schedulers import TrialScheduler

from analysis._median import MedianSpec, simulate_median
from analysis._policies import Policy
from analysis._replay import CurveSet, stop_epochs
from tests.test_asha_replay import EPOCHS, ReplayedCurve, asked_at_every_result, recorded_curves
from tune_stop.schedulers import RecordingMedianStoppingRule
from tune_stop.stoppers import AUDIT_KEY


def driven(spec: MedianSpec, values: np.ndarray, lengths: np.ndarray, policy_stops: np.ndarray, order: np.ndarray):
    """The reference: Ray's class (tune-stop's recording subclass) asked at every result, as Tune asks it."""
    rule = RecordingMedianStoppingRule(
        metric="m", mode=spec.mode, grace_period=spec.grace_period, min_samples_required=spec.min_samples_required
    )
    return asked_at_every_result(rule, "m", values, lengths, policy_stops, order, spec.workers)


def random_spec(rng: np.random.Generator, grace_high: int, samples_high: int, workers_high: int) -> MedianSpec:
    """A median rule of random direction and settings (each drawn from 1 up to, not including, its high)."""
    return MedianSpec(
        "m",
        str(rng.choice(["min", "max"])),
        grace_period=int(rng.integers(1, grace_high)),
        min_samples_required=int(rng.integers(1, samples_high)),
        workers=int(rng.integers(1, workers_high)),
    )


def decides_as_rays_class(spec, values, lengths, policy, order, case) -> int:
    """Asserts the replay ends each trial where Ray's class does; the trials the rule stopped."""
    expected = driven(spec, values, lengths, policy, order)
    stops, by_rule = simulate_median(spec, values, lengths, policy[:, None], order=order)
    assert stops[:, 0].tolist() == expected[0].tolist(), (case, spec)
    assert by_rule[:, 0].tolist() == expected[1].tolist(), (case, spec)
    return int(by_rule.sum())


@pytest.mark.e2e  # slower: a thousand random curve sets through the replay and Ray's class; the whole suite runs it
def test_the_replay_makes_the_decisions_of_rays_class_on_thousands_of_random_curves():
    rng = np.random.default_rng(7)
    stopped = 0
    for case in range(2000):
        n, epochs = int(rng.integers(2, 12)), int(rng.integers(2, 9))
        if case % 3 == 0:  # few distinct values: ties between a trial's best and the median
            values = rng.integers(0, 4, (n, epochs)).astype(float)
        else:
            values = rng.normal(0, 1, (n, epochs)).cumsum(axis=1)
        values[rng.random((n, epochs)) < 0.05] = np.nan
        values[rng.random((n, epochs)) < 0.02] = np.inf
        lengths = rng.integers(1, epochs + 1, n)
        for i, length in enumerate(lengths):
            values[i, length:] = np.nan
        spec = random_spec(rng, 4, 4, 4)
        policy = np.where(rng.random(n) < 0.3, rng.integers(1, epochs + 1, n), 0)
        stopped += decides_as_rays_class(spec, values, lengths, policy, rng.permutation(n), case)
    assert stopped > 1000  # the rule stopped trials: the comparison says something


def test_a_spec_with_bad_settings_is_refused_with_the_setting_named():
    with pytest.raises(ValueError, match="min_samples_required"):
        MedianSpec("m", "min", min_samples_required=0)
    with pytest.raises(ValueError, match="not the median"):
        MedianSpec.from_scheduler({"name": "asha"}, "m", "min")
    assert MedianSpec.from_scheduler({"name": "median", "grace_period": 3}, "m", "max").grace_period == 3


def real_run(curves: np.ndarray, spec: MedianSpec, stopper, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    """End epochs (0: whole curve) and the rule's stops of a real Ray Tune run, trials in order on one worker."""
    rule = RecordingMedianStoppingRule(grace_period=spec.grace_period, min_samples_required=spec.min_samples_required)
    tuner = tune.Tuner(
        tune.with_parameters(ReplayedCurve, curves=curves),
        param_space={"index": tune.grid_search(list(range(len(curves))))},
        tune_config=tune.TuneConfig(
            metric=spec.metric, mode=spec.mode, scheduler=rule, max_concurrent_trials=1, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), stop=stopper, verbose=0),
    )
    results = tuner.fit()
    ends = np.zeros(len(curves), dtype=np.int64)
    by_rule = np.zeros(len(curves), dtype=bool)
    for result in results:
        index, epoch = result.config["index"], int(result.metrics["epoch"])
        stopped = result.metrics["trial_id"] in rule.stopped
        ends[index] = 0 if epoch >= EPOCHS and not stopped else epoch
        by_rule[index] = stopped
    return ends, by_rule


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("spec", "policy"),
    [
        (MedianSpec("val_loss", "min", grace_period=2, min_samples_required=3), None),
        (
            MedianSpec("val_loss", "min", grace_period=1, min_samples_required=2),
            Policy("patience", "val_loss", "min", (2.0,)),
        ),
    ],
    ids=["median-alone", "median-and-patience"],
)
def test_replayed_median_rule_makes_the_decisions_of_a_real_ray_tune_run(ray_session, tmp_path, spec, policy):
    curves = recorded_curves()
    frame = CurveSet.from_frame(
        pd.DataFrame(
            {
                "trial_id": np.repeat([f"c{i:02d}" for i in range(len(curves))], EPOCHS),
                "epoch": np.tile(np.arange(1, EPOCHS + 1), len(curves)),
                "val_loss": curves.ravel(),
            }
        )
    )
    policy_stops = stop_epochs(policy, frame) if policy else np.zeros((len(curves), 1), dtype=np.int64)
    stops, by_rule = simulate_median(spec, curves, np.full(len(curves), EPOCHS), policy_stops)
    real_ends, real_by_rule = real_run(curves, spec, policy.stopper(policy.candidates[0]) if policy else None, tmp_path)
    assert stops[:, 0].tolist() == real_ends.tolist()
    assert by_rule[:, 0].tolist() == real_by_rule.tolist()
    assert by_rule.any()


def test_the_rules_state_survives_a_pickled_restore_and_decides_as_before():
    import pickle

    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, (8, 6)).cumsum(axis=1)
    trials = [SimpleNamespace(trial_id=f"t{i}", config={}) for i in range(8)]

    def feed(rule, epochs):
        """Every trial's results epoch by epoch; a stopped trial reports no more, as in Tune."""
        return [
            rule.on_trial_result(None, trial, {"epoch": e, "m": float(values[i, e - 1])})
            for e in epochs
            for i, trial in enumerate(trials)
            if trial.trial_id not in rule.stopped
        ]

    whole = RecordingMedianStoppingRule(metric="m", mode="min", grace_period=2, min_samples_required=2)
    expected = feed(whole, range(1, 7))
    first = RecordingMedianStoppingRule(metric="m", mode="min", grace_period=2, min_samples_required=2)
    before = feed(first, range(1, 4))
    resumed = RecordingMedianStoppingRule(metric="m", mode="min", grace_period=2, min_samples_required=2)
    resumed.restore_rung_state(pickle.loads(pickle.dumps(first.rung_state())))
    trials = [SimpleNamespace(trial_id=f"t{i}", config={}) for i in range(8)]  # new Trial objects, same ids
    assert before + feed(resumed, range(4, 7)) == expected
    assert TrialScheduler.STOP in expected and resumed.stopped == whole.stopped


def test_an_audit_trial_the_rule_would_stop_trains_on_and_still_counts():
    from tune_stop import _compat

    rule = RecordingMedianStoppingRule(metric="m", mode="min", grace_period=2, min_samples_required=1)
    good = SimpleNamespace(trial_id="good", config={})
    audited = SimpleNamespace(trial_id="audit", config={AUDIT_KEY: True})
    for epoch in (1, 2, 3):
        assert rule.on_trial_result(None, good, {"epoch": epoch, "m": 0.1}) == TrialScheduler.CONTINUE
    # Worse than the median from epoch 2 on: stopped twice, and each time it trains on (no assertion in Ray).
    decisions = [rule.on_trial_result(None, audited, {"epoch": e, "m": 0.9}) for e in (1, 2, 3)]
    assert decisions == [TrialScheduler.CONTINUE] * 3 and "audit" not in rule.stopped
    recorded = {key.trial_id: len(results) for key, results in _compat.median_state(rule)["results"].items()}
    assert recorded == {"good": 3, "audit": 3}  # its results count for the others
    worse = SimpleNamespace(trial_id="worse", config={})
    rule.on_trial_result(None, worse, {"epoch": 1, "m": 0.95})
    assert rule.on_trial_result(None, worse, {"epoch": 2, "m": 0.97}) == TrialScheduler.STOP
    assert rule.stopped == {"worse": 2}


def test_running_means_are_numpys_mean_of_each_window_to_the_last_bit():
    """The per-epoch reduction over every curve equals ``np.mean`` of each window alone (pairwise sums from 8 on)."""
    from analysis._median import _running_means

    rng = np.random.default_rng(5)
    for case in range(300):
        n, epochs, grace = int(rng.integers(1, 20)), int(rng.integers(1, 70)), int(rng.integers(1, 6))
        values = rng.normal(0, 1, (n, epochs)) * 10.0 ** rng.integers(-6, 7, (n, epochs))
        lengths = rng.integers(1, epochs + 1, n)
        for i, length in enumerate(lengths):
            values[i, length:] = np.nan
        running = _running_means(values, lengths, grace)
        assert running is not None
        for i in range(n):
            for epoch in range(grace, int(lengths[i]) + 1):
                assert running[i][epoch - 1] == float(np.mean(values[i, grace - 1 : epoch].tolist())), (case, i)
    values = np.ones((2, 3))
    values[1, 1] = np.inf
    assert _running_means(values, np.array([3, 3]), 1) is None  # a result the rule never records
    assert _running_means(values, np.array([3, 1]), 1) is not None  # past a curve's end nothing is recorded


def test_the_replay_decides_as_rays_class_on_long_finite_curves():
    """Long curves without NaN, where the replay takes its running means from one reduction per epoch."""
    rng = np.random.default_rng(8)
    stopped = 0
    for case in range(200):
        n, epochs = int(rng.integers(2, 16)), int(rng.integers(8, 30))
        values = rng.normal(0, 1, (n, epochs)).cumsum(axis=1) * 10.0 ** rng.integers(-3, 4)
        if case % 3 == 0:
            values = rng.integers(0, 4, (n, epochs)).astype(float)
        lengths = rng.integers(1, epochs + 1, n) if case % 2 else np.full(n, epochs)
        for i, length in enumerate(lengths):
            values[i, length:] = np.nan
        spec = random_spec(rng, 6, 4, 5)
        policy = np.where(rng.random(n) < 0.3, rng.integers(1, epochs + 1, n), 0)
        stopped += decides_as_rays_class(spec, values, lengths, policy, rng.permutation(n), case)
    assert stopped > 200


@pytest.mark.e2e  # slower: a thousand random curve sets through both replays; the whole suite runs it
def test_the_epoch_by_epoch_form_decides_as_the_result_by_result_replay():
    """The form for unit epochs and finite results against the result-by-result replay, several policies at once."""
    from analysis._median import _epoch_by_epoch, _result_by_result, _running_means

    rng = np.random.default_rng(12)
    stopped = 0
    for case in range(1000):
        n, epochs = int(rng.integers(1, 20)), int(rng.integers(1, 20))
        values = rng.normal(0, 1, (n, epochs)).cumsum(axis=1)
        if case % 3 == 0:
            values = rng.integers(0, 3, (n, epochs)).astype(float)  # ties between a best and a median
        lengths = rng.integers(1, epochs + 1, n) if case % 2 else np.full(n, epochs)
        for i, length in enumerate(lengths):
            values[i, length:] = np.nan
        spec = random_spec(rng, 6, 5, 6)
        policy = np.where(rng.random((n, 3)) < 0.3, rng.integers(1, epochs + 2, (n, 3)), 0)
        order = rng.permutation(n)
        running = _running_means(values, lengths, spec.grace_period)
        assert running is not None
        expected = _result_by_result(spec, values, lengths, policy, order, None)
        stops, by_rule = _epoch_by_epoch(spec, values, lengths, policy, order, running)
        assert stops.tolist() == expected[0].tolist(), (case, spec)
        assert by_rule.tolist() == expected[1].tolist(), (case, spec)
        stopped += int(by_rule.sum())
    assert stopped > 700


def test_a_running_mean_past_the_float_range_is_left_out_as_rays_class_leaves_it_out():
    from analysis._median import _epoch_by_epoch, _result_by_result, _running_means

    values = np.array([[1.0, 1.7e308, 1.7e308, np.nan], [1.0, 1e308, 1e308, 1e308]])
    lengths, policy, order = np.array([3, 4]), np.zeros((2, 1), dtype=np.int64), np.arange(2)
    spec = MedianSpec("m", "max", grace_period=1, min_samples_required=1, workers=1)
    running = _running_means(values, lengths, 1)
    assert running is not None and not np.isfinite(running[0][2])  # 1 + 2 * 1.7e308 overflows
    expected = _result_by_result(spec, values, lengths, policy, order, None)
    assert np.array_equal(_epoch_by_epoch(spec, values, lengths, policy, order, running)[0], expected[0])
    assert expected[0][:, 0].tolist() == driven(spec, values, lengths, policy[:, 0], order)[0].tolist() == [0, 0]
