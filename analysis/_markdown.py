"""``recommendations.md``: the answer in its first lines, one table a person reads, then the detail.

The order: what to run and what it buys (:func:`analysis._answer.answer_lines`), one row per
policy's chosen value and per baseline, how to run it, the plain-language reading per metric,
the stopping configurations judged (where they were), and last what every figure means.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from analysis._answer import answer_lines
from analysis._choice import Choice, rank_rows, ranking_keys
from analysis._configuration_choice import ConfigurationChoice
from analysis._held_out import HELD_OUT_SPLITS
from analysis._intervals import unseen_chance
from analysis._recommend import Analysis
from analysis._replay import CurveSet
from analysis._search import NOISE_EPOCHS
from analysis._usage import (
    CONFIGURATION_FILE,
    STOPPERS_FILE,
    configuration_yaml,
    guarded_metrics,
    peer_arguments,
    stoppers_yaml,
    tuner_code,
)
from analysis._words import readable_recommendations

__all__ = ["markdown_report", "person_table", "readable_table"]


def readable_table(analysis: Analysis, configuration: ConfigurationChoice | None = None) -> pd.DataFrame:
    """The recommendations as the CSV and the Markdown show them: the answer's row marked, no other."""
    recommendation = analysis.recommended()
    answer = (recommendation.row["policy"], recommendation.row["metric"]) if recommendation is not None else None
    label = (
        "the per-trial rule alone (stoppers.yaml); the answer is configuration.yaml"
        if configuration is not None and configuration.runs
        else "recommended"
    )
    readable = readable_recommendations(analysis.recommendations, answer, label)
    if answer is not None and answer[1] == analysis.selected_by:
        # The answer is on the search's own metric where a rule on it is within the tolerance.
        elsewhere = (readable["status"] == "within the tolerance, not chosen") & (readable["metric"] != answer[1])
        readable.loc[elsewhere, "status"] = f"within the tolerance; the answer is on {answer[1]}, the search's metric"
    return readable


def _percent(value: Any) -> str:
    value = float(value)
    # + 0.0 turns a negative zero (and what rounds to one) into 0.0%, not -0.0%.
    return "n/a" if not np.isfinite(value) else f"{round(100 * value, 1) + 0.0:.1f}%"


def _range(point: Any, low: Any, high: Any) -> str:
    """``point [low, high]`` in percent."""
    if not np.isfinite(float(point)):
        return "n/a"
    return f"{_percent(point)} [{_percent(low)}, {_percent(high)}]"


def _value(value: Any) -> str:
    value = float(value)
    return "n/a" if not np.isfinite(value) else f"{value:.4g}"


def _worse(regret: Any) -> str:
    """``0.4% worse``, or ``0.3% better`` where stopping gave the better model."""
    value = float(regret)
    return f"{_percent(-value)} better" if _percent(value).startswith("-") else f"{_percent(value)} worse"


def _within(share: Any, cells: Any) -> str:
    """``80% of 15``, or ``n/a`` where no cell was judged."""
    return f"{_share(share)} of {cells}" if cells else _share(share)


def _configurations(count: int) -> str:
    """``1 configuration``, ``12 configurations``."""
    return f"{count} configuration{'' if count == 1 else 's'}"


def _share(value: Any) -> str:
    value = float(value)
    return "n/a" if not np.isfinite(value) else f"{100 * value:.0f}%"


