"""Policy candidates and arguments (`analysis._policies`): the live stoppers' validation, hashing, pickling."""

from __future__ import annotations

import numpy as np
import pytest

from analysis import (
    Policy,
)


def test_threshold_candidates_span_the_observed_range_on_a_log_scale():
    from analysis import threshold_candidates

    values = np.array([0.01, 0.1, 1.0, np.nan, np.inf])
    grid = threshold_candidates(values, "min", count=5)
    assert grid[0] == pytest.approx(1.0) and grid[-1] == pytest.approx(0.01)
    assert grid[2] == pytest.approx(0.1)  # the log-scale median
    assert threshold_candidates(np.array([-1.0, 0.0, 1.0]), "max", count=3) == (-1.0, 0.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"family": "gl", "settings": {"grace_period": 2}}, r"gl cannot keep \['grace_period'\] fixed"),
        ({"family": "threshold", "settings": {"min_delta": 0.1}}, r"threshold cannot keep \['min_delta'\] fixed"),
        ({"family": "threshold", "settings": {"grace_period": -1}}, "grace_period=-1"),
        ({"family": "threshold", "settings": {"grace_period": True}}, "grace_period=True"),
        ({"family": "up", "mode": "max"}, "up is defined on errors"),
        ({"family": "pq"}, "pq needs train_metric"),
        ({"family": "early"}, "family='early'"),
        ({"family": "gl", "candidates": ()}, "candidates must not be empty"),
    ],
)
def test_bad_policy_arguments_are_the_live_stoppers_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Policy(**{"metric": "val_loss", "candidates": (1.0,), **kwargs})


def test_integer_parameters_refuse_fractions_instead_of_rounding_them():
    with pytest.raises(ValueError, match=r"patience must be a whole number, but got patience=2.5"):
        Policy("patience", "val_loss", "min", (2.0, 2.5))
    with pytest.raises(ValueError, match=r"strips must be a whole number, but got strips=2.9"):
        Policy("up", "val_loss", "min", (2.9,))


def test_policies_hash_and_pickle():
    import pickle

    policy = Policy("up", "val_loss", "min", (1.0, 2.0), settings={"strip": 3})
    assert pickle.loads(pickle.dumps(policy)) == policy and hash(policy) == hash(pickle.loads(pickle.dumps(policy)))
