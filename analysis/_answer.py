"""The answer in four lines: what to run next, what it buys, against ASHA alone, and how sure.

The same lines open ``recommendations.md`` and end what ``tune-stop recommend`` prints, so
the screen and the files never disagree on what was recommended. When whole stopping
configurations were judged (``recommend`` on whole curves, ``search --calibrate``), the chosen
configuration is the answer and the per-trial rule is named beside it; otherwise the
per-trial rule is. Without an answer, the lines say why in one sentence and what would
give one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from analysis._choice import Choice
from analysis._configuration_choice import ConfigurationChoice
from analysis._format import as_given, percent, regret, span, worse
from analysis._recommend import Analysis, Recommendation
from analysis._search import NOISE_EPOCHS, best_model_value
from analysis._snapshot import unkept
from analysis._usage import CONFIGURATION_FILE, STOPPERS_FILE, judged_alone

__all__ = ["answer_lines", "as_given", "given_span", "plain", "tolerance_in_points", "worse_as_given"]


def _range(row: dict[str, Any], name: str) -> str:
    return span(row[name], row[f"{name}_low"], row[f"{name}_high"])


def plain(line: str) -> str:
    """A Markdown answer line as a terminal shows it: no emphasis, no code marks."""
    return line.replace("**", "").replace("`", "")


def tolerance_in_points(analysis: Analysis) -> str | None:
    """What a tolerance given in the target's units (``--tolerance-points``, or in SDs of the estimator with
    ``--tolerance-sd``) is as the shares every figure shows."""
    scale, given, target = analysis.points_scale, analysis.tolerance_points, unkept(analysis.target, analysis.kept_by)
    if scale is None or given is None:
        return None
    kept = f" at its best {analysis.kept_by[0]} snapshot" if analysis.kept_by is not None else ""
    points = f"{regret(analysis.tolerance, scale)} {target} points"
    if analysis.estimator_sd is not None:  # given in SDs of the estimator
        metric, spread = analysis.estimator_sd
        stands = f"; {metric}'s SD stands for {target}'s, the same estimator" if metric != target else ""
        points = (
            f"{given / spread:.3g} x {metric}_sd = {points} ({metric}_sd is {spread:.3g} at the "
            f"configuration with the best {metric}, its mean over the last {NOISE_EPOCHS} epochs{stands})"
        )
    default = (
        " It is the default where the curves carry their estimator's SD (--tolerance gives a share)."
        if analysis.sds_by_default
        else ""
    )
    return (
        f"Tolerance: {points}.{default} Every regret below is a loss in {target} points against the same search "
        f"trained to the budget, in every search, simulated or held out; as a share (recommendations.csv), it is of "
        f"{scale:.4g}, the best model's {target}{kept} trained to the budget here, and the tolerance "
        f"{percent(analysis.tolerance)} of it."
    )


def given_span(analysis: Analysis, point: Any, low: Any, high: Any) -> str:
    """A regret's ``point [low, high]`` as the user gave the tolerance: in percent, or in the target's points
    (followed by ``points``)."""
    scale = analysis.points_scale
    spanned = span(point, low, high, scale)
    return spanned if scale is None or spanned == "n/a" else f"{spanned} points"


def worse_as_given(analysis: Analysis, loss: Any) -> str:
    """:func:`worse`, in the target's points where the user gave the tolerance in points."""
    number, scale = float(loss), analysis.points_scale
    if scale is None or not np.isfinite(number):
        return worse(number)
    better = regret(number, scale).startswith("-")  # as shown: what rounds to 0 is no better, as in worse
    return f"{as_given(analysis, abs(number))} {'better' if better else 'worse'}"


def _flag(analysis: Analysis, share: float, rounded: float) -> str:
    """The flag that asks for a tolerance of ``share``: ``--tolerance rounded`` (``share`` rounded up), or, where
    the user gave points (or SDs of the estimator), ``--tolerance-points`` with ``share`` in points (``--tolerance-sd``
    with it in SDs) rounded up to 2 significant figures."""
    scale = analysis.points_scale
    if scale is None:
        return f"--tolerance {rounded:g}"
    flag, amount = "--tolerance-points", share * scale
    if analysis.estimator_sd is not None:
        flag, amount = "--tolerance-sd", amount / analysis.estimator_sd[1]
    return f"{flag} {_rounded_up(amount)}"


