"""Recommendation of stopping-policy parameters for the user's next search: the pipeline.

For every policy the replay gives each candidate's outcome on every curve. With the
``tolerance`` objective the recommended candidate is the one that saves the most epochs
while the *upper* end of its mean per-curve regret interval, for a new search of
``new_configs`` configurations, stays within the tolerance. With the ``search`` objective
it is the one that uses the least compute while the upper ends of the search's
best-model and selected-model regret intervals (:mod:`analysis._search`) stay within it.
The same rule is checked by grouped cross-validation: in each cell it chooses on the
other configurations (on the other data folds) and is judged on the held-out ones, which
report how often the choice stayed within the tolerance.

:func:`analyse` runs the steps: the options checked (:mod:`analysis._options`) and read
against the curves (:mod:`analysis._inputs`), the candidates of each policy
(:mod:`analysis._policies`) replayed (:mod:`analysis._replay`, beside ASHA where asked) and
judged (:mod:`analysis._policy_rows`), then gathered in an :class:`Analysis`.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis._asha import AshaSpec, simulate_asha
from analysis._ceiling import SavingsCeiling, savings_ceiling
from analysis._choice import Choice, rank_rows
from analysis._context import Context
from analysis._defaults import DEFAULT_INTERVAL, DEFAULT_TOLERANCE, TRAIN_METRICS
from analysis._inputs import Inputs, columns_of, resolve
from analysis._options import OBJECTIVES, AnalysisOptions
from analysis._policies import Policy, baseline_policies, candidate_policies
from analysis._policy_rows import policy_rows
from analysis._replay import CurveSet, PolicyReplay, replay_policy, stop_epochs
from analysis._search import NOISE_EPOCHS, SEARCH_COLUMNS, best_model_trials, best_model_value
from analysis._snapshot import kept_columns, unkept
from analysis._split import Split, make_split

__all__ = [
    "OBJECTIVES",
    "RECOMMENDATION_COLUMNS",
    "Analysis",
    "Recommendation",
    "analyse",
    "recommend",
]

RECOMMENDATION_COLUMNS = [
    "policy",
    "metric",
    "mode",
    "parameter",
    "recommended",
    "regret",
    "regret_low",
    "regret_high",
    "epochs_saved",
    "epochs_saved_low",
    "epochs_saved_high",
    "interval",
    "new_configs",
    "regret_vs_full",
    *SEARCH_COLUMNS,
    "search_configs",
    "chosen_within",
    "held_out_exceeded",
    "held_out_splits",
    "selection",
    "trigger_rate",
    "cv_regret_mean",
    "cv_epochs_saved_mean",
    "cv_within_tolerance",
    "cv_unit",
    "cv_groups",
    "cv_cells",
    "n_curves",
    "n_configs",
    "n_censored",
    "n_no_target",
    "n_folds",
    "kind",
    "target",
    "choice",
    "description",
]


@dataclass
class Analysis:
    """Everything ``tune-stop recommend`` reports.

    Attributes:
        recommendations: One row per (metric, policy), columns :data:`RECOMMENDATION_COLUMNS`;
            ``choice`` holds a :class:`analysis.Choice` (the report writes its sentence).
        candidates: Every candidate with its estimates and intervals (``policies.csv``).
        cv_choices: Per (metric, policy, held-out cell): the cell's ``group`` and
            ``fold``, the candidate chosen without it (``value``), and its held-out
            ``regret``, ``epochs_saved``, ``trigger_rate`` and ``within_tolerance``.
        replays: The replay of every policy with its chosen index and kind, for plots.
        curves: The curve matrices.
        split: How configurations were held out.
        target, target_mode: The quality judged at the stop epoch.
        interval: The level of the prediction intervals.
        new_configs: The size of the new search the intervals are for.
        objective: How values were chosen (:data:`OBJECTIVES`).
        tolerance: The regret tolerance of the ``tolerance`` objective.
        ceiling: The most epochs any rule could save within the tolerance (hindsight bound).
        selection: ``(metric, mode)`` by which the search-level figures select a configuration.
        asha: The ASHA replayed beside every policy, or None.
        alone: With ``asha``, the same analysis without it (the policies alone), else None.
        best_model_noise: How much the best model moves from one epoch to the next by chance
            (:func:`analysis._search.best_model_noise`; NaN without whole curves).
        kept_by: With ``keep_best``, the ``(metric, mode)`` the best snapshot was kept by; the
            target and the selection are then the kept columns (:func:`analysis._snapshot.kept_name`).
        tolerance_points: The tolerance in the target's own units, where it was given so or in SDs.
        estimator_sd: With :attr:`AnalysisOptions.tolerance_sd`, the metric whose SD sized the tolerance and that SD
            at the best model (``tolerance_points`` is the multiple of it).
        sds_by_default: Whether that tolerance in SDs is :attr:`AnalysisOptions.default_sds` (none was given).
    """

    recommendations: pd.DataFrame
    candidates: pd.DataFrame
    cv_choices: pd.DataFrame = field(default_factory=pd.DataFrame)
    replays: list[tuple[PolicyReplay, int | None, str]] = field(default_factory=list)
    curves: CurveSet | None = None
    split: Split | None = None
    target: str = ""
    target_mode: str = "max"
    interval: float = DEFAULT_INTERVAL
    new_configs: int = 0
    objective: str = "tolerance"
    tolerance: float = DEFAULT_TOLERANCE
    ceiling: SavingsCeiling | None = None
    selection: tuple[str, str] = ("", "min")
    asha: AshaSpec | None = None
    alone: Analysis | None = None
    best_model_noise: float = np.nan
    kept_by: tuple[str, str] | None = None
    tolerance_points: float | None = None
    estimator_sd: tuple[str, float] | None = None
    sds_by_default: bool = False

    @property
    def points_scale(self) -> float | None:
        """With ``tolerance_points``, the one number every regret is a share of (:attr:`CurveSet.regret_scale`):
        a regret times it is a loss in the target's own units. None where regrets are relative."""
        if self.tolerance_points is None or self.curves is None:
            return None
        return self.curves.regret_scale

    @property
    def selected_by(self) -> str:
        """The metric a user selects the configuration by, as the curves name it (with ``keep_best`` the
        selection judged is its kept column; the search, its stoppers and its guard read this one)."""
        return unkept(self.selection[0], self.kept_by)

    def recommended(self) -> Recommendation | None:
        """The one policy to run: the best of those chosen within the tolerance, or None if none was.

        Rows on the selection metric come first (the search's own metric); among them the
        best by :func:`analysis._choice.rank_rows`: the least compute used (``search``
        objective) or the most epochs saved (otherwise), then the lower regret.
        """
        table = self.recommendations
        wanted = Choice.TRADEOFF if self.objective == "tradeoff" else Choice.WITHIN
        rows = table[(table["kind"] == "recommended") & (table["choice"] == wanted)]
        if rows.empty:
            return None
        on_selection = rows[rows["metric"] == self.selected_by]
        rows = on_selection if not on_selection.empty else rows
        best = rank_rows(rows, self.objective).iloc[0]
        for result, chosen, kind in self.replays:
            policy = result.policy
            if (
                kind == "recommended"
                and chosen is not None
                and (policy.name, policy.metric) == (best["policy"], best["metric"])
            ):
                value = policy.candidates[chosen]
                row = {key: best[key] for key in RECOMMENDATION_COLUMNS}
                return Recommendation(row, dataclasses.replace(policy, candidates=(value,)), value)
        return None


