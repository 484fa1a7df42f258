"""``recommendations.md``: the answer in its first lines, one table a person reads, then the detail.

The order: what to run and what it buys (:func:`analysis._answer.answer_lines`), one row per
policy's chosen value and per baseline, how to run it, the plain-language reading per metric,
the stopping configurations judged (where they were), and last what every figure means.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis._answer import answer_lines, as_given, given_span, tolerance_in_points, worse_as_given
from analysis._choice import Choice, rank_rows, ranking_keys
from analysis._configuration_choice import ConfigurationChoice
from analysis._format import configurations, percent, share, span
from analysis._method import method_lines
from analysis._recommend import Analysis
from analysis._replay import CurveSet
from analysis._table import markdown_table
from analysis._usage import (
    CONFIGURATION_FILE,
    STOPPERS_FILE,
    configuration_yaml,
    peer_arguments,
    stoppers_yaml,
    tuner_code,
)

__all__ = ["markdown_report"]


def markdown_report(
    analysis: Analysis, tolerance: float, source: str, configuration: ConfigurationChoice | None = None
) -> str:
    """The answer first (four lines), one table, how to run it, then the reading and the method."""
    table = analysis.recommendations
    lines = [
        "# What to run next",
        "",
        *answer_lines(analysis, configuration),
        "",
        *([points, ""] if (points := tolerance_in_points(analysis)) is not None else []),
        f"Experiment: `{source}`. Every column of the table below is in `recommendations.csv`; what each figure "
        "means is at the end of this file and in tune-stop's `docs/recommend.md`.",
        "",
        *markdown_table(analysis, configuration),
    ]
    lines += _usage_section(analysis, source, configuration)
    lines += _configurations_section(analysis, configuration)
    lines += ["", "## Reading", ""]
    for metric, group in table.groupby("metric", sort=False):
        lines += _reading(analysis, str(metric), group, tolerance)
    ceiling = analysis.ceiling
    if ceiling is not None and ceiling.n_curves:
        lines.append(
            f"- Ceiling: stopping each of the {ceiling.n_curves} complete curves at its best moment in hindsight "
            f"would save at most {percent(ceiling.epochs_saved)} of the epochs within the "
            f"{as_given(analysis, ceiling.tolerance)} tolerance on the mean per-curve regret; no stopping rule can "
            "save more on these curves at that regret. (The best model of a search can lose less than the mean curve, "
            "so a row judged by the best model, ASHA's among them, may save more.)"
        )
    lines += _censoring_note(table)
    lines += ["", "## What the figures mean", "", *method_lines(analysis, tolerance)]
    return "\n".join(lines) + "\n"


def _configurations_section(analysis: Analysis, choice: ConfigurationChoice | None) -> list[str]:
    """The stopping configurations judged: the chosen one and the peers, with the file that lists them all (their
    regrets as the user gave the tolerance, :func:`as_given`)."""
    if choice is None:
        return []
    check = (
        f" A check, not the stated risk: a simpler choice (the least compute that never lost more), chosen on "
        f"{choice.held_out_searched}, lost more in {share(choice.held_out_exceeded)} of those runs; smaller "
        "searches lose more often "
        "(`docs/configurations.md`)."
        if choice.held_out_splits
        else ""
    )
    lines = [
        "",
        "## Stopping configurations judged",
        "",
        f"{len(choice.configs)} configurations (schedulers at several settings, with and without a per-trial rule) "
        f"replayed on {choice.searches} simulated next searches ({choice.searched}); every one is in "
        "`configurations.csv`. The rule: of those whose best or selected model lost more than "
        f"{as_given(analysis, choice.tolerance)} in at most {choice.risk:.0%} of the searches, the least mean "
        f"compute.{check}",
        "",
    ]
    shown = ([("chosen", dict(choice.table.iloc[choice.chosen]))] if choice.chosen is not None else []) + [
        (name, row) for name, row in choice.peers()
    ]
    for name, row in shown:
        lines.append(
            f"- {name}: {row['configuration']}: {percent(row['compute_used'])} of the compute, lost more than "
            f"{as_given(analysis, choice.tolerance)} in {share(row['exceeded'])} of the searches (best model worst "
            f"{as_given(analysis, row['best_regret_max'])}, selected model worst "
            f"{as_given(analysis, row['selected_regret_max'])})"
        )
    return lines


def _reading(analysis: Analysis, metric: str, group: pd.DataFrame, tolerance: float) -> list[str]:
    """The plain-language reading of one metric's rows: the best value, why, and the baselines."""
    level = share(analysis.interval)
    said = as_given(analysis, tolerance)
    lines: list[str] = []
    tuned = group[(group["kind"] == "recommended") & group["regret"].notna()]
    if tuned.empty:
        return [f"- `{metric}`: no policy has an evaluable curve (see the censored column)."]
    by_search = analysis.objective == "search"
    _, _, high = ranking_keys(tuned, analysis.objective)
    within = tuned[tuned["choice"] == Choice.WITHIN]
    verdict = ""
    curves = analysis.curves
    if curves is not None and curves.mostly_cut:
        cut = tuned[tuned["choice"] == Choice.CUT]
        best = rank_rows(cut if not cut.empty else tuned, analysis.objective, lowest_regret_first=cut.empty).iloc[0]
        verdict = (
            f" Nothing is recommended: {_cut_sentence(curves)}; this value is for comparison only. Record whole "
            "curves (every trial to its budget, FIFO and no stopper) to get an answer."
        )
    elif analysis.objective == "tradeoff":
        best = rank_rows(tuned, "tradeoff").iloc[0]
    elif not within.empty:
        best = rank_rows(within, analysis.objective).iloc[0]
    else:
        best = rank_rows(tuned, analysis.objective, lowest_regret_first=True).iloc[0]
        judged = "best-model and selected-model regret intervals" if by_search else "regret interval"
        verdict = (
            f" No policy's {judged} stayed within the {said} tolerance, so this is the "
            "policy with the lowest regret, not a recommendation within the tolerance."
        )
        if (tuned["choice"] == Choice.NOISE).any():
            best = rank_rows(tuned[tuned["choice"] == Choice.NOISE], analysis.objective).iloc[0]
            verdict = (
                f" Nothing is recommended: the best model moves by {as_given(analysis, analysis.best_model_noise)} "
                f"from one epoch to the next by chance, more than the {said} tolerance, so this value, "
                "the one chosen within the tolerance otherwise, is for comparison only."
            )
        elif (tuned["choice"] == Choice.NEVER).any() and (high <= tolerance).any():
            verdict = (
                f" Within the {said} tolerance, only values that never fire on these curves "
                "remain, and they save nothing; so this is the policy with the lowest regret, for comparison "
                "only."
            )
        elif (tuned["choice"] == Choice.HELD_OUT).any():
            verdict = (
                f" Nothing is recommended: the values whose intervals stayed within the {said} "
                "tolerance cost held-out searches' best or selected model more than that too often (the check on "
                "held-out splits), so this is the policy with the lowest regret, for comparison only."
            )
    lines.append(
        f"- `{metric}`: {best['description']}. In a new search of {configurations(analysis.new_configs)} this "
        f"is predicted to save {span(best['epochs_saved'], best['epochs_saved_low'], best['epochs_saved_high'])} "
        f"of the epochs at {given_span(analysis, best['regret'], best['regret_low'], best['regret_high'])} regret in "
        f"{analysis.target} ({level} intervals); it fired on {percent(best['trigger_rate'])} of the evaluable "
        "curves here. "
        f"Held out, the same rule stayed within the tolerance in {share(best['cv_within_tolerance'])} of "
        f"{best['cv_cells']} cells{_cell_size(analysis)}.{verdict}{_search_sentence(analysis, best)}"
        f"{_held_out_sentence(analysis, group, tolerance)}"
    )
    baselines = group[(group["kind"] == "baseline") & group["regret"].notna()]
    for baseline in baselines.to_dict("records"):
        saved = span(baseline["epochs_saved"], baseline["epochs_saved_low"], baseline["epochs_saved_high"])
        regret = given_span(analysis, baseline["regret"], baseline["regret_low"], baseline["regret_high"])
        search = ""
        if np.isfinite(float(baseline["best_regret"])):
            search = (
                f"; best model {worse_as_given(analysis, baseline['best_regret'])} for "
                f"{percent(baseline['compute_used'])} of the compute"
            )
        lines.append(f"  - baseline `{baseline['policy']}`: saves {saved} at {regret} regret{search}.")
    return lines