def _rounded_up(amount: float) -> str:
    """``amount`` rounded up to 2 significant figures, as a flag's value."""
    step = 10.0 ** (math.floor(math.log10(amount)) - 1) if amount > 0 else 0.01
    return f"{float(f'{math.ceil(amount / step - 1e-9) * step:.2g}'):g}"


def _fid_best(analysis: Analysis) -> float | None:
    """For a FID target judged by a relative tolerance, the best model trained to the budget here (what a share
    is of, to say it in FID points, as a GAN user thinks); None otherwise."""
    target = unkept(analysis.target, analysis.kept_by)
    if analysis.points_scale is not None or not target.startswith("fid"):
        return None
    if analysis.curves is None or analysis.split is None:
        return None
    best = abs(best_model_value(analysis.curves, analysis.split.config_index, analysis.target, analysis.target_mode))
    return best if np.isfinite(best) and best > 0 else None


def answer_lines(analysis: Analysis, configuration: ConfigurationChoice | None = None) -> list[str]:
    """Four Markdown list items: **Run**, **Buys**, **Against ASHA alone** (or what it is beside) and **How sure**."""
    if configuration is not None and configuration.runs:
        return _configuration_lines(analysis, configuration)
    recommendation = analysis.recommended()
    if recommendation is None:
        return _nothing_lines(analysis, configuration)
    return _rule_lines(analysis, recommendation, configuration)


def _configuration_lines(analysis: Analysis, choice: ConfigurationChoice) -> list[str]:
    assert choice.answer is not None and choice.chosen is not None
    row = dict(choice.table.iloc[choice.chosen])
    rule = analysis.recommended()
    per_trial = (
        f" (the per-trial rule alone, `{STOPPERS_FILE}`: {rule.row['description']}, "
        f"{percent(rule.row['compute_used'])} of the compute in a search of {analysis.new_configs})"
        if rule is not None and np.isfinite(float(rule.row["compute_used"]))
        else ""
    )
    return [
        f"- **Run:** {choice.answer.describe()}: `tune-stop search SPACE --stoppers {CONFIGURATION_FILE}`, or "
        f'`load_stopping("{CONFIGURATION_FILE}", max_epochs=...)` in your own `tune.Tuner`.',
        f"- **Buys:** {percent(row['compute_used'])} of the compute of training every trial to its budget, in "
        f"simulated next searches of {choice.new_configs} of these configurations{per_trial}.{_kept(analysis)}",
        f"- **Beside what you would switch on** (compute, and how often the best or selected model lost more than "
        f"{as_given(analysis, choice.tolerance)}): {_peers_in_words(choice)}.",
        f"- **How sure:** it lost more than {as_given(analysis, choice.tolerance)} in {choice.stated_risk:.0%} of "
        f"{choice.searches} simulated searches ({choice.searched}); on independent searches such risks held "
        "(`docs/configurations.md`).",
    ]


