"""What a policy does to the search: the best model it ends with, the model a user selects, the compute.

A hyperparameter search exists to find the best model for the least compute, so here a
policy is judged by the search it leaves behind. Every curve is stopped by the policy and
each configuration is scored as the user scores it: the target of the model at its stop
epoch, averaged over the configuration's data folds. Against the same search trained to
the budget (each curve's last epoch):

- ``best_regret``: how much worse the best configuration's score is;
- ``selected_regret``: how much worse the configuration a user selects is, where the user
  selects by the validation metric at the stops (fold-averaged) in both searches;
- ``compute_used``: the epochs (and seconds, where the curves record time per epoch)
  trained, as a fraction of training every curve to the budget.

Both regrets are relative, like the per-curve regret. The intervals resample
configurations as the per-curve ones do (:func:`analysis._intervals.predicted_means`): each
draw resamples the observed configurations as a population, draws a new search of
``new_configs`` configurations from it, and computes the figures of that search. For the
best and selected models the population is M^(2/3) of the M observed configurations (see
:func:`_top_population`), since a new search's top configurations are ones never seen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from analysis._intervals import new_search_weights, small_sample_widening
from analysis._regret import relative_regret
from analysis._replay import CurveSet, PolicyReplay
from tune_stop.stoppers import mode_sign

__all__ = [
    "SEARCH_COLUMNS",
    "TOP_SHARE",
    "SearchFigures",
    "best_model_noise",
    "best_model_trials",
    "best_model_value",
    "realized_search",
    "search_figures",
    "time_per_epoch",
]

#: Per-candidate figures of :class:`SearchFigures`, in the order the tables show them.
SEARCH_COLUMNS = (
    "best_regret",
    "best_regret_low",
    "best_regret_high",
    "selected_regret",
    "selected_regret_low",
    "selected_regret_high",
    "compute_used",
    "compute_used_low",
    "compute_used_high",
    "compute_used_seconds",
    "top_decile_regret",
)

#: Epochs at the end of the curves whose gains :func:`best_model_noise` reads.
NOISE_EPOCHS = 5

#: Elements of one block of simulated searches (draws x configurations x candidates), to bound memory.
_BLOCK_ELEMENTS = 4_000_000

#: Share of the configurations, ranked by their score trained to the budget, whose per-curve regret is
#: reported beside the mean (``top_decile_regret``): the configurations a search exists to find.
TOP_SHARE = 0.1


@dataclass(frozen=True)
class SearchFigures:
    """Search-level figures per candidate (arrays of shape ``(n_candidates,)``; NaN where undefined).

    Attributes:
        figures: :data:`SEARCH_COLUMNS` to arrays.
        n_configs: Configurations judged (every curve of each ran its whole budget).
        n_cut_short: Configurations with a curve that ended before its budget; when there
            is any, nothing is judged (the search trained to the budget is unknown).
    """

    figures: dict[str, np.ndarray]
    n_configs: int
    n_cut_short: int

    def __getitem__(self, name: str) -> np.ndarray:
        return self.figures[name]


def time_per_epoch(curves: CurveSet) -> np.ndarray | None:
    """``(n_curves, n_epochs)`` seconds of each epoch: Ray's ``time_this_iter_s``, else ``epoch_time_s``."""
    for column in ("time_this_iter_s", "epoch_time_s"):
        if column in curves.frame:
            seconds = curves.matrix(column)
            if np.isfinite(seconds).any():
                return seconds
    return None


def _per_config(values: np.ndarray, indicator: sparse.csr_matrix, counts: np.ndarray) -> np.ndarray:
    """Mean over each configuration's curves of ``values`` (rows: curves); NaN propagates."""
    total = indicator @ values
    return np.asarray(total) / (counts if values.ndim == 1 else counts[:, None])


