"""The report's plots: learning curves with the recommended stops, trade-off and search frontiers."""

from __future__ import annotations

import textwrap
from typing import Any

import numpy as np

from analysis._answer import as_given
from analysis._configuration_choice import ConfigurationChoice
from analysis._recommend import Analysis
from analysis._search import TOP_SHARE
from analysis._snapshot import unkept
from tune_stop.stoppers import mode_sign

__all__ = ["plot_curves", "plot_search", "plot_tradeoff"]


def _fit_margins(figure: Any) -> None:
    """Fixed margins for the one 8 x 5 inch axes: ``tight_layout`` measures every label first and took a third
    of a report's time."""
    figure.subplots_adjust(left=0.09, right=0.98, bottom=0.1, top=0.93)


def _top_curves(analysis: Analysis) -> np.ndarray:
    """Curves of the best tenth of the configurations, ranked by their fold-mean target at the last epoch."""
    assert analysis.curves is not None and analysis.split is not None
    curves, split = analysis.curves, analysis.split
    last = curves.matrix(analysis.target)[np.arange(len(curves.trial_ids)), curves.lengths - 1]
    sign = mode_sign(analysis.target_mode)
    sums = np.bincount(split.config_index, weights=np.nan_to_num(sign * last, nan=np.inf), minlength=split.n_configs)
    score = sums / np.bincount(split.config_index, minlength=split.n_configs)
    top = np.argsort(score, kind="stable")[: max(1, int(np.ceil(TOP_SHARE * split.n_configs)))]
    return np.isin(split.config_index, top)


def plot_curves(analysis: Analysis, metric: str, path: str, max_curves: int = 60) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    assert analysis.curves is not None
    values = analysis.curves.matrix(metric)
    epochs = np.arange(1, values.shape[1] + 1)
    top = _top_curves(analysis)
    shown = np.union1d(np.linspace(0, len(values) - 1, min(max_curves, len(values))).astype(int), np.flatnonzero(top))
    figure, axes = plt.subplots(figsize=(8, 5))
    for row in shown:
        axes.plot(epochs, values[row], color="0.35" if top[row] else "0.8", linewidth=1.2 if top[row] else 0.8)
    axes.plot([], [], color="0.35", linewidth=1.2, label="best 10% of configurations (filled marks: their stops)")
    answer = analysis.recommended()
    title = f"Learning curves of {metric}: " + (
        "nothing is recommended"
        if answer is None
        else f"the recommended rule is on {answer.row['metric']}"
        if answer.row["metric"] != metric
        else "where the recommended rule stops them"
    )
    for result, best, kind in analysis.replays:
        policy = result.policy
        if (
            answer is None
            or kind != "recommended"
            or best is None
            or (policy.name, policy.metric) != (answer.row["policy"], answer.row["metric"])
        ):
            continue
        value = policy.candidates[best]
        stops = result.stop_epoch[shown, best]
        fired = stops > 0
        marker, color = "o", "tab:blue"
        for on_top in (False, True):
            rows = fired & (top[shown] == on_top)
            axes.scatter(
                stops[rows],
                values[shown[rows], stops[rows] - 1],
                marker=marker,
                s=40 if on_top else 24,
                zorder=3,
                facecolors=color if on_top else "none",
                edgecolors=color,
                label=None if on_top else f"stops of: {answer.row['description']}",
            )
        if policy.family == "threshold":
            axes.axhline(value, color=color, linestyle="--", linewidth=0.8, alpha=0.8, label="the threshold")
    axes.set_xlabel("epoch")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no tick at 1.5
    axes.set_ylabel(metric)
    if _spans_decades(metric, values):  # FID falls from hundreds to tens: on a linear axis the good runs are flat
        axes.set_yscale("log")
        axes.set_ylabel(f"{metric} (log scale)")
    axes.set_title(title, fontsize=10)
    axes.legend(fontsize=8)
    _fit_margins(figure)
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)


def _spans_decades(metric: str, values: np.ndarray) -> bool:
    """Whether a FID's curves (positive) span more than a factor of 10, as a GAN's do."""
    finite = values[np.isfinite(values)]
    return metric.startswith("fid") and finite.size > 0 and finite.min() > 0 and finite.max() > 10 * finite.min()