def _rule_lines(
    analysis: Analysis, recommendation: Recommendation, configuration: ConfigurationChoice | None
) -> list[str]:
    row = recommendation.row
    if analysis.asha is not None:
        scheduler = "beside the ASHA it was judged with"
    elif judged_alone(analysis, configuration):
        scheduler = "with no scheduler (FIFO), as it was judged: none of the stopping configurations kept the models"
        scheduler += " within the tolerance (below)"
    else:
        scheduler = "beside the scheduler your search runs"
    run = (
        f"- **Run:** {row['description']} (`{row['policy']}` on `{row['metric']}`), {scheduler}: "
        f"`tune-stop search SPACE --stoppers {STOPPERS_FILE}`, or "
        f'`load_stopping("{STOPPERS_FILE}", max_epochs=...)` in your own `tune.Tuner`.'
    )
    level = f"{analysis.interval:.0%}"
    size = f"a new search of {analysis.new_configs} configuration{'' if analysis.new_configs == 1 else 's'}"
    selected_by = analysis.selected_by
    if np.isfinite(float(row["compute_used"])):
        buys = (
            f"- **Buys:** uses {_range(row, 'compute_used')} of the compute of training everything (saves "
            f"{percent(1 - float(row['compute_used']))}) in {size}; its best "
            f"model {worse_as_given(analysis, row['best_regret'])} than with full training (upper end "
            f"{as_given(analysis, row['best_regret_high'])}), the model selected by `{selected_by}` "
            f"{worse_as_given(analysis, row['selected_regret'])} (upper end "
            f"{as_given(analysis, row['selected_regret_high'])});"
            f" {level} intervals."
        )
    else:
        buys = (
            f"- **Buys:** {_range(row, 'epochs_saved')} of the epochs saved in {size}, at a mean per-curve regret "
            f"of {given_span(analysis, row['regret'], row['regret_low'], row['regret_high'])} in "
            f"`{analysis.target}` ({level} intervals; these curves were not all "
            "whole, so nothing is said about the search's best model)."
        )
    return [run, buys + _kept(analysis), _against_asha(analysis, configuration), _how_sure(analysis, row)]


def _kept(analysis: Analysis) -> str:
    """What ``keep_best`` asks of the user: keep the best checkpoint, as the figures assume."""
    if analysis.kept_by is None:
        return ""
    metric, mode = analysis.kept_by
    return (
        f" Judged by the best snapshot up to each stop (by {metric}): keep that checkpoint, e.g. Ray Tune's "
        f'`CheckpointConfig(num_to_keep=1, checkpoint_score_attribute="{metric}", checkpoint_score_order="{mode}")`.'
    )


def _against_asha(analysis: Analysis, configuration: ConfigurationChoice | None) -> str:
    """The rule against ASHA alone: the replayed ASHA's row, the judged configurations', or how to get it."""
    table = analysis.recommendations
    alone = table[table["policy"] == "asha_alone"]
    if not alone.empty and np.isfinite(float(alone.iloc[0]["compute_used"])):
        asha = alone.iloc[0]
        return (
            f"- **Against ASHA alone:** {asha['description']} uses {percent(asha['compute_used'])} of the compute, "
            f"best model {worse_as_given(analysis, asha['best_regret'])} (upper end "
            f"{as_given(analysis, asha['best_regret_high'])})."
        )
    if configuration is not None:
        return (
            "- **Against ASHA alone:** no scheduler kept the models within "
            f"{as_given(analysis, configuration.tolerance)} in {1 - configuration.risk:.0%} of the simulated "
            f"searches ({_peers_in_words(configuration)}), so the answer is this per-trial rule."
        )
    return (
        "- **Against ASHA alone:** not judged (`--no-configurations` was given, or the curves are not whole "
        "curves of at least 4 configurations with several folds each, which judging ASHA and the median rule takes)."
    )


def _peers_in_words(choice: ConfigurationChoice) -> str:
    """What a user would switch on anyway, each with its compute and how often it lost more than the tolerance."""
    return "; ".join(
        f"{name} {percent(peer['compute_used'])}, lost more in {peer['exceeded']:.0%}" for name, peer in choice.peers()
    )


def _how_sure(analysis: Analysis, row: dict[str, Any]) -> str:
    cells = int(row["cv_cells"]) if np.isfinite(float(row["cv_cells"])) else 0
    held = (
        f"held out, the same rule stayed within the {as_given(analysis, analysis.tolerance)} tolerance in "
        f"{float(row['cv_within_tolerance']):.0%} of {cells} cells of configurations it did not see"
        if cells
        else "nothing could be held out"
    )
    within = float(row.get("chosen_within", np.nan))
    stricter = (
        f" Chosen within {as_given(analysis, within)} rather than {as_given(analysis, analysis.tolerance)}: on splits "
        "of these configurations into a predicting and a new search, choosing within the whole tolerance cost the new "
        "search's best or selected model more than that too often."
        if np.isfinite(within) and within < analysis.tolerance
        else ""
    )
    return (
        f"- **How sure:** {held}; the best-model intervals held less often than their level on independent "
        f"searches (`python -m benchmarks.calibration`), so read their upper ends as optimistic.{stricter}"
    )