@dataclass(frozen=True)
class _Ranked:
    """One per-configuration score, ``(n_configs, n_candidates)``, lower is better, ready to find draws' lowest.

    Attributes:
        values: The scores (NaN where unknown).
        ranked: The same with NaN as +inf (ranked worst).
        order: Per candidate, the configurations with the ``k`` lowest scores, lowest first.
    """

    values: np.ndarray
    ranked: np.ndarray
    order: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, k: int) -> _Ranked:
        ranked = np.where(np.isnan(values), np.inf, values)
        n_configs = len(ranked)
        if 4 * k >= n_configs:
            return cls(values, ranked, np.argsort(ranked, axis=0, kind="stable")[:k])
        # The k lowest of a long column: partition, then sort the few at or below the k-th value,
        # ties in configuration order as a stable sort of the whole column would have them.
        order = np.empty((k, ranked.shape[1]), dtype=np.int64)
        kth = np.partition(ranked, k - 1, axis=0)[k - 1]
        for column in range(ranked.shape[1]):
            lowest = np.flatnonzero(ranked[:, column] <= kth[column])
            order[:, column] = lowest[np.argsort(ranked[lowest, column], kind="stable")[:k]]
        return cls(values, ranked, order)

    def lowest(self, drawn: np.ndarray, present: np.ndarray) -> np.ndarray:
        """``(draws, n_candidates)`` index of the configuration with the lowest score among each draw's.

        Only the ``k`` best configurations of each candidate are searched for one the draw
        holds; a draw that holds none of them (rare by the choice of ``k``) is searched whole.
        """
        candidates = np.arange(self.values.shape[1])
        hit = present[:, self.order]  # (draws, k, candidates)
        first = hit.argmax(axis=1)
        index = self.order[first, candidates[None, :]]
        missing = np.flatnonzero(~np.take_along_axis(hit, first[:, None, :], axis=1)[:, 0, :].all(axis=1))
        if missing.size:
            local = np.argmin(self.ranked[drawn[missing]], axis=1)  # (missing, candidates)
            index[missing] = drawn[missing][np.arange(missing.size)[:, None], local]
        return index


