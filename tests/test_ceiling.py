"""The hindsight savings ceiling (`analysis._ceiling`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import (
    CurveSet,
    analyse,
    markdown_report,
)
from tests.curves import (
    complete_curves,
    u_curve,
)


@pytest.mark.parametrize("seed", range(3))
def test_savings_ceiling_is_the_linear_program_and_bounds_every_hindsight_choice(seed):
    import itertools

    from scipy import sparse
    from scipy.optimize import linprog

    from analysis import savings_ceiling

    n, epochs, tolerance = 5, 4, 0.03
    frame = complete_curves(seed, n, epochs)
    ceiling = savings_ceiling(CurveSet.from_frame(frame), "test_accuracy", "max", tolerance)
    accuracy = frame.pivot(index="trial_id", columns="epoch", values="test_accuracy").to_numpy()
    regret = (accuracy.max(axis=1, keepdims=True) - accuracy) / accuracy.max(axis=1, keepdims=True)
    saved = 1 - np.arange(1, epochs + 1) / epochs
    program = linprog(
        -np.tile(saved, n) / n,
        A_ub=regret.reshape(1, -1) / n,
        b_ub=[tolerance],
        A_eq=sparse.kron(sparse.eye(n), np.ones((1, epochs))),
        b_eq=np.ones(n),
        bounds=(0, 1),
        method="highs",
    )
    assert ceiling.epochs_saved == pytest.approx(-program.fun, abs=1e-9)
    assert ceiling.n_curves == n
    # Every real choice of one stop epoch per curve (all 4**5) within the tolerance saves no more.
    best_choice = max(
        saved[list(stops)].mean()
        for stops in itertools.product(range(epochs), repeat=n)
        if regret[np.arange(n), list(stops)].mean() <= tolerance
    )
    assert best_choice <= ceiling.epochs_saved + 1e-12
    assert ceiling.epochs_saved - best_choice < 1 / n  # one curve at most is split by the relaxation


def test_savings_ceiling_bounds_every_replayed_policy_and_is_exact_at_zero_tolerance():
    from analysis import savings_ceiling

    frame = complete_curves(7, 30, 20)
    curves = CurveSet.from_frame(frame)
    analysis = analyse(frame, metrics=[("val_loss", "min")], tolerance=0.05, families=("threshold", "patience"))
    assert analysis.ceiling is not None and analysis.ceiling.n_curves == 30
    within = analysis.candidates[analysis.candidates["regret"] <= 0.05]
    assert len(within) > 5 and (within["epochs_saved"] <= analysis.ceiling.epochs_saved + 1e-12).all()
    report = markdown_report(analysis, 0.05, "curves")
    assert f"would save at most {100 * analysis.ceiling.epochs_saved:.1f}% of the epochs within the 5.0%" in report
    # With no regret allowed each curve stops at its first best epoch.
    accuracy = frame.pivot(index="trial_id", columns="epoch", values="test_accuracy").to_numpy()
    first_best = np.argmax(accuracy == accuracy.max(axis=1, keepdims=True), axis=1) + 1
    exact = savings_ceiling(curves, "test_accuracy", "max", 0.0).epochs_saved
    assert exact == pytest.approx(np.mean(1 - first_best / 20), abs=1e-9)


def test_savings_ceiling_leaves_out_censored_curves_and_flat_curves_stop_at_once():
    from analysis import savings_ceiling

    rows = u_curve("full") + u_curve("cut", length=8)
    assert savings_ceiling(CurveSet.from_frame(pd.DataFrame(rows)), "test_accuracy", "max", 0.01).n_curves == 1
    flat = pd.DataFrame({"trial_id": "a", "epoch": range(1, 11), "test_accuracy": 0.9})
    ceiling = savings_ceiling(CurveSet.from_frame(flat), "test_accuracy", "max", 0.0)
    assert ceiling.epochs_saved == pytest.approx(0.9)
    nothing = savings_ceiling(CurveSet.from_frame(pd.DataFrame(u_curve("cut", length=8))), "test_accuracy", "max", 0.01)
    assert nothing.n_curves == 0 and np.isnan(nothing.epochs_saved)