def _looser(analysis: Analysis, tuned: pd.DataFrame) -> str:
    """The tolerance the closest rule would come within (the upper end the choice compares), as advice."""
    if analysis.objective == "search":
        needed = np.fmax(tuned["best_regret_high"].to_numpy(float), tuned["selected_regret_high"].to_numpy(float))
    else:
        needed = tuned["regret_high"].to_numpy(float)
    fires = tuned["epochs_saved"].to_numpy(float) > 0
    needed = np.where(fires & np.isfinite(needed), needed, np.inf)
    if not np.isfinite(needed).any():
        return ""
    closest = tuned.iloc[int(np.argmin(needed))]
    looser = math.ceil(1000 * max(float(needed.min()), analysis.tolerance) + 1e-9) / 1000
    return (
        f"a looser tolerance: {closest['policy']} on {closest['metric']} comes within {as_given(analysis, looser)} "
        f"(`{_flag(analysis, max(float(needed.min()), analysis.tolerance), looser)}`; the held-out check may still "
        "refuse it), "
    )


def _nothing_lines(analysis: Analysis, configuration: ConfigurationChoice | None) -> list[str]:
    """Why there is nothing to run, in one sentence, and what would give an answer."""
    curves = analysis.curves
    tolerance = as_given(analysis, analysis.tolerance)
    table = analysis.recommendations
    tuned = table[table["kind"] == "recommended"]
    if curves is not None and curves.mostly_cut:
        why = (
            f"{curves.cut_short} of {len(curves.trial_ids)} curves were cut short, so the rest are the curves the "
            "scheduler let run, not a sample of the next search"
        )
        step = (
            "record whole curves: `tune-stop search SPACE --full-curves` (or the whole loop: "
            "`tune-stop search SPACE --calibrate N`), then `tune-stop recommend` on that experiment"
        )
    elif (tuned["choice"] == Choice.NOISE).any():
        noise = analysis.best_model_noise
        looser = math.ceil(100 * noise) / 100
        best, target = _fid_best(analysis), unkept(analysis.target, analysis.kept_by)
        in_points = f" ({noise * best:.3g} {target} points)" if best is not None else ""
        why = (
            f"the best model moves by {as_given(analysis, noise)}{in_points} from one epoch to the next by chance, "
            f"more than the {tolerance} tolerance, so no stop can be judged within it"
        )
        # The same tolerance in the target's points, for a FID (the rounded share, so the two flags agree).
        also = f", or in {target} points `--tolerance-points {_rounded_up(looser * best)}`" if best is not None else ""
        step = f"a tolerance above that noise (`{_flag(analysis, noise, looser)}`{also}), or a steadier metric"
    else:
        judged = (
            "kept the best and selected models" if analysis.objective == "search" else "kept its mean per-curve regret"
        )
        # No rule is within the tolerance here (one would be the answer), but the check may have refused some.
        why = (
            f"the values within the {tolerance} tolerance were refused by the check on held-out splits: chosen "
            "on some configurations, they cost a search of the others its best or selected model more than "
            "that too often"
            if (tuned["choice"] == Choice.HELD_OUT).any()
            else f"no rule {judged} within the {tolerance} tolerance and still saved epochs"
        )
        if configuration is not None:
            why += f", and no scheduler did in {1 - configuration.risk:.0%} of the simulated searches"
        configs = analysis.split.n_configs if analysis.split is not None else 0
        step = (
            f"{_looser(analysis, tuned)}or a search with more configurations (this one has {configs}; the "
            "intervals narrow as they grow)"
        )
    return [
        "- **Run:** nothing new: train every trial to its budget, as before; no stopping file is written.",
        f"- **Why:** {why}.",
        f"- **Next:** {step}.",
        "- **The table below** shows what each rule would have cost, for comparison only.",
    ]
