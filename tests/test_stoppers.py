"""Stopping rules: curve in, stop epoch out; and the Ray stoppers agree with them."""

from __future__ import annotations

import functools
import math
import pickle

import cloudpickle
import numpy as np
import pytest
from ray.tune import Stopper

from tune_stop.stoppers import (
    AnyStopper,
    GLStopper,
    MaxEpochStopper,
    NonFiniteStopper,
    PatienceStopper,
    PQStopper,
    ThresholdStopper,
    UPStopper,
    first_stop,
    generalization_loss,
    gl_rule,
    max_epoch_rule,
    non_finite_rule,
    patience_rule,
    pq_rule,
    threshold_rule,
    training_progress,
    up_rule,
)

NAN, INF = math.nan, math.inf


def feed(stopper: Stopper, curve, *, trial_id="t", extra=None, config=None) -> int | None:
    """Feeds a curve to a live stopper; returns the first epoch it said stop."""
    for epoch, value in enumerate(curve, start=1):
        result = {"epoch": epoch, "val_loss": value, "config": config or {}}
        for key, values in (extra or {}).items():
            result[key] = values[epoch - 1]
        if stopper(trial_id, result):
            return epoch
    return None


THRESHOLD_CASES = [
    # curve, mode, threshold, expected stop epoch
    ([0.5, 0.3, 0.2, 0.1], "min", 0.2, 3),  # a tie reaches the threshold
    ([0.5, 0.8, 0.95, 0.9], "max", 0.9, 3),
    ([0.3, 0.1, 0.0, 0.0], "min", 0.0, 3),  # 0.0 is a threshold, not "unset"
    ([-1.0, -0.5, 0.0], "max", 0.0, 3),
    ([0.5, NAN, 0.1], "min", 0.2, 3),  # NaN never reaches a threshold
    ([0.5, -INF, 0.5], "min", 0.2, None),  # nor does -inf
    ([0.5, 0.4], "min", 0.1, None),
    ([], "min", 0.1, None),
]


@pytest.mark.parametrize(("curve", "mode", "threshold", "expected"), THRESHOLD_CASES)
def test_threshold_rule_and_stopper(curve, mode, threshold, expected):
    rule = functools.partial(threshold_rule, mode=mode, threshold=threshold)
    assert first_stop(rule, curve)[0] == expected
    assert feed(ThresholdStopper("val_loss", mode, threshold=threshold), curve) == expected


def test_threshold_grace_period_ignores_the_leading_epochs():
    # A GAN discriminator's accuracy is near 1 early on in runs that then do well.
    curve = [0.999, 0.99, 0.8, 0.7, 0.995, 0.6]
    for grace, expected in ((0, 1), (1, 2), (2, 5), (5, None)):
        rule = functools.partial(threshold_rule, mode="max", threshold=0.99, grace_period=grace)
        assert first_stop(rule, curve)[0] == expected
        stopper = ThresholdStopper("val_loss", "max", threshold_key="t", grace_period=grace)
        assert feed(stopper, curve, config={"t": 0.99}) == expected
    assert "grace_period=2" in repr(ThresholdStopper("val_loss", threshold=0.1, grace_period=2))


def test_threshold_per_trial_from_config():
    stopper = ThresholdStopper("val_loss", "min", threshold_key="val_loss_threshold")
    curve = [0.9, 0.5, 0.3, 0.1]
    assert feed(stopper, curve, trial_id="a", config={"val_loss_threshold": 0.5}) == 2
    assert feed(stopper, curve, trial_id="b", config={"val_loss_threshold": 0.2}) == 4
    assert feed(stopper, curve, trial_id="c", config={"val_loss_threshold": 0.01}) is None
    record = stopper.stop_record("b")
    assert (record.policy, record.epoch, record.value) == ("threshold", 4, 0.1)
    assert stopper.stop_record("c") is None


