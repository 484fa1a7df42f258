"""How :func:`analysis.analyse` is asked to choose: one options object, stored unchanged, checked at use."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis._asha import AshaSpec
from analysis._defaults import DEFAULT_INTERVAL, DEFAULT_PENALTY, DEFAULT_TOLERANCE
from tune_stop.stoppers import FAMILIES

__all__ = ["OBJECTIVES", "AnalysisOptions"]

OBJECTIVES = ("tolerance", "search", "tradeoff")


@dataclass(frozen=True, kw_only=True)
class AnalysisOptions:
    """What to replay and how to choose each policy's parameter for the next search.

    Keyword-only and stored as given; :meth:`validate` checks what can be checked without
    the curves, and the analysis checks the rest (columns, directions) when it reads them.

    Attributes:
        metrics: ``(metric, mode)`` pairs to stop on; default: validation metrics present.
        target: Quality judged at the stop epoch; default ``test_accuracy`` or ``fid``.
        target_mode: Direction of the target; inferred from its name by default.
        families: Policy families to tune.
        tolerance: Largest relative regret (0.01 = 1%), met by the upper end of its interval.
        tolerance_points: Instead of ``tolerance``, the largest loss in the target's own units
            (FID points). Every regret is then that loss divided by one number, the best model's
            target trained to the budget in these curves (:attr:`CurveSet.regret_scale`), and the
            tolerance is ``tolerance_points`` divided by it: a share reads as a share of that number
            in every search, simulated or held out, not of each search's own best.
        tolerance_sd: Instead, the tolerance in multiples of the estimator's own standard deviation
            at the best model (a GAN's ``fid_sd``): ``tolerance_points`` is this times the mean of
            ``<metric>_sd`` over the last 5 epochs of every fold of the configuration with the best fold
            mean of ``<metric>`` at the last epoch, where ``<metric>`` is the target if it has a ``_sd``
            column, else the selection metric (``fid`` for ``fid_test``: the same estimator against
            another split).
        default_sds: Where neither ``tolerance_points`` nor ``tolerance_sd`` is given and the curves
            carry such an SD column, ``tolerance_sd`` is this (``tune-stop recommend`` gives 2 where
            no tolerance flag is given); None: ``tolerance`` holds.
        objective: ``tolerance`` (the most epochs saved whose mean per-curve regret
            interval stays within the tolerance), ``search`` (the least compute used whose
            best-model and selected-model regret intervals stay within it; needs curves that
            ran their whole budget) or ``tradeoff`` (best ``-regret + penalty * epochs_saved``).
        penalty: Weight of the epochs saved in the ``tradeoff`` objective.
        threshold_count: Number of threshold candidates (quantiles of the observed range).
        baselines: Add rows for Keras' and Lightning's defaults and Prechelt's GL/PQ/UP.
        settings: The live stoppers' fixed arguments, per family and metric, that the
            replay keeps while it tunes the family's parameter, e.g. ``{"threshold":
            {"d_accuracy": {"grace_period": 5}}, "patience": {"val_loss": {"min_delta":
            0.001}}}``; the metric ``"*"`` stands for every metric not named. Each
            family's ``settings`` in :data:`tune_stop.stoppers.FAMILIES` lists them; a
            search records its space's in its experiment record. Baselines keep theirs.
        interval: Level of the prediction intervals, in (0, 1).
        new_configs: Configurations in the next search the intervals are for; default:
            as many as the curves have.
        groups: Most groups of configurations in the cross-validation (each held out
            in turn, crossed with the data folds).
        seed: Seed of the grouping and the resampling.
        selection: ``(metric, mode)`` by which a user selects the configuration a search
            ends with (the search-level figures); default: the first of ``metrics``.
        keep_best: Judge each stop by the best snapshot up to it (the epoch with the best
            selection metric, as a user who keeps the best checkpoint gets), and training
            everything by its best snapshot too (:mod:`analysis._snapshot`).
        asha: The ASHA the next search runs beside the policy: every figure is then of
            the policy beside this ASHA, replayed by :func:`analysis.simulate_asha` with
            the trials starting in the order of their ids, and a baseline row gives ASHA
            alone (``asha_alone``). Needs curves that ran their whole budget.
    """

    metrics: Sequence[tuple[str, str]] | None = None
    target: str | None = None
    target_mode: str | None = None
    families: Sequence[str] = tuple(FAMILIES)
    tolerance: float = DEFAULT_TOLERANCE
    tolerance_points: float | None = None
    tolerance_sd: float | None = None
    default_sds: float | None = None
    objective: str = "tolerance"
    penalty: float = DEFAULT_PENALTY
    threshold_count: int = 100
    baselines: bool = True
    settings: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = field(default=None, repr=False)
    interval: float = DEFAULT_INTERVAL
    new_configs: int | None = None
    groups: int = 5
    seed: int = 0
    selection: tuple[str, str] | None = None
    asha: AshaSpec | None = None
    keep_best: bool = False

    def _validate_absolute_tolerance(self) -> None:
        """Checks ``tolerance_points`` and ``tolerance_sd``: each None or a finite number > 0, not both."""
        given_in_units = (
            ("tolerance_points", self.tolerance_points),
            ("tolerance_sd", self.tolerance_sd),
            ("default_sds", self.default_sds),
        )
        for name, given in given_in_units:
            if given is not None and (isinstance(given, bool) or not np.isfinite(given) or given <= 0):
                raise ValueError(f"{name} must be a finite number > 0, but got {name}={given}.")
        if self.tolerance_points is not None and self.tolerance_sd is not None:
            raise ValueError("give tolerance_points or tolerance_sd, not both")

    def validate(self) -> None:
        """Checks every option that does not depend on the curves.

        Raises:
            ValueError: For an unknown objective or family, a bad tolerance, interval or
                size, or settings a family cannot keep fixed.
        """
        objective, tolerance, interval = self.objective, self.tolerance, self.interval
        new_configs, groups = self.new_configs, self.groups
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {list(OBJECTIVES)}, but got {objective=}.")
        if not np.isfinite(tolerance) or tolerance < 0:
            raise ValueError(f"tolerance must be a finite number >= 0, but got {tolerance=}.")
        self._validate_absolute_tolerance()
        if not 0 < interval < 1:
            raise ValueError(f"interval must be in (0, 1), but got {interval=}.")
        if new_configs is not None and (
            isinstance(new_configs, bool) or not isinstance(new_configs, int) or new_configs < 1
        ):
            raise ValueError(f"new_configs must be an integer >= 1, but got {new_configs=}.")
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
            raise ValueError(f"groups must be an integer >= 2, but got {groups=}.")
        modes = [("target_mode", self.target_mode)] if self.target_mode is not None else []
        modes += [(f"the mode of {metric!r}", mode) for metric, mode in self.metrics or ()]
        modes += [("the selection's mode", self.selection[1])] if self.selection is not None else []
        for what, mode in modes:
            if mode not in ("min", "max"):
                raise ValueError(f"{what} must be 'min' or 'max', but got {mode!r}.")
        for family in self.families:
            if family not in FAMILIES:
                raise ValueError(f"policy must be one of {list(FAMILIES)}, but got policy={family!r}.")
        for family, per_metric in (self.settings or {}).items():
            allowed = FAMILIES[family].settings if family in FAMILIES else ()
            for metric, arguments in per_metric.items():
                unknown = sorted(set(arguments) - set(allowed))
                if unknown:
                    raise ValueError(
                        f"settings for {family} on {metric!r}: {unknown} cannot be set (allowed: {list(allowed)})."
                    )