def _plot_frontier(
    analysis: Analysis,
    metric: str,
    tolerance: float | None,
    path: str,
    *,
    x: str,
    y: str,
    labels: tuple[str, str, str],
    full_training_at: float | None = None,
    configuration: ConfigurationChoice | None = None,
    answer_elsewhere: bool = False,
) -> None:
    """Each policy's candidates as ``x`` against ``y`` (both shares, drawn in %; ``y``, a regret, in the target's
    points where the tolerance was given in points), baselines as crosses, the recommended value with its intervals
    (``<name>_low``, ``<name>_high``) and the tolerance.

    ``labels``: the x label, the y label (its unit is added) and the title; ``full_training_at``: where to mark
    full training on x; ``configuration``: the stopping configurations judged, whose chosen one (then the answer)
    and peers are drawn at their mean compute and mean best-model regret over the simulated searches.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    candidates = analysis.candidates[analysis.candidates["metric"] == metric]
    answer = analysis.recommended()
    points = analysis.points_scale
    up_by = points if points is not None else 100.0  # a share drawn in the target's points, else in %
    runs_configuration = answer_elsewhere or (configuration is not None and configuration.runs)
    figure, axes = plt.subplots(figsize=(12, 5))  # the legend to the right of the axes, off the points
    marked = False
    for name, group in candidates.groupby("policy", sort=False):
        group = group[np.isfinite(group[y])]
        if group.empty:
            continue
        if (group["kind"] == "baseline").all():
            axes.scatter(100 * group[x], up_by * group[y], marker="x", s=60, label=name)
            continue
        line = axes.plot(100 * group[x], up_by * group[y], ".-", alpha=0.6, label=f"{name} (each value)")
        chosen = group[group["recommended"]]
        is_answer = answer is not None and (name, metric) == (answer.row["policy"], answer.row["metric"])
        star = is_answer and not runs_configuration
        label: str | None
        if is_answer:
            label = (
                f"recommended: {name} ({analysis.interval:.0%} intervals)" if star else f"{name} alone (stoppers.yaml)"
            )
        else:
            label = None if marked else f"each rule's chosen value ({analysis.interval:.0%} intervals)"
            marked = True
        # The chosen value with its prediction intervals for the next search.
        across, up = chosen[x].to_numpy(), chosen[y].to_numpy()
        axes.errorbar(
            100 * across,
            up_by * up,
            xerr=100 * np.abs(chosen[[f"{x}_low", f"{x}_high"]].to_numpy().T - across),
            yerr=up_by * np.abs(chosen[[f"{y}_low", f"{y}_high"]].to_numpy().T - up),
            fmt="*" if star else "D" if is_answer else "o",
            markersize=18 if star else 9 if is_answer else 7,
            markeredgecolor="black",
            color=line[0].get_color(),
            zorder=4 if is_answer else 3,
            label=label,
        )
    marks = candidates[(candidates["recommended"] | (candidates["kind"] == "baseline")) & np.isfinite(candidates[y])]
    _name_overlaps(
        axes, 100 * marks[x].to_numpy(float), up_by * marks[y].to_numpy(float), list(marks["policy"]), up_by / 1000
    )
    if configuration is not None and y == "best_regret":
        _configurations(axes, configuration, up_by)
    target = unkept(analysis.target, analysis.kept_by)
    if tolerance is not None:
        label = f"tolerance {as_given(analysis, tolerance)}"
        axes.axhline(up_by * tolerance, color="red", linestyle="--", linewidth=1, label=label)
    if full_training_at is not None:
        axes.axvline(full_training_at, color="0.5", linestyle=":", linewidth=1, label="full training")
    # Zoom to where the decisions lie: the tolerance, the baselines and the chosen values' intervals, up to
    # ten tolerances (a per-curve regret that ASHA's cuts dominate would push the tolerance onto the x axis).
    decided = candidates[candidates["recommended"] | (candidates["kind"] == "baseline")]
    peers = [row["best_regret_mean"] for _, row in configuration.peers()] if configuration is not None else []
    limit = tolerance if tolerance is not None else analysis.tolerance  # the zoom follows the tolerance either way
    top = np.nanmax([4 * limit, *(1.3 * decided[f"{y}_high"].to_numpy(dtype=float)), *(1.3 * np.array(peers))])
    if limit > 0:
        top = min(top, 10 * limit)
    if np.isfinite(top) and top > 0:
        axes.set_ylim(bottom=min(0.0, up_by * float(np.nanmin(candidates[y]))), top=up_by * top)
    axes.set_xlabel(labels[0])
    axes.set_ylabel(f"{labels[1]} ({target + ' points' if points is not None else '%'})")
    axes.set_title(labels[2])
    axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    figure.subplots_adjust(left=0.06, right=0.62, bottom=0.1, top=0.93)
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)


def _name_overlaps(axes: Any, across: np.ndarray, up: np.ndarray, names: list[str], up_grid: float = 0.1) -> None:
    """Writes beside a mark the rules drawn on the same spot (the same point on a grid of 0.1 percentage points
    across and ``up_grid`` up: 0.1% of the regret's unit), which one mark would hide."""
    spots: dict[tuple[float, float], list[tuple[float, float, str]]] = {}
    for at_x, at_y, name in zip(across, up, names, strict=True):
        key = (round(float(at_x), 1), round(float(at_y) / up_grid))
        spots.setdefault(key, []).append((float(at_x), float(at_y), name))
    for here in spots.values():
        if len(here) > 1:
            text = textwrap.fill(f"{len(here)} here: {', '.join(name for _, _, name in here)}", 40)
            at = (here[0][0], here[0][1])
            axes.annotate(text, at, xytext=(8, 8), textcoords="offset points", fontsize=7, color="0.25")


def _configurations(axes: Any, choice: ConfigurationChoice, up_by: float) -> None:
    """The chosen configuration (a star when it is the answer) and the peers, at their means on the simulated
    searches (the regret times ``up_by``, as the other marks)."""
    # The chosen configuration is drawn where it is the answer (configuration.yaml); one that trains everything
    # writes no file and is not the answer where a per-trial rule is.
    shown = [("the answer: ", choice.chosen)] if choice.runs and choice.chosen is not None else []
    for (name, row), marker in zip(choice.peers(), "PXh", strict=False):
        axes.scatter(
            100 * row["compute_used"],
            up_by * row["best_regret_mean"],
            marker=marker,
            s=90,
            color="0.3",
            zorder=4,
            label=f"{name} (mean of simulated searches)",
        )
    for prefix, index in shown:
        chosen = choice.table.iloc[index]
        axes.scatter(
            100 * chosen["compute_used"],
            up_by * chosen["best_regret_mean"],
            marker="*",
            s=420,
            color="gold",
            edgecolors="black",
            zorder=5,
            label=textwrap.fill(f"{prefix}{chosen['configuration']} (configuration.yaml)", 52),
        )


def plot_tradeoff(
    analysis: Analysis, metric: str, tolerance: float, path: str, configuration: ConfigurationChoice | None = None
) -> None:
    """Epochs saved against mean per-curve regret (the tolerance drawn where it bounds that regret: the ``tolerance``
    objective; ``configuration``: where one is the answer, the rule is marked as the rule alone, not recommended)."""
    _plot_frontier(
        analysis,
        metric,
        tolerance if analysis.objective == "tolerance" else None,
        path,
        x="epochs_saved",
        y="regret",
        answer_elsewhere=configuration is not None and configuration.runs,
        labels=(
            "epochs saved (%)",
            f"regret in {analysis.target}",
            f"Per curve: epochs saved against regret, rules on {metric} (marks: chosen values)",
        ),
    )


def plot_search(
    analysis: Analysis, metric: str, tolerance: float, path: str, configuration: ConfigurationChoice | None = None
) -> None:
    """Compute used against the best model's regret, with the stopping configurations judged, if any."""
    recommended = analysis.recommended()
    star = (configuration is not None and configuration.runs) or (
        recommended is not None and recommended.row["metric"] == metric
    )
    _plot_frontier(
        analysis,
        metric,
        tolerance,
        path,
        x="compute_used",
        y="best_regret",
        labels=(
            "compute used (% of epochs of full training)",
            f"best model's regret in {analysis.target}",
            f"The search: compute against best model, rules on {metric}"
            + (" (star: recommended)" if star else " (nothing recommended on it)"),
        ),
        full_training_at=100.0,
        configuration=configuration,
    )
