"""What every figure of ``recommendations.md`` predicts, for this run: its level, what was held out, the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis._answer import as_given
from analysis._format import configurations, regret, share
from analysis._held_out import HELD_OUT_SPLITS
from analysis._intervals import unseen_chance
from analysis._recommend import Analysis
from analysis._search import NOISE_EPOCHS
from analysis._snapshot import unkept

__all__ = ["method_lines"]


def method_lines(analysis: Analysis, tolerance: float) -> list[str]:
    """What every figure of the report predicts, and what was held out."""
    level = share(analysis.interval)
    split = analysis.split
    held_out = split.describe() if split is not None else "nothing held out"
    unit = "configuration with all its data folds" if split is None or split.unit == "configuration" else "trial"
    return [
        f"Quality is judged by `{analysis.target}` ({analysis.target_mode}) at the stop epoch. **Regret** is the "
        "relative loss of that quality against each curve's best epoch, an epoch picked in hindsight on the target "
        f"itself (no rule can know it){_in_points(analysis)}; **regret vs full** is against training to the end "
        "(negative: stopping was better). **Epochs saved** is the share of each curve's epoch budget not trained.",
        "",
        f"**Intervals** ({level}, approximate): where the mean regret and the mean epochs saved of a *new "
        f"search of {configurations(analysis.new_configs)}* are predicted to fall with probability about {level}, "
        f"for that row's value. They come from resampling whole configurations (the unit: a {unit}): each "
        "simulated search first resamples the observed configurations, then draws its own from them, so they "
        "cover both what these curves leave unknown and the luck of the next search's draw. "
        + _unseen(analysis)
        + " `python -m benchmarks.calibration` counts how often such intervals held on independent searches.",
        "",
        f"**The search** ({level} intervals, for a new search of {configurations(analysis.new_configs)}): a "
        "search is run to find the best model, so each policy is also judged by the search it leaves. Every curve "
        "is stopped by the policy and each configuration is scored as a user scores it: the target at its stop "
        "epoch, averaged over its data folds. **Best model** is how much worse the best configuration's score "
        "is than in the same search trained to the budget; **selected model** is the same for the configuration "
        f"a user selects by `{analysis.selected_by}` ({analysis.selection[1]}) at the stops; **compute used** "
        "is the share of the epochs (and of the seconds, where the curves record them) of training every curve "
        "to the budget; **top 10%** is the mean per-curve regret of the best tenth of the configurations. These "
        "figures need curves that ran their whole budget (`--full-curves`); they are n/a otherwise. **The "
        "best-model and selected-model intervals are narrower than stated**: on independent searches they held "
        "less often than their level (`python -m benchmarks.calibration`; tune-stop's docs/benchmarks.md gives "
        "the count), because "
        "the best of a new search depends on top configurations these curves never saw. Read their upper ends "
        "as optimistic; the compute-used intervals held at least as often as stated."
        + _noise_sentence(analysis, tolerance)
        + _estimator_sentence(analysis, tolerance),
        "",
        *(
            [
                f"**Beside ASHA**: every figure is of the policy running beside {analysis.asha.describe()}, "
                "replayed on these curves by Ray's own scheduler with the trials starting in the order of their "
                "ids (where either ends a trial, it ends); `asha_alone` is that ASHA with no stopping policy. "
                "Stops and *fired on* count ASHA's cuts too.",
                "",
            ]
            if analysis.asha is not None
            else []
        ),
        _choice_rule(analysis.objective, as_given(analysis, tolerance)),
        "",
        f"**Held out** (grouped cross-validation, {held_out}): in each cell the choice rule picks a value on the "
        "other configurations on the other data folds, with intervals for a search the size of the cell, and is "
        "judged on the held-out ones; *held-out regret* and *held-out saved* pool those judgements, and *within "
        "tolerance* is the share of cells whose held-out mean regret stayed within the tolerance.",
    ]


def _noise_sentence(analysis: Analysis, tolerance: float) -> str:
    """How much the best model moves by chance from one epoch to the next, against the tolerance."""
    noise = analysis.best_model_noise
    if not np.isfinite(noise):
        return ""
    refused = ", and the search objective recommends no policy" if analysis.objective == "search" else ""
    said = as_given(analysis, tolerance)
    verdict = (
        f", more than the {said} tolerance: within it the best-model figures are noise{refused}"
        if noise > tolerance
        else f", within the {said} tolerance"
    )
    return (
        f" **Noise floor**: from one epoch to the next, the best model here moves by {as_given(analysis, noise)} "
        "by chance "
        f"(what the folds of the best configurations disagree on that one epoch gains, over the last "
        f"{NOISE_EPOCHS} epochs){verdict}."
    )


def _estimator_sentence(analysis: Analysis, tolerance: float) -> str:
    """The metric's own standard deviation (a ``<metric>_sd`` column, as a GAN's ``fid_sd``) against the tolerance."""
    if analysis.curves is None:
        return ""
    if analysis.estimator_sd is not None and analysis.tolerance_points is not None:  # the tolerance was sized by it
        sized_by, at_best = analysis.estimator_sd
        return (
            f" **Estimator**: the tolerance is {analysis.tolerance_points / at_best:.3g} times {sized_by}'s own "
            f"standard deviation at the best model (`{sized_by}_sd` {at_best:.3g}: its mean over the last "
            f"{NOISE_EPOCHS} epochs of every fold of the configuration with the best {sized_by} at the budget)."
        )
    frame = analysis.curves.frame
    for metric in dict.fromkeys((analysis.selected_by, unkept(analysis.target, analysis.kept_by))):
        if metric not in frame or f"{metric}_sd" not in frame:
            continue
        values = pd.to_numeric(frame[metric], errors="coerce").abs().to_numpy(dtype=float)
        spread = pd.to_numeric(frame[f"{metric}_sd"], errors="coerce").to_numpy(dtype=float)
        usable = np.isfinite(values) & np.isfinite(spread) & (values > 0)
        if not usable.any():
            continue
        scale = analysis.points_scale  # a tolerance in points: the SD in points, a share of the same number
        ratio = float(np.median(spread[usable] / (scale if scale is not None else values[usable])))
        size = f"{regret(ratio)} of {metric}" if scale is None else f"{regret(ratio, scale)} points"
        return (
            f" **Estimator**: {metric}'s own standard deviation (`{metric}_sd`, as the curves recorded it) is "
            f"{size} (median over every epoch), {'below' if ratio < tolerance else 'above'} "
            f"the {as_given(analysis, tolerance)} tolerance."
        )
    return ""


def _in_points(analysis: Analysis) -> str:
    """How regret is measured where the tolerance was given in the target's points (empty otherwise)."""
    scale = analysis.points_scale
    if scale is None:
        return ""
    return (
        f" (with `--tolerance-points` or `--tolerance-sd`, every regret here is instead the loss in the target's "
        f"own units divided by one number, {scale:.4g}, the best model's target trained to the budget in these "
        "curves; the table, the answer, the plots and the files' comments show it in those units, that share times "
        "that number; `recommendations.csv` keeps each share, with the regrets in points (`*_points`) and that "
        "number (`regret_scale`) beside them)"
    )


