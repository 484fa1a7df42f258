"""The table a person reads: the stopping configurations judged (where they were), then one row per policy's
chosen value and per baseline; only the answer says recommended.

``recommendations.csv`` (every column), ``recommendations.md`` and ``recommend``'s screen
(nine columns) show it; :func:`readable_table` marks the answer's row, and no other.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from analysis._configuration_choice import ConfigurationChoice
from analysis._format import percent, regret, share, span, value, within
from analysis._recommend import Analysis
from analysis._snapshot import unkept
from analysis._words import readable_recommendations

__all__ = ["configuration_note", "markdown_table", "person_table", "readable_table", "with_points"]


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
    regrets = [name for name in readable.columns if _regret_base(str(name)) in REGRETS]
    return with_points(readable, regrets, analysis.points_scale)


def with_points(table: pd.DataFrame, regrets: list[str], scale: float | None) -> pd.DataFrame:
    """``table`` with, where the tolerance was given in points (``scale``: :attr:`Analysis.points_scale`), each of
    the ``regrets`` columns in those points too (``<name>_points``) beside the number they are shares of
    (``regret_scale``); unchanged otherwise."""
    if scale is None:
        return table
    return table.assign(regret_scale=scale, **{f"{name}_points": table[name] * scale for name in regrets})


#: The regrets (with their ``_low`` and ``_high`` interval ends) that ``recommendations.csv`` also gives in points.
REGRETS = ("regret", "best_regret", "selected_regret")


def _regret_base(name: str) -> str:
    return name.removesuffix("_low").removesuffix("_high")


def person_table(analysis: Analysis, configuration: ConfigurationChoice | None = None) -> pd.DataFrame:
    """The table a person reads, in words: one row per policy's chosen value and per baseline, nine columns,
    only the answer's row says recommended. ``recommendations.md`` and ``recommend``'s screen show it.

    Where stopping configurations were judged, the chosen one (where it is the answer) and the peers come first,
    at their means over the simulated searches (the worst beside the regrets), not intervals: the held-out check
    of the choice is in the report's configurations section."""
    level = share(analysis.interval)
    readable = readable_table(analysis, configuration)
    scale = analysis.points_scale
    unit = f" ({unkept(analysis.target, analysis.kept_by)} points)" if scale is not None else ""
    names = Columns(
        f"compute used [{level}]",
        f"best model{unit} [{level}]",
        f"selected model{unit} [{level}]",
        f"epochs saved [{level}]",
        f"mean per-curve regret{unit} [{level}]",
    )
    rows = [
        {
            "rule": f"{row.policy} on {row.metric}",
            "value": value(row.recommended),
            names.compute: span(row.compute_used, row.compute_used_low, row.compute_used_high),
            names.best: span(row.best_regret, row.best_regret_low, row.best_regret_high, scale),
            names.selected: span(row.selected_regret, row.selected_regret_low, row.selected_regret_high, scale),
            names.epochs_saved: span(row.epochs_saved, row.epochs_saved_low, row.epochs_saved_high),
            names.mean_regret: span(row.regret, row.regret_low, row.regret_high, scale),
            HELD_OUT: within(row.cv_within_tolerance, row.cv_cells) + (" held-out cells" if row.cv_cells else ""),
            "status": row.status,
        }
        for row in readable.itertuples()
    ]
    return pd.DataFrame([*_configuration_rows(configuration, names, scale), *rows])


@dataclass(frozen=True)
class Columns:
    """The headers of the figures' columns, in order (a regret's says its unit where it is in points)."""

    compute: str
    best: str
    selected: str
    epochs_saved: str
    mean_regret: str


#: The last figure's column: a rule's share of held-out cells of configurations within the tolerance, a
#: configuration's share of the simulated searches it was chosen on.
HELD_OUT = "within tolerance"


def _configuration_rows(
    choice: ConfigurationChoice | None, names: Columns, scale: float | None
) -> list[dict[str, object]]:
    """The chosen stopping configuration (where it is the answer) and the peers a user would switch on, at their
    means over the simulated searches (worst beside the regrets, in points with ``scale``), before the per-trial
    rules; the other columns are left empty."""
    if choice is None:
        return []
    chosen = choice.chosen if choice.runs else None
    shown = [(choice.table.iloc[chosen], "recommended (configuration.yaml)")] if chosen is not None else []
    shown += [
        (pd.Series(row), f"what you would switch on: {name}")
        for name, row in choice.peers()
        if not choice.is_answer(row)  # a peer that is the answer is the answer's row
    ]
    return [
        {
            "rule": str(row["configuration"]),
            "value": "configuration.yaml" if status.startswith("recommended") else "",
            names.compute: f"{percent(row['compute_used'])} mean",
            names.best: _mean_worst(row, "best_regret", scale),
            names.selected: _mean_worst(row, "selected_regret", scale),
            names.epochs_saved: "",
            names.mean_regret: "",
            HELD_OUT: f"{share(1 - float(row['exceeded']))} of {int(row['searches'])} simulated searches (chosen on "
            "them)",
            "status": status,
        }
        for row, status in shown
    ]


def markdown_table(analysis: Analysis, configuration: ConfigurationChoice | None) -> list[str]:
    """:func:`person_table` in Markdown, with :func:`configuration_note` below it."""
    table = person_table(analysis, configuration)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in table.itertuples(index=False)]
    note = configuration_note(analysis, configuration)
    return [*lines, "", note] if note else lines


def configuration_note(analysis: Analysis, configuration: ConfigurationChoice | None) -> str | None:
    """What the configuration rows' figures are (they sit under the intervals' headers), or None without them."""
    # There are configuration rows where the answer is a configuration, or where a peer was judged.
    if configuration is None or not (configuration.runs or configuration.peers()):
        return None
    return (
        f"The configuration rows are means over {configuration.searches} simulated searches of "
        f"{configuration.new_configs} of these configurations (the worst regret beside the mean), not intervals; "
        f"the {analysis.interval:.0%} intervals are the rules' rows', for a search of {analysis.new_configs}."
    )


def _mean_worst(row: pd.Series, name: str, scale: float | None) -> str:
    return f"{regret(row[f'{name}_mean'], scale)} mean, {regret(row[f'{name}_max'], scale)} worst"