@dataclass(frozen=True)
class Recommendation:
    """The one policy to run in the next search (:meth:`Analysis.recommended`).

    Attributes:
        row: Its row of :attr:`Analysis.recommendations`.
        policy: The policy, with the one recommended value as its only candidate.
        value: The recommended value.
    """

    row: dict[str, Any]
    policy: Policy
    value: float

    def specs(self) -> list[dict[str, Any]]:
        """The space-file ``stoppers:`` entries that run it."""
        return self.policy.specs(self.value)


def _policies(curves: CurveSet, options: AnalysisOptions, metric: str, mode: str) -> tuple[list[Policy], list[str]]:
    """The policies tuned on ``metric`` and their kinds (``recommended``, then the ``baseline`` rows)."""
    columns = list(curves.frame.columns)
    train_metric = TRAIN_METRICS.get(metric) if TRAIN_METRICS.get(metric) in columns else None
    settings = options.settings or {}
    fixed = {family: per_metric.get(metric, per_metric.get("*", {})) for family, per_metric in settings.items()}
    try:
        policies = candidate_policies(
            options.families, metric, mode, curves.matrix(metric), train_metric, options.threshold_count, fixed
        )
    except ValueError as error:
        raise ValueError(f"settings for {metric!r}: {error}") from None
    if not policies:
        raise ValueError(
            f"none of the policies {', '.join(options.families)} applies to {metric} (mode={mode}): gl, pq and up "
            "are defined on errors (mode='min'), and pq needs the training loss."
        )
    kinds = ["recommended"] * len(policies)
    if options.baselines:
        extra = baseline_policies(metric, mode, train_metric)
        if options.asha is not None:
            extra.append(_asha_alone(options.asha, metric, mode, int(curves.budgets.max())))
        policies += extra
        kinds += ["baseline"] * len(extra)
    return policies, kinds


