"""The choice rule (`analysis._choice`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import Choice, analyse
from tests.curves import (
    folded_curves,
)


def test_tradeoff_objective_saves_more_with_a_larger_penalty():
    frame = folded_curves()
    saved = []
    for penalty in (0.0, 10.0):
        rec = analyse(
            frame,
            metrics=[("val_loss", "min")],
            families=("threshold",),
            baselines=False,
            objective="tradeoff",
            penalty=penalty,
        ).recommendations.iloc[0]
        saved.append(rec["epochs_saved"])
    assert saved[1] > saved[0]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("objective", ["tolerance", "search"])
def test_rows_and_candidates_are_ranked_by_the_one_rule(seed, objective):
    """rank_rows puts first the candidate choose_candidate picks among those within the tolerance."""
    from analysis._choice import choose_candidate, rank_rows, ranking_keys
    from analysis._estimate import Estimate
    from analysis._search import SEARCH_COLUMNS, SearchFigures

    rng = np.random.default_rng(seed)
    n = 12
    # Coarse values, so that ties in cost and in regret occur and the tie-breaks are exercised.
    saved, regret = rng.integers(0, 4, n) / 4, rng.integers(0, 3, n) / 200
    estimate = Estimate(np.ones(n), regret, saved, np.ones(n), regret + 0.004, regret, saved, saved)
    figures = {name: rng.integers(0, 3, n) / 200 for name in SEARCH_COLUMNS}
    figures["compute_used"] = 1.0 - saved
    search = SearchFigures(figures, 5, 0)
    chosen, how = choose_candidate(estimate, objective, 0.01, 0.0, search)
    rows = pd.DataFrame({"epochs_saved": saved, "regret": regret, "regret_high": regret + 0.004, **figures})
    _, _, high = ranking_keys(rows, objective)
    within = rows[np.asarray(high) <= 0.01]
    if within.empty:
        assert how is Choice.FALLBACK
        return
    assert how is Choice.WITHIN
    # choose_candidate breaks the last ties towards the later (more conservative) candidate.
    best = rank_rows(within.iloc[::-1], objective).index[0]
    assert best == chosen