def test_threshold_nested_key_and_missing_key():
    stopper = ThresholdStopper("val_loss", "min", threshold_key="stop/t")
    assert feed(stopper, [0.5, 0.1], config={"stop": {"t": 0.2}}) == 2
    with pytest.raises(KeyError, match="threshold_key='stop/t'"):
        feed(ThresholdStopper("val_loss", threshold_key="stop/t"), [0.5], config={})


PATIENCE_CASES = [
    # curve, kwargs, expected
    ([1.0, 0.9, 0.95, 0.92, 0.8], {"patience": 2}, 4),
    ([1.0, 1.0, 1.0], {"patience": 2}, 3),  # ties do not improve
    ([1.0, 0.97, 0.96, 0.9], {"patience": 2, "min_delta": 0.05}, 3),
    ([1.0, 0.97, 0.96, 0.9], {"patience": 2}, None),
    ([0.5, 0.6, 0.6, 0.55], {"patience": 2, "mode": "max"}, 4),
    ([1.0, 0.9, 0.95], {"patience": 0}, 3),
    ([1.0, 2.0, 3.0, 3.5, 4.0], {"patience": 1, "grace_period": 2}, 4),
    ([1.0, 2.0, 3.0, 3.5, 4.0], {"patience": 1}, 2),
    ([0.9, 0.8, 0.85, 0.3, 0.35], {"patience": 2, "baseline": 0.5}, 3),  # never beat the baseline in time
    ([0.9, 0.8, 0.85, 0.3, 0.35], {"patience": 2}, None),
    ([1.0, NAN, NAN], {"patience": 2}, 3),  # NaN is an epoch without improvement
    # min_delta as Keras and Lightning compare it, value + min_delta < best: 0.3 + 0.1 is
    # 0.4000000000000001, not < 0.4, so epoch 2 does not improve (0.3 < 0.4 - 0.1 said it did).
    ([0.4, 0.3, 0.3], {"patience": 1, "min_delta": 0.1}, 2),
    ([0.3, 0.4, 0.4], {"patience": 1, "min_delta": 0.1, "mode": "max"}, 3),  # 0.4 - 0.1 > 0.3 improves
    # The baseline is compared the same way: 0.3 + 0.1 is not < 0.4, so epoch 3 improves on the
    # best without restarting the wait, which reaches 3 at epoch 4.
    ([1.0, 0.9, 0.3, 0.29], {"patience": 3, "min_delta": 0.1, "baseline": 0.4}, 4),
]


@pytest.mark.parametrize(("curve", "kwargs", "expected"), PATIENCE_CASES)
def test_patience_rule_and_stopper(curve, kwargs, expected):
    options = {"mode": "min", "min_delta": 0.0, "grace_period": 0, "baseline": None, **kwargs}
    rule = functools.partial(patience_rule, **options)
    assert first_stop(rule, curve)[0] == expected
    assert feed(PatienceStopper("val_loss", **options), curve) == expected


@pytest.mark.parametrize("strip", [8, 9, 10])
def test_training_progress_sums_each_strip_in_epoch_order_whatever_the_matrix(strip):
    from tune_stop.stoppers import training_progress_scores

    rng = np.random.default_rng(strip)
    train = rng.uniform(0.1, 1.0, (200, 3 * strip))
    scores = training_progress_scores(train, strip)
    for row in range(len(train)):
        for end in range(strip, train.shape[1] + 1):
            window = list(train[row, end - strip : end])
            minimum, excess = min(window), 0.0
            for value in window:  # the defined order: epoch by epoch, as a Python loop adds
                excess += value - minimum
            expected = 1000.0 * excess / (strip * abs(minimum))
            assert scores[row, end - 1] == expected  # exactly, not approximately
            assert training_progress(window, strip) == expected


def test_training_progress_of_a_stalled_strip_is_exactly_zero():
    for strip in range(1, 11):
        for value in (0.47, 0.1, 0.3, 1 / 3, 2.7):
            assert training_progress([value] * strip, strip) == 0.0, (strip, value)