def analyse(curves: pd.DataFrame | CurveSet, options: AnalysisOptions | None = None, **keywords: Any) -> Analysis:
    """Replays the policies and recommends each one's parameter for the next search.

    Args:
        curves: Long learning curves (``trial_id``, ``epoch``, metrics; ``config_id`` and
            ``fold`` when the search had them) or a CurveSet.
        options: What to replay and how to choose (:class:`AnalysisOptions`).
        **keywords: The fields of :class:`AnalysisOptions`, instead of ``options``.

    Raises:
        ValueError: For an unknown objective or family, a bad tolerance, interval or
            size, or a metric or target missing from the curves.
        TypeError: For both ``options`` and keywords, or a keyword that is no option.
    """
    if options is not None and keywords:
        raise TypeError(f"give options or keywords, not both (got options and {sorted(keywords)})")
    options = options if options is not None else AnalysisOptions(**keywords)
    options.validate()
    curve_set = curves if isinstance(curves, CurveSet) else CurveSet.from_frame(curves)
    kept_by = None
    estimator = None
    by_default = _sds_by_default(curve_set, options)
    if by_default:
        try:
            estimator = _estimator_sd(curve_set, options)
            options = dataclasses.replace(options, tolerance_points=float(options.default_sds or 0) * estimator[1])
        except ValueError:  # no usable SD at the best model: the share holds
            by_default = False
    elif options.tolerance_sd is not None:
        estimator = _estimator_sd(curve_set, options)
        options = dataclasses.replace(options, tolerance_points=options.tolerance_sd * estimator[1], tolerance_sd=None)
    if options.keep_best:
        curve_set, options, kept_by = _best_snapshots(curve_set, options)
    if options.tolerance_points is not None:
        try:
            curve_set, options = _in_points(curve_set, options)
        except ValueError:
            if not by_default:
                raise
            # No best model to take points of (its target is 0 or not a number): the default share holds.
            by_default, estimator = False, None
            options = dataclasses.replace(options, tolerance_points=None)
    inputs = resolve(curve_set, options)
    rows, candidate_rows, replays, cv_rows = [], [], [], []
    for metric, mode in inputs.metrics:
        for policy, kind in zip(*_policies(curve_set, options, metric, mode), strict=True):
            stops = _beside_asha(policy, curve_set, options.asha, inputs.ctx) if options.asha is not None else None
            result = replay_policy(policy, curve_set, inputs.ctx.target, inputs.ctx.target_mode, stops=stops)
            judged = policy_rows(policy, kind, result, curve_set, inputs.split, inputs.ctx)
            rows.append(judged.row)
            candidate_rows.append(judged.candidates)
            cv_rows += judged.cv_rows
            replays.append((result, judged.chosen, kind))
    # Beside ASHA, the same policies without it: what audit trials (never cut by ASHA) measure.
    alone = (
        analyse(
            curve_set,
            dataclasses.replace(
                options,
                metrics=inputs.metrics,
                target=inputs.ctx.target,
                target_mode=inputs.ctx.target_mode,
                selection=inputs.ctx.selection,
                baselines=False,
                asha=None,
            ),
        )
        if options.asha is not None
        else None
    )
    gathered = _gathered(curve_set, options, inputs, rows, candidate_rows, cv_rows, replays, alone)
    return dataclasses.replace(
        gathered,
        kept_by=kept_by,
        tolerance_points=options.tolerance_points,
        estimator_sd=estimator,
        sds_by_default=by_default,
    )


