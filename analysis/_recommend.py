"""K-fold cross-validated recommendation of stopping-policy parameters.

For each data fold k, the candidate is chosen on the curves of the other folds by the
objective and evaluated on fold k's curves; the mean and standard deviation across
folds are the error bars. The recommended value is then chosen on all folds.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis._ceiling import SavingsCeiling, savings_ceiling
from analysis._defaults import TRAIN_METRICS, default_metrics, default_target, infer_mode
from analysis._policies import baseline_policies, candidate_policies
from analysis._replay import CurveSet, PolicyReplay, replay_policy
from tune_stop.stoppers import FAMILIES

__all__ = [
    "OBJECTIVES",
    "RECOMMENDATION_COLUMNS",
    "Analysis",
    "analyse",
    "choose_candidate",
    "default_metrics",
    "default_target",
    "infer_mode",
    "recommend",
]

OBJECTIVES = ("tolerance", "tradeoff")

RECOMMENDATION_COLUMNS = [
    "policy",
    "metric",
    "mode",
    "parameter",
    "recommended",
    "cv_regret_mean",
    "cv_regret_std",
    "cv_epochs_saved_mean",
    "cv_epochs_saved_std",
    "trigger_rate",
    "n_curves",
    "n_censored",
    "n_folds",
    "kind",
    "target",
    "regret_all",
    "epochs_saved_all",
    "description",
]


@dataclass(frozen=True)
class _Stats:
    """Per-candidate statistics over a set of curves, arrays of shape ``(n_candidates,)``."""

    n_evaluable: np.ndarray
    n_censored: np.ndarray
    regret: np.ndarray
    epochs_saved: np.ndarray
    trigger_rate: np.ndarray


def _stats(result: PolicyReplay, mask: np.ndarray) -> _Stats:
    evaluable = result.evaluable & mask[:, None]
    count = evaluable.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        regret = np.where(evaluable, result.regret, 0.0).sum(axis=0) / count
        saved = np.where(evaluable, result.epochs_saved, 0.0).sum(axis=0) / count
        trigger = (evaluable & result.triggered).sum(axis=0) / count
    return _Stats(count, mask.sum() - count, regret, saved, trigger)


def choose_candidate(stats: _Stats, objective: str, tolerance: float, penalty: float) -> int | None:
    """Index of the chosen candidate, or None when no candidate is evaluable.

    ``tolerance``: the most epochs saved with mean relative regret ``<= tolerance``
    (ties: lower regret, then the earlier candidate); if none qualifies, the lowest
    regret. ``tradeoff``: the highest ``-regret + penalty * epochs_saved``.
    """
    valid = (stats.n_evaluable > 0) & np.isfinite(stats.regret)
    if not valid.any():
        return None
    index = np.arange(len(valid))
    if objective == "tradeoff":
        score = np.where(valid, -stats.regret + penalty * stats.epochs_saved, -np.inf)
        return int(np.argmax(score))
    feasible = valid & (stats.regret <= tolerance)
    if feasible.any():
        # lexsort: last key is primary. Most saved, then least regret, then earliest.
        order = np.lexsort((index, stats.regret, -stats.epochs_saved, ~feasible))
        return int(order[0])
    return int(np.argmin(np.where(valid, stats.regret, np.inf)))


@dataclass
class Analysis:
    """Everything ``tune-stop recommend`` reports.

    Attributes:
        recommendations: One row per (metric, policy), columns :data:`RECOMMENDATION_COLUMNS`.
        candidates: Every candidate with its cross-validated statistics (``policies.csv``).
        fold_choices: Per (metric, policy, held-out fold): the candidate chosen on the other
            folds (``value``) and its held-out ``regret``, ``epochs_saved``, ``trigger_rate``.
        replays: The replay of every policy, for plots.
        curves: The curve matrices.
        target, target_mode: The quality judged at the stop epoch.
        ceiling: The most epochs any rule could save within the tolerance (hindsight bound).
    """

    recommendations: pd.DataFrame
    candidates: pd.DataFrame
    fold_choices: pd.DataFrame = field(default_factory=pd.DataFrame)
    replays: list[tuple[PolicyReplay, int | None, str]] = field(default_factory=list)
    curves: CurveSet | None = None
    target: str = ""
    target_mode: str = "max"
    ceiling: SavingsCeiling | None = None


def _cross_validate(
    result: PolicyReplay, folds: np.ndarray, objective: str, tolerance: float, penalty: float
) -> tuple[dict[str, float], list[tuple[object, int | None, float, float, float]], list[_Stats]]:
    """Held-out statistics of the candidate chosen without each fold."""
    per_fold: list[tuple[float, float, float]] = []
    records: list[tuple[object, int | None, float, float, float]] = []
    chosen: list[int | None] = []
    held_out: list[_Stats] = []
    for fold in np.unique(folds):
        train, test = folds != fold, folds == fold
        index = choose_candidate(_stats(result, train), objective, tolerance, penalty)
        test_stats = _stats(result, test)
        held_out.append(test_stats)
        chosen.append(index)
        outcome = (np.nan, np.nan, np.nan)
        if index is not None and test_stats.n_evaluable[index] > 0:
            outcome = (
                test_stats.regret[index],
                test_stats.epochs_saved[index],
                test_stats.trigger_rate[index],
            )
            per_fold.append(outcome)
        records.append((fold, index, *outcome))
    values = np.array(per_fold, dtype=float).reshape(-1, 3)
    ddof = 1 if len(values) > 1 else 0
    summary = {
        "cv_regret_mean": float(values[:, 0].mean()) if len(values) else np.nan,
        "cv_regret_std": float(values[:, 0].std(ddof=ddof)) if len(values) else np.nan,
        "cv_epochs_saved_mean": float(values[:, 1].mean()) if len(values) else np.nan,
        "cv_epochs_saved_std": float(values[:, 1].std(ddof=ddof)) if len(values) else np.nan,
        "trigger_rate": float(values[:, 2].mean()) if len(values) else np.nan,
    }
    return summary, records, held_out


def analyse(
    curves: pd.DataFrame | CurveSet,
    *,
    metrics: Sequence[tuple[str, str]] | None = None,
    target: str | None = None,
    target_mode: str | None = None,
    families: Sequence[str] = tuple(FAMILIES),
    tolerance: float = 0.01,
    objective: str = "tolerance",
    penalty: float = 0.05,
    threshold_count: int = 100,
    baselines: bool = True,
    settings: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
) -> Analysis:
    """Replays the policies and recommends each one's parameter by K-fold cross-validation.

    Args:
        curves: Long learning curves (``trial_id``, ``epoch``, metrics, ``fold``) or a CurveSet.
        metrics: ``(metric, mode)`` pairs to stop on; default: validation metrics present.
        target: Quality judged at the stop epoch; default ``test_accuracy`` or ``fid``.
        target_mode: Direction of the target; inferred from its name by default.
        families: Policy families to tune.
        tolerance: Largest mean relative regret of the ``tolerance`` objective (0.01 = 1%).
        objective: ``tolerance`` (fewest epochs within the tolerance) or ``tradeoff``
            (best ``-regret + penalty * epochs_saved``).
        penalty: Weight of the epochs saved in the ``tradeoff`` objective.
        threshold_count: Number of threshold candidates (quantiles of the observed range).
        baselines: Add rows for Keras' and Lightning's default patience and Prechelt's GL/PQ/UP.
        settings: The live stoppers' fixed arguments, per family and metric, that the
            replay keeps while it tunes the family's parameter, e.g. ``{"threshold":
            {"d_accuracy": {"grace_period": 5}}, "patience": {"val_loss": {"min_delta":
            0.001}}}``; the metric ``"*"`` stands for every metric not named.
            each family's ``settings`` in :data:`tune_stop.stoppers.FAMILIES` lists
            them; a search records its space's as
            :meth:`search_spaces.SearchSpace.replay_settings`. Baselines keep theirs.

    Raises:
        ValueError: For an unknown objective or family, a bad tolerance, or a metric or
            target missing from the curves.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {list(OBJECTIVES)}, but got objective={objective!r}.")
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite number >= 0, but got tolerance={tolerance!r}.")
    for family in families:
        if family not in FAMILIES:
            raise ValueError(f"policy must be one of {list(FAMILIES)}, but got policy={family!r}.")
    settings = settings or {}
    for family, per_metric in settings.items():
        allowed = FAMILIES[family].settings if family in FAMILIES else ()
        for metric, arguments in per_metric.items():
            unknown = sorted(set(arguments) - set(allowed))
            if unknown:
                raise ValueError(
                    f"settings for {family} on {metric!r}: {unknown} cannot be set (allowed: {list(allowed)})."
                )
    curve_set = curves if isinstance(curves, CurveSet) else CurveSet.from_frame(curves)
    columns = list(curve_set.frame.columns)
    metrics = list(metrics) if metrics is not None else default_metrics(columns)
    if not metrics:
        raise ValueError("no metric to analyse: give --metric (none of val_loss, val_accuracy, fid is present).")
    if target is None:
        found = default_target(columns)
        target, inferred = found if found is not None else (metrics[0][0], metrics[0][1])
        target_mode = target_mode or inferred
    target_mode = target_mode or infer_mode(target)
    for name, role in [*((m, "metric") for m, _ in metrics), (target, "target")]:
        if name not in columns:
            reported = ", ".join(c for c in columns if not c.startswith("config/") and not c.startswith("_"))
            raise ValueError(f"{role} {name!r} is not in the curves; they have: {reported}")

    folds = curve_set.folds
    n_folds = len(np.unique(folds))
    if n_folds < 2:
        warnings.warn(
            f"only {n_folds} fold: cross-validation is not possible, so the cv_* columns are empty.",
            stacklevel=2,
        )
    elif np.bincount(np.unique(folds, return_inverse=True)[1]).min() < 3:
        warnings.warn("fewer than 3 curves in some fold: the cross-validated figures are very noisy.", stacklevel=2)

    rows, candidate_rows, replays, fold_rows = [], [], [], []
    for metric, mode in metrics:
        train_metric = TRAIN_METRICS.get(metric) if TRAIN_METRICS.get(metric) in columns else None
        values = curve_set.matrix(metric)
        fixed = {family: per_metric.get(metric, per_metric.get("*", {})) for family, per_metric in settings.items()}
        try:
            policies = candidate_policies(families, metric, mode, values, train_metric, threshold_count, fixed)
        except ValueError as error:
            raise ValueError(f"settings for {metric!r}: {error}") from None
        if not policies:
            raise ValueError(
                f"none of the policies {', '.join(families)} applies to {metric} (mode={mode}): gl, pq and up "
                "are defined on errors (mode='min'), and pq needs the training loss."
            )
        kinds = ["recommended"] * len(policies)
        if baselines:
            extra = baseline_policies(metric, mode, train_metric)
            policies += extra
            kinds += ["baseline"] * len(extra)
        for policy, kind in zip(policies, kinds, strict=True):
            result = replay_policy(policy, curve_set, target, target_mode)
            summary, records, held_out = _cross_validate(result, folds, objective, tolerance, penalty)
            chosen = [record[1] for record in records]
            fold_rows += [
                {
                    "policy": policy.name,
                    "metric": metric,
                    "fold": fold,
                    "value": policy.candidates[index] if index is not None else np.nan,
                    "regret": regret,
                    "epochs_saved": saved,
                    "trigger_rate": trigger,
                }
                for fold, index, regret, saved, trigger in records
            ]
            all_stats = _stats(result, np.ones(len(folds), dtype=bool))
            best = choose_candidate(all_stats, objective, tolerance, penalty)
            replays.append((result, best, kind))
            value = policy.candidates[best] if best is not None else np.nan
            rows.append(
                {
                    "policy": policy.name,
                    "metric": metric,
                    "mode": mode,
                    "parameter": policy.parameter,
                    "recommended": value,
                    **summary,
                    "n_curves": len(folds),
                    "n_censored": int(all_stats.n_censored[best]) if best is not None else len(folds),
                    "n_folds": n_folds,
                    "kind": kind,
                    "target": target,
                    "regret_all": float(all_stats.regret[best]) if best is not None else np.nan,
                    "epochs_saved_all": float(all_stats.epochs_saved[best]) if best is not None else np.nan,
                    "description": policy.describe(value) if best is not None else "no evaluable curve",
                }
            )
            held_regret = np.array([s.regret for s in held_out])
            held_saved = np.array([s.epochs_saved for s in held_out])
            held_trigger = np.array([s.trigger_rate for s in held_out])
            ddof = 1 if n_folds > 1 else 0
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                candidate_rows.append(
                    pd.DataFrame(
                        {
                            "policy": policy.name,
                            "metric": metric,
                            "mode": mode,
                            "parameter": policy.parameter,
                            "value": np.asarray(policy.candidates, dtype=float),
                            "kind": kind,
                            "regret_all": all_stats.regret,
                            "epochs_saved_all": all_stats.epochs_saved,
                            "trigger_rate_all": all_stats.trigger_rate,
                            "cv_regret_mean": np.nanmean(held_regret, axis=0),
                            "cv_regret_std": np.nanstd(held_regret, axis=0, ddof=ddof),
                            "cv_epochs_saved_mean": np.nanmean(held_saved, axis=0),
                            "cv_epochs_saved_std": np.nanstd(held_saved, axis=0, ddof=ddof),
                            "cv_trigger_rate": np.nanmean(held_trigger, axis=0),
                            "n_evaluable": all_stats.n_evaluable,
                            "n_censored": all_stats.n_censored,
                            "chosen_in_folds": [sum(c == i for c in chosen) for i in range(len(policy.candidates))],
                            "recommended": np.arange(len(policy.candidates)) == best,
                        }
                    )
                )
    return Analysis(
        recommendations=pd.DataFrame(rows, columns=RECOMMENDATION_COLUMNS),
        candidates=pd.concat(candidate_rows, ignore_index=True),
        fold_choices=pd.DataFrame(fold_rows),
        replays=replays,
        curves=curve_set,
        target=target,
        target_mode=target_mode,
        ceiling=savings_ceiling(curve_set, target, target_mode, tolerance),
    )


def recommend(curves: pd.DataFrame | CurveSet, **options: object) -> pd.DataFrame:
    """The recommendations table of :func:`analyse` (one row per metric and policy)."""
    return analyse(curves, **options).recommendations  # type: ignore[arg-type]
