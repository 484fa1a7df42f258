"""The options read against the curves (`analysis._inputs`)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import (
    analyse,
)
from tests.curves import (
    folded_curves,
    u_curve,
)


def test_warns_when_cross_validation_is_impossible():
    frame = pd.DataFrame(u_curve("a"))
    with pytest.warns(UserWarning, match="only 1 trial: nothing can be held out"):
        table = analyse(frame, metrics=[("val_loss", "min")]).recommendations
    assert table["cv_regret_mean"].isna().all() and table["recommended"].notna().all()


def test_a_metric_that_holds_no_number_is_refused_when_asked_for_and_left_out_when_a_default():
    import warnings

    frame = folded_curves().assign(val_accuracy=float("nan"))
    with pytest.raises(ValueError, match=r"metric 'val_accuracy' holds no number: all 1200 values are missing or NaN"):
        analyse(frame, metrics=[("val_accuracy", "max")], families=("threshold",))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        analysis = analyse(frame, families=("threshold",), baselines=False)
    assert set(analysis.recommendations["metric"]) == {"val_loss"}
    assert any("val_accuracy holds no number" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="target 'test_accuracy' holds no number"):
        analyse(frame.assign(test_accuracy=float("nan")), families=("threshold",))