def test_generalization_loss_and_training_progress_by_hand():
    assert generalization_loss([1.0, 0.8, 0.85]) == pytest.approx(6.25)
    assert generalization_loss([1.0, NAN, 1.1]) == pytest.approx(10.0)
    assert generalization_loss([0.0, 0.1]) == INF
    # Strip [0.45, 0.44]: 1000 * (0.89 / (2 * 0.44) - 1)
    assert training_progress([1.0, 0.5, 0.45, 0.44], 2) == pytest.approx(1000 * (0.89 / 0.88 - 1))
    assert math.isnan(training_progress([0.5], 2))


GL_CASES = [
    ([1.0, 0.8, 0.83, 0.85], 5.0, 4),  # GL = 3.75 then 6.25
    ([1.0, 0.8, 0.83, 0.85], 7.0, None),
    ([1.0, NAN, 1.1], 5.0, 3),
    ([0.0, 0.1], 5.0, 2),  # E_opt = 0: any rise is an infinite GL
    ([0.5, 0.5, 0.5], 0.0, None),  # GL = 0 is not > 0
]


@pytest.mark.parametrize(("curve", "alpha", "expected"), GL_CASES)
def test_gl_rule_and_stopper(curve, alpha, expected):
    assert first_stop(functools.partial(gl_rule, alpha=alpha), curve)[0] == expected
    assert feed(GLStopper("val_loss", alpha), curve) == expected


PQ_CASES = [
    # val, train, alpha, strip, expected. At epoch 4: GL = 18.75, P = 11.36, GL/P = 1.65.
    ([1.0, 0.8, 0.9, 0.95], [1.0, 0.5, 0.45, 0.44], 0.5, 2, 4),
    ([1.0, 0.8, 0.9, 0.95], [1.0, 0.5, 0.45, 0.44], 2.0, 2, None),
    ([1.0, 0.8, 0.9, 0.9], [0.5, 0.5, 0.5, 0.5], 100.0, 2, 4),  # stalled training: GL/0 = inf
    # Strip 5: nothing is judged before epoch 5, where GL = 50, P = 311.6, GL/P = 0.16.
    ([1.0, 0.8, 0.9, 0.95, 1.2], [1.0, 0.5, 0.45, 0.44, 0.43], 0.1, 5, 5),
    ([1.0, 0.8, 0.9, 0.95, 1.2], [1.0, 0.5, 0.45, 0.44, 0.43], 0.2, 5, None),
    ([1.0, 0.8, 0.9, 0.95], [1.0, 0.5, NAN, 0.44], 0.5, 2, None),
    # A stalled strip is P = 0 exactly (sum / k rounded 0.47 * 5 / 5 below 0.47), so GL > 0 stops.
    ([1.0, 1.0, 1.0, 1.0, 1.1], [0.47] * 5, 0.5, 5, 5),
    # Strips of 8 or more: numpy sums them pairwise, Python in order; both forms now sum in order.
    ([1.0] * 7 + [1.1], [0.1] * 8, 0.5, 8, 8),
    ([1.0] * 9 + [1.1], [0.3] * 10, 0.5, 10, 10),
]


@pytest.mark.parametrize(("val", "train", "alpha", "strip", "expected"), PQ_CASES)
def test_pq_rule_and_stopper(val, train, alpha, strip, expected):
    def rule(history):
        return pq_rule(history, train[: len(history)], alpha=alpha, strip=strip)

    assert first_stop(rule, val)[0] == expected
    stopper = PQStopper("val_loss", "train_loss", alpha=alpha, strip=strip)
    assert feed(stopper, val, extra={"train_loss": train}) == expected


