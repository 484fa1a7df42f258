"""The search objective's check of its own choice on searches it did not see."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis._choice import Choice, choose_candidate
from analysis._context import Context, search_of
from analysis._estimate import estimate
from analysis._replay import CurveSet, PolicyReplay
from analysis._split import Split, search_splits

__all__ = ["HELD_OUT_SPLITS", "TOLERANCE_SHARES", "HeldOut", "held_out_tolerance"]

#: Splits of the configurations into a predicting and a new search, the simulated searches behind
#: each split's choice, and the shares of the tolerance tried, loosest first.
HELD_OUT_SPLITS, SPLIT_DRAWS = 20, 200
TOLERANCE_SHARES = (1.0, 0.5, 0.25, 0.0)


@dataclass(frozen=True)
class HeldOut:
    """The search objective's check of its own choice on searches it did not see.

    Attributes:
        tolerance: The tolerance the value is chosen within: the user's, or a share of it
            (NaN when no share tried passed).
        exceeded: At that tolerance, the share of splits whose new part's best or selected
            model lost more than the user's tolerance (at the strictest share, when none passed).
        splits: Splits judged (0: too few configurations to split).
    """

    tolerance: float
    exceeded: float
    splits: int


def held_out_tolerance(
    result: PolicyReplay, curves: CurveSet, split: Split, earliest: np.ndarray, ctx: Context
) -> HeldOut:
    """The loosest share of the tolerance whose choice holds up on searches it did not see.

    A value whose best-model interval ends within the tolerance was judged on the observed
    configurations only, and a new search's best configuration is often better than all of
    them (with chance N/(N+M)): a threshold that never reached the observed best ones can
    stop that one early. So the rule is run as the user runs it, many times over: the
    configurations are split into a predicting search and a new one (:func:`search_splits`),
    a value is chosen on the first within a share of the tolerance, and the second says
    whether its best or selected model lost more than the tolerance. The loosest share
    (of :data:`TOLERANCE_SHARES`) that exceeded it in at most the interval's upper tail
    (``(1 - level) / 2``) of the splits is used.
    """
    rng = np.random.default_rng([ctx.seed, 3])
    exceeded = []
    for predicting, new in search_splits(split, ctx.new_configs, HELD_OUT_SPLITS, ctx.seed):
        n_new = len(np.unique(split.config_index[new]))
        estimated = estimate(
            result,
            predicting,
            split,
            curves.budgets,
            earliest,
            new_configs=n_new,
            level=ctx.level,
            rng=rng,
            draws=0,
        )
        trained = search_of(result, curves, split, ctx, predicting, new_configs=n_new, rng=rng, draws=SPLIT_DRAWS)
        judged = search_of(result, curves, split, ctx, new, new_configs=1, rng=rng, draws=0)
        worst = np.fmax(judged["best_regret"], judged["selected_regret"])
        row = []
        for share in TOLERANCE_SHARES:
            chosen, how = choose_candidate(estimated, "search", share * ctx.tolerance, ctx.penalty, trained)
            # A split where nothing qualifies runs no policy: it cannot cost the best model.
            row.append(chosen is not None and how is Choice.WITHIN and not worst[chosen] <= ctx.tolerance)
        exceeded.append(row)
    if not exceeded:
        return HeldOut(ctx.tolerance, np.nan, 0)
    rates = np.mean(exceeded, axis=0)
    allowed = (1.0 - ctx.level) / 2.0
    for share, rate in zip(TOLERANCE_SHARES, rates, strict=True):
        if rate <= allowed:
            return HeldOut(share * ctx.tolerance, float(rate), len(exceeded))
    return HeldOut(np.nan, float(rates[-1]), len(exceeded))
