"""The options read against the curves (`analysis._inputs`)."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis import (
    analyse,
)
from tests.curves import (
    u_curve,
)


def test_warns_when_cross_validation_is_impossible():
    frame = pd.DataFrame(u_curve("a"))
    with pytest.warns(UserWarning, match="only 1 trial: nothing can be held out"):
        table = analyse(frame, metrics=[("val_loss", "min")]).recommendations
    assert table["cv_regret_mean"].isna().all() and table["recommended"].notna().all()