UP_CASES = [
    ([1.0, 0.8, 0.7, 0.9, 0.85, 1.0], 2, 2, 6),  # E(6) > E(4) > E(2)
    ([1.0, 0.8, 0.7, 0.75, 0.85, 1.0], 2, 2, None),  # E(4) < E(2)
    ([1.0, 0.8, 0.7, 0.9], 1, 2, 4),
    ([1.0, 1.2], 1, 2, None),  # epoch 2 has no earlier strip end to compare with
    ([1.0, 0.8, NAN, NAN], 1, 2, None),
]


@pytest.mark.parametrize(("curve", "strips", "strip", "expected"), UP_CASES)
def test_up_rule_and_stopper(curve, strips, strip, expected):
    assert first_stop(functools.partial(up_rule, strips=strips, strip=strip), curve)[0] == expected
    assert feed(UPStopper("val_loss", strips=strips, strip=strip), curve) == expected


@pytest.mark.parametrize(
    ("curve", "expected"),
    [([1.0, 2.0, NAN], 3), ([1.0, INF], 2), ([1.0, -INF], 2), ([1.0, 2.0, 3.0], None)],
)
def test_non_finite_rule_and_stopper(curve, expected):
    assert first_stop(non_finite_rule, curve)[0] == expected
    assert feed(NonFiniteStopper(["val_loss"]), curve) == expected


def test_non_finite_names_the_metric_that_diverged():
    stopper = NonFiniteStopper(["val_loss", "train_loss"])
    assert feed(stopper, [1.0, 0.5], extra={"train_loss": [1.0, NAN]}) == 2
    record = stopper.stop_record("t")
    assert record.policy == "non_finite" and record.metric == "train_loss" and math.isnan(record.value)


def test_max_epoch_rule_and_stopper():
    assert first_stop(functools.partial(max_epoch_rule, max_epochs=3), [1, 1, 1, 1])[0] == 3
    assert feed(MaxEpochStopper(3), [1.0] * 5) == 3


def test_any_stopper_first_that_fires_gives_the_reason_and_all_see_every_result():
    patience = PatienceStopper("val_loss", patience=1)
    threshold = ThresholdStopper("val_loss", threshold=0.95)
    combined = AnyStopper(threshold, patience)
    # Epoch 2 (1.2) is no improvement: patience fires; the threshold 0.95 is not reached.
    assert feed(combined, [1.0, 1.2, 0.9]) == 2
    assert combined.stop_record("t").policy == "patience"
    both = AnyStopper(ThresholdStopper("val_loss", threshold=1.5), PatienceStopper("val_loss", patience=0))
    assert feed(both, [1.0, 1.2]) == 1
    assert both.stop_record("t").policy == "threshold"
    # No short-circuit: the second stopper saw the result of epoch 1 too.
    assert both.stoppers[1].history("t") == [1.0]


def test_repeated_epoch_replaces_history_instead_of_duplicating():
    stopper = PatienceStopper("val_loss", patience=2)
    for epoch, value in [(1, 1.0), (2, 1.1), (3, 1.2), (2, 0.5), (3, 0.6)]:
        stopper("t", {"epoch": epoch, "val_loss": value})
    assert stopper.history("t") == [1.0, 0.5, 0.6]


def test_state_is_per_trial():
    stopper = PatienceStopper("val_loss", patience=1)
    assert not stopper("a", {"epoch": 1, "val_loss": 1.0})
    assert not stopper("b", {"epoch": 1, "val_loss": 5.0})
    assert stopper("a", {"epoch": 2, "val_loss": 2.0})
    assert not stopper("b", {"epoch": 2, "val_loss": 4.0})


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_stoppers_survive_pickling_with_their_state(dumps):
    combined = AnyStopper(
        NonFiniteStopper(["val_loss"]),
        ThresholdStopper("val_loss", threshold_key="th"),
        PatienceStopper("val_loss", patience=2),
        GLStopper("val_loss", 5.0),
        PQStopper("val_loss", "train_loss"),
        UPStopper("val_loss"),
        MaxEpochStopper(10),
    )
    for epoch, value in enumerate([1.0, 0.9, 0.95], start=1):
        combined("t", {"epoch": epoch, "val_loss": value, "train_loss": value, "config": {"th": 0.1}})
    copy = pickle.loads(dumps(combined))
    # Patience 2 after [1.0, 0.9, 0.95]: one more non-improving epoch stops both copies.
    result = {"epoch": 4, "val_loss": 0.96, "train_loss": 0.9, "config": {"th": 0.1}}
    assert copy("t", dict(result)) and combined("t", dict(result))
    assert copy.stop_record("t") == combined.stop_record("t")