def _sds_by_default(curves: CurveSet, options: AnalysisOptions) -> bool:
    """Whether the tolerance is :attr:`AnalysisOptions.default_sds` SDs: asked for, no tolerance in points or SDs
    given, and the curves carry the target's or the selection metric's ``_sd`` column."""
    if options.default_sds is None or options.tolerance_points is not None or options.tolerance_sd is not None:
        return False
    with warnings.catch_warnings():  # the analysis itself warns about its columns, once
        warnings.simplefilter("ignore")
        return bool(_sd_metrics(curves, options))


def _sd_metrics(curves: CurveSet, options: AnalysisOptions) -> list[tuple[str, str]]:
    """The target and the selection metric, each with its direction, that have a ``<metric>_sd`` column."""
    _, target, target_mode, selection = columns_of(curves, options)
    columns = curves.frame.columns
    return [(m, mode) for m, mode in ((target, target_mode), selection) if f"{m}_sd" in columns]


def _estimator_sd(curves: CurveSet, options: AnalysisOptions) -> tuple[str, float]:
    """The metric whose ``<metric>_sd`` sizes a tolerance of :attr:`AnalysisOptions.tolerance_sd`, and that SD at
    the best model: its mean over the last :data:`NOISE_EPOCHS` epochs of every fold of the configuration with the
    best fold mean of the metric at the last epoch (one ``_sd`` value, from two halves of one evaluation, is itself
    noisy).

    Raises:
        ValueError: If neither the target nor the selection metric has a ``_sd`` column, or that SD is not a
            finite number > 0.
    """
    found = _sd_metrics(curves, options)
    if not found:
        _, target, _, selection = columns_of(curves, options)
        raise ValueError(
            f"a tolerance in standard deviations needs the estimator's own SD, a column {target}_sd or "
            f"{selection[0]}_sd (as a GAN's fid_sd), and these curves have neither: give --tolerance-points instead"
        )
    metric, mode = found[0]
    split = make_split(curves.config_ids, curves.folds, max_groups=options.groups, seed=options.seed)
    trials = best_model_trials(curves, split.config_index, metric, mode)
    spreads = curves.matrix(f"{metric}_sd")[trials]
    epochs = np.arange(spreads.shape[1])[None, :]
    lengths = curves.lengths[trials][:, None]
    window = spreads[(epochs >= lengths - NOISE_EPOCHS) & (epochs < lengths)]
    spread = float(np.nanmean(window)) if np.isfinite(window).any() else float("nan")
    if not np.isfinite(spread) or spread <= 0:
        raise ValueError(
            f"a tolerance in standard deviations is a multiple of {metric}_sd at the best model, which is {spread:g} "
            "here: give --tolerance-points instead"
        )
    return metric, spread