def _figures_of(
    drawn: np.ndarray,
    present: np.ndarray,
    score: _Ranked,
    choice: _Ranked,
    full_score: np.ndarray,
    full_choice: np.ndarray,
    target_sign: float,
    scale: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Best-model and selected-model regret of the searches made of the configurations ``drawn``.

    Args:
        drawn: ``(draws, n)`` configuration indices of each search.
        present: ``(draws, n_configs)`` whether each search holds each configuration.
        score, choice: Target and selection score under the policy, both signed so that lower is better.
        full_score, full_choice: ``(n_configs,)`` the same trained to the budget.
        scale: :attr:`CurveSet.regret_scale`.

    Returns:
        ``(best_regret, selected_regret)``, each ``(draws, n_candidates)``.
    """
    candidates = np.arange(score.values.shape[1])[None, :]
    best = score.values[score.lowest(drawn, present), candidates]
    selected = score.values[choice.lowest(drawn, present), candidates]
    rows = np.arange(len(drawn))
    full_best = full_score[drawn[rows, np.argmin(np.where(np.isnan(full_score), np.inf, full_score)[drawn], axis=1)]]
    full_picked = drawn[rows, np.argmin(np.where(np.isnan(full_choice), np.inf, full_choice)[drawn], axis=1)]
    full_selected = full_score[full_picked]
    # Scores are signed (lower is better); the regret is relative to the unsigned reference.
    return (
        relative_regret(target_sign * best, target_sign * full_best[:, None], target_sign, scale),
        relative_regret(target_sign * selected, target_sign * full_selected[:, None], target_sign, scale),
    )


def search_figures(
    result: PolicyReplay,
    curves: CurveSet,
    config_index: np.ndarray,
    selection: np.ndarray,
    selection_mode: str,
    target_mode: str,
    *,
    mask: np.ndarray | None = None,
    new_configs: int,
    level: float,
    rng: np.random.Generator,
    draws: int = 2000,
    seconds: np.ndarray | None = None,
) -> SearchFigures:
    """The search-level figures of every candidate of a replayed policy, with intervals.

    Args:
        result: The policy's replay on ``curves``.
        curves: The curves (every one judged must have run its whole budget).
        config_index: ``(n_curves,)`` configuration of each curve, from 0.
        selection: ``(n_curves, n_epochs)`` the validation metric a user selects by.
        selection_mode: ``"min"`` or ``"max"`` for ``selection``.
        target_mode: ``"min"`` or ``"max"`` for the target.
        mask: ``(n_curves,)`` the curves that make the search (default: all).
        new_configs: Configurations in the new search the intervals are for.
        level: Probability of the central intervals.
        rng: Random generator (seeded by the caller).
        draws: Simulated new searches.
        seconds: ``(n_curves, n_epochs)`` time per epoch (:func:`time_per_epoch`), or None.
    """
    n_candidates = result.stop_epoch.shape[1]
    rows = np.flatnonzero(np.ones(len(config_index), dtype=bool) if mask is None else mask)
    configs, local = np.unique(config_index[rows], return_inverse=True)
    complete = np.bincount(local, weights=curves.complete[rows], minlength=len(configs))
    n_curves = np.bincount(local, minlength=len(configs))
    cut_short = int((complete < n_curves).sum())
    figures = {name: np.full(n_candidates, np.nan) for name in SEARCH_COLUMNS}
    if cut_short or len(configs) == 0:
        return SearchFigures(figures, 0 if cut_short else len(configs), cut_short)

    n_configs = len(configs)
    indicator = sparse.csr_matrix((np.ones(len(rows)), (local, np.arange(len(rows)))), shape=(n_configs, len(rows)))
    target_sign, selection_sign = mode_sign(target_mode), mode_sign(selection_mode)
    used = result.epochs_used[rows]
    last = curves.lengths[rows] - 1
    at_stop = np.take_along_axis(selection[rows], used - 1, axis=1)
    score = target_sign * _per_config(result.target_at_stop[rows], indicator, n_curves)
    full_score = target_sign * _per_config(result.target_last[rows], indicator, n_curves)
    choice = selection_sign * _per_config(at_stop, indicator, n_curves)
    full_choice = selection_sign * _per_config(selection[rows, last], indicator, n_curves)
    used_per_config = np.asarray(indicator @ used.astype(float))
    budget_per_config = np.asarray(indicator @ curves.budgets[rows].astype(float))

    # A simulated search holds one of any k configurations with probability about 1 - exp(-k n / M),
    # n the most distinct configurations it can hold: N drawn from a population of top_size.
    top_size = _top_population(n_configs)
    k = min(n_configs, int(np.ceil(30 * n_configs / max(1, min(new_configs, top_size)))))
    if n_configs < 2 or draws == 0:
        k = 1  # only the whole search's best is looked for
    ranked_score, ranked_choice = _Ranked.of(score, k), _Ranked.of(choice, k)
    everything = np.arange(n_configs)[None, :]
    best, selected = _figures_of(
        everything,
        np.ones((1, n_configs), dtype=bool),
        ranked_score,
        ranked_choice,
        full_score,
        full_choice,
        target_sign,
        curves.regret_scale,
    )
    figures["best_regret"], figures["selected_regret"] = best[0], selected[0]
    figures["compute_used"] = used_per_config.sum(axis=0) / budget_per_config.sum()
    if seconds is not None:
        cumulative = np.cumsum(np.nan_to_num(seconds[rows], nan=0.0), axis=1)
        spent = np.take_along_axis(cumulative, used - 1, axis=1)
        figures["compute_used_seconds"] = spent.sum(axis=0) / cumulative[np.arange(len(rows)), last].sum()
    top = np.argsort(np.where(np.isnan(full_score), np.inf, full_score), kind="stable")
    top = top[: max(1, int(np.ceil(TOP_SHARE * n_configs)))]
    in_top = np.isin(local, top)[:, None] & result.evaluable[rows]
    with np.errstate(invalid="ignore", divide="ignore"):
        figures["top_decile_regret"] = np.where(in_top, result.regret[rows], 0.0).sum(axis=0) / in_top.sum(axis=0)

    if n_configs < 2 or draws == 0:
        return SearchFigures(figures, n_configs, 0)  # one configuration says nothing about others
    _add_intervals(
        figures,
        (ranked_score, ranked_choice, full_score, full_choice, target_sign),
        used_per_config,
        budget_per_config,
        scale=curves.regret_scale,
        top_size=top_size,
        k=k,
        new_configs=new_configs,
        level=level,
        rng=rng,
        draws=draws,
    )
    return SearchFigures(figures, n_configs, 0)


def _add_intervals(
    figures: dict[str, np.ndarray],
    scores: tuple[_Ranked, _Ranked, np.ndarray, np.ndarray, float],
    used_per_config: np.ndarray,
    budget_per_config: np.ndarray,
    *,
    scale: float | None,
    top_size: int,
    k: int,
    new_configs: int,
    level: float,
    rng: np.random.Generator,
    draws: int,
) -> None:
    """Adds the intervals of the best and selected models' regrets and of the compute used to ``figures``.

    ``scores``: the ranked scores and choices of the configurations, their scores and
    choices trained to the budget, and the target's sign (:func:`search_figures`).
    """
    ranked_score, ranked_choice, full_score, full_choice, target_sign = scores
    n_configs, n_candidates = used_per_config.shape
    simulated: dict[str, list[np.ndarray]] = {"best_regret": [], "selected_regret": [], "compute_used": []}
    block = max(1, _BLOCK_ELEMENTS // max(1, max(n_configs, k * n_candidates)))
    used32, budget32 = used_per_config.astype(np.float32), budget_per_config.astype(np.float32)
    for start in range(0, draws, block):
        size = min(block, draws - start)
        weights32 = new_search_weights(rng, size, n_configs, new_configs)
        with np.errstate(invalid="ignore", divide="ignore"):
            compute = (weights32 @ used32).astype(float) / (weights32 @ budget32)[:, None]
        simulated["compute_used"].append(compute)
        # The best of a new search, drawn from an m-out-of-M population (see _top_population). Only
        # which configurations it holds matters: the population's picked places, the unpicked ones
        # filled with a picked one, so the work grows with m, not with N.
        draws_at = np.arange(size)[:, None]
        top_population = rng.integers(n_configs, size=(size, top_size))
        picks = rng.integers(top_size, size=(size, new_configs))
        picked = np.zeros((size, top_size), dtype=bool)
        picked[draws_at, picks] = True
        top_drawn = np.where(picked, top_population, top_population[draws_at, picks[:, :1]])
        present = np.zeros((size, n_configs), dtype=bool)
        present[draws_at, top_drawn] = True
        best, selected = _figures_of(
            top_drawn, present, ranked_score, ranked_choice, full_score, full_choice, target_sign, scale
        )
        simulated["best_regret"].append(best)
        simulated["selected_regret"].append(selected)
    tail = (1.0 - level) / 2.0
    for name, parts in simulated.items():
        values = np.concatenate(parts)
        # "nearest": infinite regrets (a non-finite target at the stop) stay infinite, never NaN.
        figures[f"{name}_low"], figures[f"{name}_high"] = np.quantile(
            values, [tail, 1.0 - tail], axis=0, method="nearest"
        )
    # Compute used is a mean over configurations like the per-curve figures: the same small-sample
    # widening, so that with equal budgets it agrees with their epochs saved.
    widen = small_sample_widening(n_configs, new_configs, level)
    center = figures["compute_used"]
    figures["compute_used_low"] = np.clip(center - widen * np.maximum(center - figures["compute_used_low"], 0), 0, 1)
    figures["compute_used_high"] = np.clip(center + widen * np.maximum(figures["compute_used_high"] - center, 0), 0, 1)


def _top_population(n_configs: int) -> int:
    """Configurations of the population the best and selected models of a simulated search are drawn from.

    The bootstrap of a maximum is inconsistent: resampling M observed configurations as
    the population hands every simulated search the observed top configurations too often,
    and the best model of a new search, whose top configurations were never seen, varies
    more than that. Drawing the population as m = M^(2/3) of them (the m-out-of-n
    bootstrap, consistent for extremes) lets simulated searches miss the observed top as a
    new search does. On synthetic searches from a known population (30 configurations) the
    best-model interval's coverage rose from 60% to 73% at 80%.
    """
    return max(2, min(n_configs, int(np.ceil(n_configs ** (2.0 / 3.0)))))


def best_model_value(curves: CurveSet, config_index: np.ndarray, target: str, target_mode: str) -> float:
    """The search's best model trained to the budget: the best fold mean of ``target`` at the curves' last epochs,
    among the configurations whose curves all ran their budget where there are any (NaN where none has one)."""
    trials = best_model_trials(curves, config_index, target, target_mode)
    return float(np.mean(_last_values(curves, target)[trials])) if trials.any() else float("nan")


def best_model_trials(curves: CurveSet, config_index: np.ndarray, target: str, target_mode: str) -> np.ndarray:
    """Which curves are the best model's (:func:`best_model_value`): a mask, all False where no configuration has a
    finite fold mean."""
    last = _last_values(curves, target)
    _, local = np.unique(config_index, return_inverse=True)
    score = np.bincount(local, weights=last) / np.bincount(local)
    whole = np.bincount(local, weights=~curves.complete) == 0  # every curve of the configuration ran its budget
    eligible = np.isfinite(score) & (whole if whole.any() else True)
    if not eligible.any():
        return np.zeros(len(local), dtype=bool)
    sign = mode_sign(target_mode)
    best = int(np.argmin(np.where(eligible, sign * score, np.inf)))
    return local == best


def _last_values(curves: CurveSet, column: str) -> np.ndarray:
    """Each curve's ``column`` at its last epoch."""
    return curves.matrix(column)[np.arange(len(curves.trial_ids)), curves.lengths - 1]


def best_model_noise(curves: CurveSet, config_index: np.ndarray, target: str, target_mode: str) -> float:
    """How much the best model of the search moves by chance when it trains one epoch more or less.

    A configuration's data folds share its hyperparameters, so they share the trend of its
    curve; what one more epoch gains differs between them by chance alone. Over the last
    :data:`NOISE_EPOCHS` epochs of the best configurations (the best :data:`TOP_SHARE` by
    the fold-mean target at the budget), the variance across folds of one epoch's gain,
    divided by the number of folds, is that of the fold-mean score's move: its square
    root, relative to the best score, is a floor under any tolerance on the best model,
    which a policy that stops one epoch earlier may cross by luck alone. Gains that are not
    finite are left out. NaN unless every curve ran its whole budget of more than
    :data:`NOISE_EPOCHS` epochs and the best configurations have two folds with finite gains.
    """
    if not len(config_index) or not curves.complete.all() or curves.lengths.min() <= NOISE_EPOCHS:
        return np.nan
    values = curves.matrix(target)
    sign = mode_sign(target_mode)
    configs, local = np.unique(config_index, return_inverse=True)
    last = values[np.arange(len(values)), curves.lengths - 1]
    score = np.bincount(local, weights=last) / np.bincount(local)
    ranked = np.argsort(np.where(np.isnan(score), np.inf, sign * score), kind="stable")
    variances, folds = [], []
    for config in ranked[: max(1, int(np.ceil(TOP_SHARE * len(configs))))]:
        members = np.flatnonzero(local == config)
        ends = curves.lengths[members] - 1
        for back in range(NOISE_EPOCHS):
            gain = values[members, ends - back] - values[members, ends - back - 1]
            gain = gain[np.isfinite(gain)]  # a fold whose target is not finite there says nothing
            if len(gain) >= 2:
                variances.append(np.var(gain, ddof=1))
                folds.append(len(gain))
    best = score[ranked[0]]
    if not variances or not np.isfinite(best):
        return np.nan
    # Relative to the best score, as the regrets are (absolute where it is 0, as relative_regret), or to the
    # curves' regret scale where they have one.
    scale = curves.regret_scale if curves.regret_scale is not None else abs(best) if best != 0 else 1.0
    return float(np.sqrt(np.mean(variances) / np.mean(folds)) / scale)


def realized_search(
    result: PolicyReplay, curves: CurveSet, selection: str, selection_mode: str, target_mode: str
) -> dict[str, float]:
    """The search-level figures of the first candidate of ``result`` on all of ``curves``, without intervals.

    What a search that has run realized: the figures of :func:`search_figures` on its own
    configurations, the user selecting by ``selection``.
    """
    _, config_index = np.unique(np.asarray(curves.config_ids).astype(str), return_inverse=True)
    figures = search_figures(
        result,
        curves,
        config_index,
        curves.matrix(selection),
        selection_mode,
        target_mode,
        new_configs=1,
        level=0.8,
        rng=np.random.default_rng(0),
        draws=0,
    )
    return {name: float(figures[name][0]) for name in ("best_regret", "selected_regret", "compute_used")}