def test_missing_metric_names_it():
    with pytest.raises(KeyError, match="'val_los' is not in the trial's result"):
        ThresholdStopper("val_los", threshold=0.1)("t", {"epoch": 1, "val_loss": 0.5})


@pytest.mark.parametrize(
    ("factory", "error", "match"),
    [
        (lambda: ThresholdStopper("val_loss", "min"), ValueError, "exactly one of threshold"),
        (lambda: ThresholdStopper("val_loss", "min", 0.1, "k"), ValueError, "exactly one of threshold"),
        (lambda: ThresholdStopper("val_loss", "up", 0.1), ValueError, "mode='up'"),
        (lambda: ThresholdStopper("val_loss", "min", "0.1"), TypeError, "threshold='0.1'"),
        (lambda: ThresholdStopper("val_loss", "min", NAN), ValueError, "threshold=nan"),
        (lambda: ThresholdStopper(3, "min", 0.1), TypeError, "metric=3"),
        (lambda: ThresholdStopper("", "min", 0.1), ValueError, "metric=''"),
        (lambda: ThresholdStopper("val_loss", "min", 0.1, grace_period=-1), ValueError, "grace_period=-1"),
        (lambda: ThresholdStopper("val_loss", "min", 0.1, grace_period=1.5), TypeError, "grace_period=1.5"),
        (lambda: PatienceStopper("val_loss", patience=-1), ValueError, "patience=-1"),
        (lambda: PatienceStopper("val_loss", patience=2.5), TypeError, "patience=2.5"),
        (lambda: PatienceStopper("val_loss", patience=True), TypeError, "patience=True"),
        (lambda: PatienceStopper("val_loss", min_delta=-0.1), ValueError, "min_delta=-0.1"),
        (lambda: PatienceStopper("val_loss", grace_period=-2), ValueError, "grace_period=-2"),
        (lambda: PatienceStopper("val_loss", baseline=INF), ValueError, "baseline=inf"),
        (lambda: GLStopper("val_loss", alpha=-1), ValueError, "alpha=-1"),
        (lambda: PQStopper("val_loss", "train_loss", strip=0), ValueError, "strip=0"),
        (lambda: UPStopper("val_loss", strips=0), ValueError, "strips=0"),
        (lambda: NonFiniteStopper([]), ValueError, "metrics=\\[\\]"),
        (lambda: MaxEpochStopper(0), ValueError, "max_epochs=0"),
        (lambda: AnyStopper(), ValueError, "at least one"),
        (lambda: AnyStopper("patience"), TypeError, "stoppers\\[0\\]"),
    ],
)
def test_bad_arguments_name_the_parameter_and_value(factory, error, match):
    with pytest.raises(error, match=match):
        factory()


@pytest.mark.parametrize(
    "factory",
    [
        lambda: ThresholdStopper("val_loss", "max", threshold=1),  # an int threshold is fine
        lambda: PatienceStopper("val_loss", "max", patience=0, min_delta=0, grace_period=3, baseline=0),
        lambda: GLStopper("val_loss", alpha=0),
        lambda: PQStopper("val_loss", "train_loss", alpha=0.5, strip=1),
        lambda: UPStopper("val_loss", strips=1, strip=1),
        lambda: NonFiniteStopper("val_loss"),
        lambda: MaxEpochStopper(1),
    ],
)
def test_accepted_arguments(factory):
    assert isinstance(factory(), Stopper)