def _in_points(curves: CurveSet, options: AnalysisOptions) -> tuple[CurveSet, AnalysisOptions]:
    """The curves with their regret scale (the best model's target trained to the budget; kept where they
    have one, as in the analysis beside ASHA's) and the options with ``tolerance_points`` as a share of it
    (:attr:`AnalysisOptions.tolerance_points`).

    Raises:
        ValueError: If that best model's target is not a finite number other than 0.
    """
    assert options.tolerance_points is not None
    if curves.regret_scale is not None:
        return curves, dataclasses.replace(options, tolerance=options.tolerance_points / curves.regret_scale)
    _, target, target_mode, _ = columns_of(curves, options)
    split = make_split(curves.config_ids, curves.folds, max_groups=options.groups, seed=options.seed)
    best = best_model_value(curves, split.config_index, target, target_mode)
    if not np.isfinite(best) or best == 0:
        raise ValueError(
            f"a tolerance in {target} points is a share of the best model's {target}, which is {best:g} here: "
            "give a relative tolerance instead (--tolerance)"
        )
    scale = abs(best)
    return (
        dataclasses.replace(curves, regret_scale=scale),
        dataclasses.replace(options, tolerance=options.tolerance_points / scale),
    )


def _best_snapshots(curves: CurveSet, options: AnalysisOptions) -> tuple[CurveSet, AnalysisOptions, tuple[str, str]]:
    """The curves with the target and the selection metric at the best snapshot by the selection metric, and
    the options that judge those columns (:mod:`analysis._snapshot`)."""
    metrics, target, target_mode, selection = columns_of(curves, options)
    frame, kept_target, kept_selection = kept_columns(curves.frame, selection[0], selection[1], target)
    judged = dataclasses.replace(
        options,
        metrics=metrics,
        target=kept_target,
        target_mode=target_mode,
        selection=(kept_selection, selection[1]),
        keep_best=False,
    )
    return dataclasses.replace(CurveSet.from_frame(frame), regret_scale=curves.regret_scale), judged, selection


def _gathered(
    curves: CurveSet,
    options: AnalysisOptions,
    inputs: Inputs,
    rows: list[dict[str, Any]],
    candidate_rows: list[pd.DataFrame],
    cv_rows: list[dict[str, Any]],
    replays: list[tuple[PolicyReplay, int | None, str]],
    alone: Analysis | None,
) -> Analysis:
    ctx = inputs.ctx
    return Analysis(
        alone=alone,
        recommendations=pd.DataFrame(rows, columns=RECOMMENDATION_COLUMNS),
        candidates=pd.concat(candidate_rows, ignore_index=True),
        cv_choices=pd.DataFrame(cv_rows),
        replays=replays,
        curves=curves,
        split=inputs.split,
        target=ctx.target,
        target_mode=ctx.target_mode,
        interval=options.interval,
        new_configs=ctx.new_configs,
        objective=options.objective,
        tolerance=options.tolerance,
        ceiling=savings_ceiling(curves, ctx.target, ctx.target_mode, options.tolerance),
        selection=ctx.selection,
        asha=options.asha,
        best_model_noise=ctx.noise,
    )


def _asha_alone(asha: AshaSpec, metric: str, mode: str, budget: int) -> Policy:
    """The baseline row of ASHA with no stopping policy: a patience of the whole budget never fires."""
    return Policy(
        "patience", metric, mode, (float(budget),), name="asha_alone", description=f"{asha.describe()}, alone"
    )


def _beside_asha(policy: Policy, curves: CurveSet, asha: AshaSpec, ctx: Context) -> np.ndarray:
    """Where each trial ends with ``asha`` beside each candidate of ``policy`` (0: its whole curve)."""
    stops, _ = simulate_asha(
        asha,
        curves.matrix(asha.metric),
        curves.lengths,
        int(curves.budgets.max()),
        stop_epochs(policy, curves),
        seconds=ctx.seconds,
    )
    return stops


def recommend(curves: pd.DataFrame | CurveSet, **options: Any) -> pd.DataFrame:
    """The recommendations table of :func:`analyse` (one row per metric and policy)."""
    return analyse(curves, **options).recommendations