def _explanation(analysis: Analysis, tolerance: float) -> list[str]:
    """What every figure of the report predicts, and what was held out."""
    level = _share(analysis.interval)
    split = analysis.split
    held_out = split.describe() if split is not None else "nothing held out"
    unit = "configuration with all its data folds" if split is None or split.unit == "configuration" else "trial"
    return [
        f"Quality is judged by `{analysis.target}` ({analysis.target_mode}) at the stop epoch. **Regret** is the "
        "relative loss of that quality against each curve's best epoch, an epoch picked in hindsight on the target "
        "itself (no rule can know it); **regret vs full** is against training to the end (negative: stopping "
        "was better). **Epochs saved** is the share of each curve's epoch budget not trained.",
        "",
        f"**Intervals** ({level}, approximate): where the mean regret and the mean epochs saved of a *new "
        f"search of {_configurations(analysis.new_configs)}* are predicted to fall with probability about {level}, "
        f"for that row's value. They come from resampling whole configurations (the unit: a {unit}): each "
        "simulated search first resamples the observed configurations, then draws its own from them, so they "
        "cover both what these curves leave unknown and the luck of the next search's draw. "
        + _unseen(analysis)
        + " `python -m benchmarks.calibration` counts how often such intervals held on independent searches.",
        "",
        f"**The search** ({level} intervals, for a new search of {_configurations(analysis.new_configs)}): a "
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
        + _noise_sentence(analysis, tolerance),
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
        _choice_rule(analysis.objective, tolerance),
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
    verdict = (
        f", more than the {_percent(tolerance)} tolerance: within it the best-model figures are noise{refused}"
        if noise > tolerance
        else f", within the {_percent(tolerance)} tolerance"
    )
    return (
        f" **Noise floor**: from one epoch to the next, the best model here moves by {_percent(noise)} by chance "
        f"(what the folds of the best configurations disagree on that one epoch gains, over the last "
        f"{NOISE_EPOCHS} epochs){verdict}."
    )


def _unseen(analysis: Analysis) -> str:
    """What resampled configurations cannot foresee, with the chance that the next search holds it."""
    observed = analysis.split.n_configs if analysis.split is not None else 0
    chance = unseen_chance(observed, analysis.new_configs)
    odds = (
        f"a new search of {analysis.new_configs} holds at least one configuration worse than every one of the "
        f"{observed} seen here with probability {_share(chance)} ({analysis.new_configs}/({analysis.new_configs} + "
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


def _choice_rule(objective: str, tolerance: float) -> str:
    """How the values were chosen, in words."""
    if objective == "tradeoff":
        return (
            "**Choice** (`--objective tradeoff`): the value with the best `-regret + penalty x epochs saved` "
            "on these curves; the tolerance plays no part."
        )
    if objective == "search":
        return (
            "**Choice** (`--objective search`): the value that uses the least compute while the upper ends of its "
            f"best-model and selected-model regret intervals both stay within the {_percent(tolerance)} tolerance "
            "(ties: lower regret, then the more conservative value); if none does, the lowest of the two regrets, "
            "and the row says so. **Checked on searches it did not see**: those intervals rest on the "
            "configurations seen, and a new search's best configuration is often better than all of them, where a "
            "value that never touched the observed best can stop it early. So the rule is run as you run it, "
            f"{HELD_OUT_SPLITS} times: the configurations are split at random into a predicting search and a new "
            "one (sized as these curves against the next search), a value is chosen on the first, and the second "
            f"says whether its best or selected model lost more than {_percent(tolerance)}. Where that happened in "
            "more than the intervals' upper tail of the splits, the value is chosen within a smaller share of the "
            "tolerance (1/2, 1/4, then 0: only values that never cost the best model here) that passed the check; "
            "where none passed, nothing is recommended (`chosen_within`, `held_out_exceeded` and "
            "`held_out_splits` in `recommendations.csv`)."
        )
    return (
        "**Choice** (`--objective tolerance`): the value that saves the most epochs while the upper end of its "
        f"mean per-curve regret interval stays within the {_percent(tolerance)} tolerance (ties: lower regret, "
        "then the more conservative value); if none does, the lowest regret, and the row says so."
    )


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
        f"Experiment: `{source}`. Every column of the table below is in `recommendations.csv`; what each figure "
        "means is at the end of this file and in tune-stop's `docs/recommend.md`.",
        "",
        *_table(analysis, configuration),
    ]
    lines += _usage_section(analysis, source, configuration)
    lines += _configurations_section(configuration)
    lines += ["", "## Reading", ""]
    for metric, group in table.groupby("metric", sort=False):
        lines += _reading(analysis, str(metric), group, tolerance)
    ceiling = analysis.ceiling
    if ceiling is not None and ceiling.n_curves:
        lines.append(
            f"- Ceiling: stopping each of the {ceiling.n_curves} complete curves at its best moment in hindsight "
            f"would save at most {_percent(ceiling.epochs_saved)} of the epochs within the "
            f"{_percent(ceiling.tolerance)} tolerance on the mean per-curve regret; no stopping rule can save "
            "more on these curves at that regret. (The best model of a search can lose less than the mean curve, "
            "so a row judged by the best model, ASHA's among them, may save more.)"
        )
    lines += _censoring_note(table)
    lines += ["", "## What the figures mean", "", *_explanation(analysis, tolerance)]
    return "\n".join(lines) + "\n"


def person_table(analysis: Analysis, configuration: ConfigurationChoice | None = None) -> pd.DataFrame:
    """The table a person reads, in words: one row per policy's chosen value and per baseline, nine columns,
    only the answer's row says recommended. ``recommendations.md`` and ``recommend``'s screen show it."""
    level = _share(analysis.interval)
    readable = readable_table(analysis, configuration)
    rows = [
        {
            "rule": f"{row.policy} on {row.metric}",
            "value": _value(row.recommended),
            f"compute used [{level}]": _range(row.compute_used, row.compute_used_low, row.compute_used_high),
            f"best model [{level}]": _range(row.best_regret, row.best_regret_low, row.best_regret_high),
            f"selected model [{level}]": _range(row.selected_regret, row.selected_regret_low, row.selected_regret_high),
            f"epochs saved [{level}]": _range(row.epochs_saved, row.epochs_saved_low, row.epochs_saved_high),
            f"mean regret [{level}]": _range(row.regret, row.regret_low, row.regret_high),
            "CV cells within tolerance": _within(row.cv_within_tolerance, row.cv_cells),
            "status": row.status,
        }
        for row in readable.itertuples()
    ]
    return pd.DataFrame(rows)


def _table(analysis: Analysis, configuration: ConfigurationChoice | None) -> list[str]:
    """:func:`person_table` in Markdown."""
    table = person_table(analysis, configuration)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return lines


def _configurations_section(choice: ConfigurationChoice | None) -> list[str]:
    """The stopping configurations judged: the chosen one and the peers, with the file that lists them all."""
    if choice is None:
        return []
    check = (
        f" A check, not the stated risk: a simpler choice (the least compute that never lost more on 4 random "
        f"quarters of one half of the configurations), run on the other half, lost more in "
        f"{_share(choice.held_out_exceeded)} of those halves; searches a quarter as large lose more often "
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
        f"{_percent(choice.tolerance)} in at most {choice.risk:.0%} of the searches, the least mean compute.{check}",
        "",
    ]
    shown = ([("chosen", dict(choice.table.iloc[choice.chosen]))] if choice.chosen is not None else []) + [
        (name, row) for name, row in choice.peers()
    ]
    for name, row in shown:
        lines.append(
            f"- {name}: {row['configuration']}: {_percent(row['compute_used'])} of the compute, lost more than "
            f"{_percent(choice.tolerance)} in {_share(row['exceeded'])} of the searches (best model worst "
            f"{_percent(row['best_regret_max'])}, selected model worst {_percent(row['selected_regret_max'])})"
        )
    return lines


def _reading(analysis: Analysis, metric: str, group: pd.DataFrame, tolerance: float) -> list[str]:
    """The plain-language reading of one metric's rows: the best value, why, and the baselines."""
    level = _share(analysis.interval)
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
            f" No policy's {judged} stayed within the {_percent(tolerance)} tolerance, so this is the "
            "policy with the lowest regret, not a recommendation within the tolerance."
        )
        if (tuned["choice"] == Choice.NOISE).any():
            best = rank_rows(tuned[tuned["choice"] == Choice.NOISE], analysis.objective).iloc[0]
            verdict = (
                f" Nothing is recommended: the best model moves by {_percent(analysis.best_model_noise)} from "
                f"one epoch to the next by chance, more than the {_percent(tolerance)} tolerance, so this value, "
                "the one chosen within the tolerance otherwise, is for comparison only."
            )
        elif (tuned["choice"] == Choice.NEVER).any() and (high <= tolerance).any():
            verdict = (
                f" Within the {_percent(tolerance)} tolerance, only values that never fire on these curves "
                "remain, and they save nothing; so this is the policy with the lowest regret, for comparison "
                "only."
            )
        elif (tuned["choice"] == Choice.HELD_OUT).any():
            verdict = (
                f" Nothing is recommended: the values whose intervals stayed within the {_percent(tolerance)} "
                "tolerance cost held-out searches' best or selected model more than that too often (the check on "
                "held-out splits), so this is the policy with the lowest regret, for comparison only."
            )
    lines.append(
        f"- `{metric}`: {best['description']}. In a new search of {_configurations(analysis.new_configs)} this "
        f"is predicted to save {_range(best['epochs_saved'], best['epochs_saved_low'], best['epochs_saved_high'])} "
        f"of the epochs at {_range(best['regret'], best['regret_low'], best['regret_high'])} regret in "
        f"{analysis.target} ({level} intervals); it fired on {_percent(best['trigger_rate'])} of the evaluable "
        "curves here. "
        f"Held out, the same rule stayed within the tolerance in {_share(best['cv_within_tolerance'])} of "
        f"{best['cv_cells']} cells{_cell_size(analysis)}.{verdict}{_search_sentence(best, analysis.selected_by)}"
        f"{_held_out_sentence(group, tolerance)}"
    )
    baselines = group[(group["kind"] == "baseline") & group["regret"].notna()]
    for baseline in baselines.to_dict("records"):
        saved = _range(baseline["epochs_saved"], baseline["epochs_saved_low"], baseline["epochs_saved_high"])
        regret = _range(baseline["regret"], baseline["regret_low"], baseline["regret_high"])
        search = ""
        if np.isfinite(float(baseline["best_regret"])):
            search = (
                f"; best model {_worse(baseline['best_regret'])} for "
                f"{_percent(baseline['compute_used'])} of the compute"
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
        configuration_yaml(choice, guarded_metrics(choice, analysis), source).rstrip(),
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
        stoppers_yaml(
            analysis,
            recommendation,
            source,
            beside_configuration=bool(_configuration_usage(analysis, configuration, source)),
        ).rstrip(),
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


def _search_sentence(row: pd.Series, selection: str) -> str:
    """What the value does to the search: its best and selected models and the compute, when known."""
    if not np.isfinite(float(row["best_regret"])):
        return ""
    best = _range(row["best_regret"], row["best_regret_low"], row["best_regret_high"])
    return (
        f" In the search, its best model would be {best} worse than with full training and the model "
        f"selected by {selection} "
        f"{_range(row['selected_regret'], row['selected_regret_low'], row['selected_regret_high'])} worse, "
        f"for {_range(row['compute_used'], row['compute_used_low'], row['compute_used_high'])} of the compute; "
        f"on the top 10% of configurations the mean regret is {_percent(row['top_decile_regret'])}."
    )


def _held_out_sentence(group: pd.DataFrame, tolerance: float) -> str:
    """What the search objective's check on unseen searches changed for this metric's policies, if anything."""
    tuned = group[(group["kind"] == "recommended") & (group["held_out_splits"] > 0)]
    stricter = tuned[(tuned["chosen_within"] < tolerance) & (tuned["choice"] == Choice.WITHIN)]
    refused = tuned[tuned["choice"] == Choice.HELD_OUT]
    parts = []
    if not stricter.empty:
        listed = ", ".join(
            f"{row['policy']} within {100 * row['chosen_within']:.2g}%" for _, row in stricter.iterrows()
        )
        parts.append(f"chose {listed}")
    if not refused.empty:
        parts.append(f"left {', '.join(refused['policy'])} without a value")
    if not parts:
        return ""
    splits = int(tuned["held_out_splits"].iloc[0])
    return (
        f" The check on {splits} splits into a predicting and a new search {' and '.join(parts)}: choosing within "
        f"the whole {_percent(tolerance)} cost the new part's best or selected model more than {_percent(tolerance)} "
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
    return f" (each cell about {_configurations(round(configs))}{fold}{noisier})"


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
        lines += ["", f"{no_target} curves have no finite value of the target and are left out."]
    return lines