def _unseen(analysis: Analysis) -> str:
    """What resampled configurations cannot foresee, with the chance that the next search holds it."""
    observed = analysis.split.n_configs if analysis.split is not None else 0
    chance = unseen_chance(observed, analysis.new_configs)
    odds = (
        f"a new search of {analysis.new_configs} holds at least one configuration worse than every one of the "
        f"{observed} seen here with probability {share(chance)} ({analysis.new_configs}/({analysis.new_configs} + "
        f"{observed}), as exchangeable draws)"
        if np.isfinite(chance)
        else "a new search may hold configurations worse than every one seen here"
    )
    return (
        f"They cannot foresee a kind of configuration these curves do not contain: {odds}, and how much worse, "
        "these curves cannot say. A value that saved nothing here keeps an upper end of epochs saved that lets "
        "it stop, at the earliest epoch its rule can, as many new configurations as may lie beyond those seen "
        "(that count's upper end at the interval's level), and its compute used likewise; its regret interval does "
        "not include what those stops would cost. A value that cannot stop any curve before its "
        "budget ends (patience longer than the budget) is never chosen."
    )


def _choice_rule(objective: str, tolerance: str) -> str:
    """How the values were chosen, in words (``tolerance``: as the user gave it, :func:`as_given`)."""
    if objective == "tradeoff":
        return (
            "**Choice** (`--objective tradeoff`): the value with the best `-regret + penalty x epochs saved` "
            "on these curves; the tolerance plays no part."
        )
    if objective == "search":
        return (
            "**Choice** (`--objective search`): the value that uses the least compute while the upper ends of its "
            f"best-model and selected-model regret intervals both stay within the {tolerance} tolerance "
            "(ties: lower regret, then the more conservative value); if none does, the lowest of the two regrets, "
            "and the row says so. **Checked on searches it did not see**: those intervals rest on the "
            "configurations seen, and a new search's best configuration is often better than all of them, where a "
            "value that never touched the observed best can stop it early. So the rule is run as you run it, "
            f"{HELD_OUT_SPLITS} times: the configurations are split at random into a predicting search and a new "
            "one (sized as these curves against the next search), a value is chosen on the first, and the second "
            f"says whether its best or selected model lost more than {tolerance}. Where that happened in "
            "more than the intervals' upper tail of the splits, the value is chosen within a smaller share of the "
            "tolerance (1/2, 1/4, then 0: only values that never cost the best model here) that passed the check; "
            "where none passed, nothing is recommended (`chosen_within`, `held_out_exceeded` and "
            "`held_out_splits` in `recommendations.csv`)."
        )
    return (
        "**Choice** (`--objective tolerance`): the value that saves the most epochs while the upper end of its "
        f"mean per-curve regret interval stays within the {tolerance} tolerance (ties: lower regret, "
        "then the more conservative value); if none does, the lowest regret, and the row says so."
    )
