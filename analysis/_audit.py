"""Predicted against realized: a search's audit trials measure what its recommended policy did there.

A search run with ``--stoppers stoppers.yaml --audit-fraction F`` trains a seeded share
of its configurations (all their folds) to the budget while the stoppers only record,
and ASHA never cuts them. Their whole curves are unbiased: replaying the policy on them
(the same replay the recommendation came from) gives its realized regret, epochs saved
and search-level figures in this very search, to set beside what ``tune-stop recommend``
predicted. Compute used is realized on the other trials, which ran under the policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from analysis._policies import Policy
from analysis._replay import CurveSet, replay_policy
from analysis._search import realized_search
from analysis._snapshot import kept_columns
from tune_stop.experiment import ExperimentRecord

__all__ = ["AUDIT_COLUMNS", "audit_table"]

#: ``side``: ``inside``, ``above`` or ``below`` the interval, or ``not comparable``.
AUDIT_COLUMNS = ["quantity", "predicted", "low", "high", "realized", "outside", "side", "judged_on"]


def _for_size(
    point: float, low: float, high: float, observed: int | None, new: int, size: int, bounds: tuple[float, float]
) -> tuple[float, float]:
    """An interval for a mean of ``new`` configurations, rescaled to one of ``size`` (normal theory).

    The spread of a new search's mean over configurations goes as ``1/M + 1/N`` for M
    observed and N new ones (:func:`analysis._intervals.predicted_means`); the result
    stays within ``bounds``, what the figure can be.
    """
    if not observed or size == new or size < 1:
        return low, high
    scale = float(np.sqrt((1 / observed + 1 / size) / (1 / observed + 1 / new)))
    return max(point - scale * (point - low), bounds[0]), min(point + scale * (high - point), bounds[1])


def _policy(block: Mapping[str, Any]) -> Policy:
    spec = block["policy"]
    return Policy(
        spec["family"],
        spec["metric"],
        spec["mode"],
        (float(spec["value"]),),
        train_metric=spec.get("train_metric"),
        settings=spec.get("settings") or {},
        check_finite=bool(spec.get("check_finite", False)),
    )


def audit_table(curves: pd.DataFrame, record: ExperimentRecord) -> pd.DataFrame | None:
    """Each predicted figure beside its realized value in the search, or None without audit trials.

    Args:
        curves: The experiment's curves (:func:`analysis.load_experiment`).
        record: Its record: ``prediction`` (the ``recommendation:`` block of the stoppers
            file) and ``audited_configs``.

    Returns:
        One row per figure, columns :data:`AUDIT_COLUMNS`; ``outside`` says whether the
        realized value lies outside the predicted interval.

    Raises:
        ValueError: If the prediction block is malformed or names what the curves lack.
    """
    block, audited = record.prediction, record.audited_configs
    if not block or not audited or "config_id" not in curves:
        return None
    try:
        policy = _policy(block)
        target, target_mode = str(block["target"]), str(block["target_mode"])
        selection, selection_mode = (str(v) for v in block["selection"])
        # Audit trials run the policy without ASHA: compare them with its figures alone where recorded.
        recorded = block.get("audit_predicted") or block["predicted"]
        predicted = {str(k): [float(x) for x in v] for k, v in recorded.items()}
        new_configs = int(block["new_configs"])
        observed = int(block["observed_configs"]) if block.get("observed_configs") else None
        scale = float(block["regret_scale"]) if block.get("regret_scale") is not None else None
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"the experiment's recorded prediction is unusable ({error})") from None
    kept_by = block.get("kept_by")
    if kept_by:  # predicted at the best snapshot: the audit curves are judged so too
        monitor, monitor_mode = (str(v) for v in kept_by)
        if monitor not in curves or target not in curves:
            raise ValueError(
                f"the prediction keeps snapshots by {monitor!r} and judges {target!r}: the curves lack one"
            )
        curves, target, kept_selection = kept_columns(curves, monitor, monitor_mode, target)
        selection = kept_selection if selection == monitor else selection
    in_audit = pd.to_numeric(curves["config_id"], errors="coerce").isin([int(c) for c in audited])
    # Predicted in the target's points over one number: the realized regrets are measured so too.
    audit = dataclasses.replace(CurveSet.from_frame(curves[in_audit]), regret_scale=scale)
    others = CurveSet.from_frame(curves[~in_audit]) if (~in_audit).any() else None
    for name in (target, selection, policy.metric):
        if name not in audit.frame:
            raise ValueError(f"the prediction reads {name!r}, which the curves lack")
    result = replay_policy(policy, audit, target, target_mode)
    evaluable = result.evaluable[:, 0]
    n_configs = len(np.unique(audit.config_ids.astype(str)))
    realized: dict[str, tuple[float, str]] = {
        "regret": (float(result.regret[evaluable, 0].mean()), f"{int(evaluable.sum())} audit curves"),
        "epochs_saved": (float(result.epochs_saved[evaluable, 0].mean()), f"{int(evaluable.sum())} audit curves"),
    }
    if audit.complete.all():
        figures = realized_search(result, audit, selection, selection_mode, target_mode)
        for name in ("best_regret", "selected_regret"):
            plural = "s" if n_configs != 1 else ""
            realized[name] = (figures[name], f"a search of its {n_configs} audit configuration{plural}")
    if others is not None:
        used = float(others.lengths.sum() / others.budgets.sum())
        realized["compute_used"] = (used, f"the {len(others.trial_ids)} trials that ran under the policy")
    rows = []
    for name, (value, judged_on) in realized.items():
        point, low, high = predicted.get(name, [np.nan, np.nan, np.nan])
        side = "inside"
        if name in ("regret", "epochs_saved") and n_configs != new_configs:
            # A mean over the audit's configurations: the interval for a search of that size. Regret against
            # the curve's best epoch is never negative; a share saved is at most 1.
            bounds = (0.0, 1.0 if name == "epochs_saved" else np.inf)
            low, high = _for_size(point, low, high, observed, new_configs, n_configs, bounds)
            if observed:
                judged_on += f" (interval for {n_configs} configuration{'s' if n_configs != 1 else ''})"
        if name in ("best_regret", "selected_regret") and n_configs < new_configs:
            # The best of a few configurations is not the best of the search the interval is for.
            side = "not comparable"
        elif np.isfinite(low) and np.isfinite(high) and not low <= value <= high:
            side = "above" if value > high else "below"
        rows.append([name, point, low, high, value, side in ("above", "below"), side, judged_on])
    table = pd.DataFrame(rows, columns=AUDIT_COLUMNS)
    table.attrs["fired"] = int((result.triggered[:, 0] & evaluable).sum())
    table.attrs["audit_curves"] = int(evaluable.sum())
    return table