def _cut_sentence(curves: CurveSet) -> str:
    """Why mostly cut curves give no answer, with their counts."""
    return (
        f"{curves.cut_short} of {len(curves.trial_ids)} curves were cut short (by a scheduler, a stopper or an "
        "error), so the rest are the curves that were let run, not a sample of the next search"
    )


def _configuration_usage(analysis: Analysis, choice: ConfigurationChoice | None, source: str) -> list[str]:
    """How to run the chosen configuration: ``configuration.yaml``, the command, the Tuner code."""
    if choice is None or choice.answer is None or not choice.runs:
        return []
    budget = int(analysis.curves.budgets.max()) if analysis.curves is not None else 0
    metric, mode = analysis.selected_by, analysis.selection[1]
    return [
        f'`{CONFIGURATION_FILE}` in this folder runs the answer, "{choice.answer.describe()}": its scheduler '
        "replaces the search's, its stoppers run beside it, behind a non-finite guard:",
        "",
        "```yaml",
        configuration_yaml(choice, analysis, source).rstrip(),
        "```",
        "",
        f"Run it with `tune-stop search SPACE --stoppers {CONFIGURATION_FILE}`, or in your own `tune.Tuner`:",
        "",
        "```python",
        "from ray import tune",
        "from tune_stop.stopping import load_stopping",
        "",
        f'stopping = load_stopping("{CONFIGURATION_FILE}", max_epochs={budget})',
        "tuner = tune.Tuner(",
        "    trainable,",
        "    param_space=...,",
        f'    tune_config=tune.TuneConfig(metric="{metric}", mode="{mode}", scheduler=stopping.scheduler),',
        "    run_config=tune.RunConfig(stop=stopping.stopper),",
        ")",
        "```",
        "",
        "For a search that keeps its own scheduler, the per-trial rule alone:",
        "",
    ]