@pytest.mark.parametrize("seed", range(5))
def test_live_stoppers_agree_with_rules_on_random_curves(seed):
    rng = np.random.default_rng(seed)
    epochs = 40
    val = list(
        1.0 / np.arange(1, epochs + 1) + 0.02 * np.arange(epochs) * rng.uniform(0, 1) + rng.normal(0, 0.02, epochs)
    )
    train = list(1.0 / np.arange(1, epochs + 1) + rng.normal(0, 0.005, epochs) + 0.05)
    cases = [
        (
            ThresholdStopper("val_loss", threshold=0.2),
            functools.partial(threshold_rule, mode="min", threshold=0.2),
        ),
        (
            PatienceStopper("val_loss", patience=3, min_delta=0.005, grace_period=2),
            functools.partial(patience_rule, mode="min", patience=3, min_delta=0.005, grace_period=2),
        ),
        (GLStopper("val_loss", 2.0), functools.partial(gl_rule, alpha=2.0)),
        (UPStopper("val_loss", 2, 3), functools.partial(up_rule, strips=2, strip=3)),
        (
            PQStopper("val_loss", "train_loss", 0.5, 3),
            lambda h: pq_rule(h, train[: len(h)], alpha=0.5, strip=3),
        ),
    ]
    for stopper, rule in cases:
        assert feed(stopper, val, extra={"train_loss": train}) == first_stop(rule, val)[0], stopper


def test_forget_drops_a_finished_trials_history_but_keeps_its_stop_record():
    stopper = AnyStopper(NonFiniteStopper("val_loss"), PatienceStopper("val_loss", "min", patience=1))
    decisions = []
    for epoch, loss in enumerate([1.0, 0.9, 0.95], start=1):
        decisions.append(stopper("a", {"epoch": epoch, "val_loss": loss}))
        stopper("b", {"epoch": epoch, "val_loss": loss})
    assert decisions == [False, False, True]
    stopper.forget("a")
    assert stopper.stoppers[1].history("a") == [] and stopper.stoppers[0].history("a") == []
    assert stopper.stoppers[1].history("b") == [1.0, 0.9, 0.95]
    record = stopper.stop_record("a")
    assert record is not None and record.policy == "patience" and record.epoch == 3


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps])
def test_patience_stopper_resumes_its_scan_and_restarts_it_for_a_retried_trial(dumps):
    rule = functools.partial(patience_rule, mode="min", patience=2, min_delta=0.01, grace_period=1, baseline=0.9)
    stopper = PatienceStopper("val_loss", patience=2, min_delta=0.01, grace_period=1, baseline=0.9)
    curve = [1.0, 0.5, 0.2, 0.1]
    for epoch, value in enumerate(curve, start=1):
        assert stopper("t", {"epoch": epoch, "val_loss": value}) == rule(curve[:epoch]).stop
    stopper = pickle.loads(dumps(stopper))  # as Tune does at a checkpoint: the scan state goes along
    # Retried from epoch 3 with other values: resumed from the stale best (0.1) it would stop at 4.
    retried = [1.0, 0.5, 0.45, 0.4, 0.35]
    decisions = [stopper("t", {"epoch": epoch, "val_loss": retried[epoch - 1]}) for epoch in (3, 4, 5)]
    assert decisions == [rule(retried[:epoch]).stop for epoch in (3, 4, 5)] == [False, False, False]
    assert stopper.history("t") == retried


def test_epochs_are_numbered_from_one():
    with pytest.raises(ValueError, match=r"epochs are numbered from 1, but a result reports epoch=0"):
        PatienceStopper("val_loss", patience=1)("t", {"epoch": 0, "val_loss": 1.0})
