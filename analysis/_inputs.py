"""The options of an analysis read against its curves: defaults filled in, columns checked, doubts said."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import pandas as pd

from analysis._context import Context
from analysis._defaults import default_metrics, default_target, infer_mode
from analysis._notices import AnalysisError, AnalysisWarning, Remedy
from analysis._options import AnalysisOptions
from analysis._replay import CurveSet
from analysis._search import NOISE_EPOCHS, best_model_noise, time_per_epoch
from analysis._split import Split, make_split

__all__ = ["Inputs", "columns_of", "holds_no_number", "resolve"]


@dataclass(frozen=True)
class Inputs:
    """The metrics to stop on, how configurations are held out, and the resolved options."""

    metrics: list[tuple[str, str]]
    split: Split
    ctx: Context


def _check_numbers(values: pd.Series, what: str) -> None:
    """Warns about values that are not numbers (read as NaN); raises if none is a number."""
    if pd.api.types.is_numeric_dtype(values):
        return
    numbers = pd.to_numeric(values, errors="coerce")
    text = values.notna() & numbers.isna()
    if not text.any():
        return
    example = values[text].iloc[0]
    if numbers.isna().all():
        raise ValueError(f"{what} holds no numbers (e.g. {example!r}).")
    warnings.warn(
        f"{what}: {int(text.sum())} of {len(values)} values are not numbers (e.g. {example!r}); they are read as "
        "NaN, where a non-finite guard stops a curve.",
        stacklevel=5,
    )


def holds_no_number(values: pd.Series) -> bool:
    """Whether a column holds nothing at all: every value missing or NaN (a column of text is another error)."""
    return bool(values.isna().all())


def columns_of(curves: CurveSet, options: AnalysisOptions) -> tuple[list[tuple[str, str]], str, str, tuple[str, str]]:
    """The metrics, the target with its direction and the selection, each checked against the curves.

    A default metric that holds no number is left out with a warning; one that was asked
    for is an error.
    """
    columns = list(curves.frame.columns)
    metrics = list(options.metrics) if options.metrics is not None else default_metrics(columns)
    if options.metrics is None:
        empty = [m for m, _ in metrics if holds_no_number(curves.frame[m])]
        if empty:
            warnings.warn(
                f"{', '.join(empty)} {'holds' if len(empty) == 1 else 'hold'} no number (every value is missing or "
                "NaN): left out of the metrics to stop on.",
                stacklevel=4,
            )
            metrics = [pair for pair in metrics if pair[0] not in empty]
    if not metrics:
        raise AnalysisError(
            "no metric to analyse: {remedy} (none of val_loss, val_accuracy, fid is present).", Remedy.NAME_METRIC
        )
    target, target_mode = options.target, options.target_mode
    if target is None:
        found = default_target(columns)
        target, inferred = found if found is not None else (metrics[0][0], metrics[0][1])
        target_mode = target_mode or inferred
        if found is None:
            warnings.warn(
                AnalysisWarning(
                    f"no test_accuracy or fid in the curves: quality is judged by {target}, a metric the policies "
                    f"stop on, so each regret is against {target}'s own best epoch. {{remedy}}",
                    Remedy.NAME_TARGET,
                ),
                stacklevel=4,
            )
    target_mode = target_mode or infer_mode(target)
    selection = options.selection or metrics[0]
    roles: dict[str, str] = {}  # each column checked once, named by its first role
    for name, role in [*((m, "metric") for m, _ in metrics), (target, "target"), (selection[0], "selection metric")]:
        roles.setdefault(name, role)
    for name, role in roles.items():
        if name not in columns:
            reported = ", ".join(c for c in columns if not c.startswith("config/") and not c.startswith("_"))
            raise ValueError(f"{role} {name!r} is not in the curves; they have: {reported}")
        _check_numbers(curves.frame[name], f"{role} {name!r}")
        if holds_no_number(curves.frame[name]):
            raise ValueError(f"{role} {name!r} holds no number: all {len(curves.frame)} values are missing or NaN.")
    return metrics, target, target_mode, (selection[0], selection[1])


def _warn_about_the_curves(curves: CurveSet, split: Split, options: AnalysisOptions) -> None:
    """What the curves cannot say: nothing held out, curves cut short, few configurations."""
    if split.n_cells == 0:
        warnings.warn(
            f"only {split.n_configs} {split.unit}: nothing can be held out, so the cv_* columns are empty.",
            stacklevel=4,
        )
    cut_short = curves.cut_short
    if curves.mostly_cut:
        warnings.warn(
            AnalysisWarning(
                f"{cut_short} of {len(curves.trial_ids)} curves were cut short (by ASHA or their own stopper): a "
                "policy that has not fired by a curve's end cannot be judged on it, the survivors are the curves "
                "the scheduler kept (not a sample of the search), and the search-level figures need whole curves; "
                "so nothing is recommended from them. {remedy}",
                Remedy.RECORD_WHOLE_CURVES,
            ),
            stacklevel=4,
        )
    if split.n_cells and split.n_configs < 10:
        warnings.warn(
            f"only {split.n_configs} configurations: the per-curve intervals are wide, the best-model and "
            "selected-model ones rest on the few best configurations (read them as rough), and each held-out group "
            "is small.",
            stacklevel=4,
        )
    for needs, what in (
        (options.objective == "search", "the search objective"),
        (options.asha is not None, "replaying ASHA"),
    ):
        if needs and not curves.complete.all():
            raise AnalysisError(
                f"{what} needs every curve trained to its budget, but {cut_short} of "
                f"{len(curves.trial_ids)} were cut short: {{remedy}}.",
                Remedy.RECORD_WHOLE_CURVES_SHORT,
            )


def resolve(curves: CurveSet, options: AnalysisOptions) -> Inputs:
    """The options filled in from the curves, checked against them; the doubts said as warnings.

    Raises:
        ValueError: For a metric, target or selection the curves lack or hold no numbers in,
            or an objective (or ASHA) that needs whole curves when some were cut short.
    """
    metrics, target, target_mode, selection = columns_of(curves, options)
    split = make_split(curves.config_ids, curves.folds, max_groups=options.groups, seed=options.seed)
    _warn_about_the_curves(curves, split, options)
    if options.asha is not None and options.asha.metric not in curves.frame.columns:
        raise ValueError(f"ASHA's metric {options.asha.metric!r} is not in the curves.")
    noise = best_model_noise(curves, split.config_index, target, target_mode)
    if options.objective == "search" and noise > options.tolerance:
        scale = curves.regret_scale
        moves, allowed = (
            (f"{noise:.1%}", f"{options.tolerance:.1%}")
            if scale is None
            else (f"{noise * scale:.3g} points", f"{options.tolerance * scale:.3g}-point")
        )
        warnings.warn(
            AnalysisWarning(
                f"the best model's {target} moves by {moves} from one epoch to the next by chance (what its "
                f"folds disagree on over the last {NOISE_EPOCHS} epochs), more than the {allowed} "
                "tolerance: within it the best-model figures are noise, so no policy is recommended. Judge with a "
                "tolerance above that noise{remedy}, or a steadier target (more data folds, a larger evaluation "
                "set).",
                Remedy.LOOSER_TOLERANCE if options.tolerance_points is None else Remedy.LOOSER_TOLERANCE_POINTS,
            ),
            stacklevel=3,
        )
    ctx = Context(
        options.objective,
        options.tolerance,
        options.penalty,
        options.interval,
        options.new_configs or split.n_configs,
        options.seed,
        target,
        target_mode,
        selection,
        curves.matrix(selection[0]),
        time_per_epoch(curves),
        noise,
    )
    return Inputs(metrics, split, ctx)