def _usage_section(analysis: Analysis, source: str, configuration: ConfigurationChoice | None = None) -> list[str]:
    """How to run the recommendation in the next search: the configuration file where one was chosen, the
    stoppers file, Ray Tune code, Lightning/Keras."""
    recommendation = analysis.recommended()
    lines = ["", "## Use it in the next search", "", *_configuration_usage(analysis, configuration, source)]
    if recommendation is None and analysis.curves is not None and analysis.curves.mostly_cut:
        return [
            *lines,
            f"Nothing to run: {_cut_sentence(analysis.curves)}, so no `stoppers.yaml` is written. Record whole "
            "curves with `tune-stop search SPACE --full-curves` (or the whole loop: `tune-stop search SPACE "
            "--calibrate N`) and run `recommend` on that experiment.",
        ]
    if recommendation is None:
        return [
            *lines,
            "No policy saves epochs within the tolerance (a value that never fires saves nothing), so no "
            "`stoppers.yaml` is written.",
        ]
    return [
        *lines,
        f'`{STOPPERS_FILE}` in this folder holds the policy "{recommendation.row["description"]}" '
        f"(`{recommendation.row['policy']}` on `{recommendation.row['metric']}`), behind a non-finite guard:",
        "",
        "```yaml",
        stoppers_yaml(analysis, recommendation, source, configuration).rstrip(),
        "```",
        "",
        f"Run it with `tune-stop search SPACE --stoppers {STOPPERS_FILE}`, or in your own `tune.Tuner`:",
        "",
        "```python",
        tuner_code(analysis, recommendation),
        "```",
        "",
        *(f"- {line}" for line in peer_arguments(recommendation)),
    ]


def _search_sentence(analysis: Analysis, row: pd.Series) -> str:
    """What the value does to the search: its best and selected models and the compute, when known."""
    if not np.isfinite(float(row["best_regret"])):
        return ""
    best = given_span(analysis, row["best_regret"], row["best_regret_low"], row["best_regret_high"])
    selected = given_span(analysis, row["selected_regret"], row["selected_regret_low"], row["selected_regret_high"])
    return (
        f" In the search, its best model would be {best} worse than with full training and the model "
        f"selected by {analysis.selected_by} {selected} worse, "
        f"for {span(row['compute_used'], row['compute_used_low'], row['compute_used_high'])} of the compute; "
        f"on the top 10% of configurations the mean regret is {as_given(analysis, row['top_decile_regret'])}."
    )


def _held_out_sentence(analysis: Analysis, group: pd.DataFrame, tolerance: float) -> str:
    """What the search objective's check on unseen searches changed for this metric's policies, if anything."""
    tuned = group[(group["kind"] == "recommended") & (group["held_out_splits"] > 0)]
    stricter = tuned[(tuned["chosen_within"] < tolerance) & (tuned["choice"] == Choice.WITHIN)]
    refused = tuned[tuned["choice"] == Choice.HELD_OUT]
    parts = []
    if not stricter.empty:
        listed = ", ".join(
            f"{row['policy']} within {as_given(analysis, row['chosen_within'])}" for _, row in stricter.iterrows()
        )
        parts.append(f"chose {listed}")
    if not refused.empty:
        parts.append(f"left {', '.join(refused['policy'])} without a value")
    if not parts:
        return ""
    splits = int(tuned["held_out_splits"].iloc[0])
    return (
        f" The check on {splits} splits into a predicting and a new search {' and '.join(parts)}: choosing within "
        f"the whole {as_given(analysis, tolerance)} cost the new part's best or selected model more than "
        f"{as_given(analysis, tolerance)} "
        "too often."
    )


def _cell_size(analysis: Analysis) -> str:
    """How big a held-out cell is, against the new search the intervals are for."""
    split = analysis.split
    if split is None or not split.n_cells:
        return ""
    configs = split.n_configs / split.n_groups
    fold = " on one data fold" if split.n_folds > 1 else ""
    noisier = ", so noisier than the new search" if configs < analysis.new_configs or split.n_folds > 1 else ""
    return f" (each cell about {configurations(round(configs))}{fold}{noisier})"


def _censoring_note(table: pd.DataFrame) -> list[str]:
    """Which curves could not judge a policy, and what to run to avoid it."""
    if table.empty:
        return []
    lines = []
    censored, curves = int(table["n_censored"].max()), int(table["n_curves"].max())
    if censored:
        lines += [
            "",
            f"Censored curves (up to {censored} of {curves}) were cut short, by ASHA or by their own stopper, "
            "before the policy fired: they say nothing about later epochs, so they are left out, "
            "never treated as converged. Record whole curves with `tune-stop search SPACE --full-curves`.",
        ]
    no_target = int(table["n_no_target"].max())
    if no_target:
        has, left = ("1 curve has", "is") if no_target == 1 else (f"{no_target} curves have", "are")
        lines += ["", f"{has} no finite value of the target and {left} left out."]
    return lines
