"""Report files of ``tune-stop recommend``: CSV, Markdown and PNG plots, written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis._recommend import Analysis

__all__ = ["atomic_write", "markdown_report", "write_report"]


def atomic_write(path: Path, write: Callable[[str], object]) -> Path:
    """Calls ``write(temporary_path)`` and renames the result onto ``path``.

    Readers see either the old file or the complete new one, never a partial file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _percent(value: Any) -> str:
    value = float(value)
    return "n/a" if not np.isfinite(value) else f"{100 * value:.1f}%"


def _pm(mean: Any, std: Any) -> str:
    mean, std = float(mean), float(std)
    if not np.isfinite(mean):
        return "n/a"
    return f"{100 * mean:.1f}% ± {100 * std:.1f}%" if np.isfinite(std) else f"{100 * mean:.1f}%"


def markdown_report(analysis: Analysis, tolerance: float, source: str) -> str:
    """The recommendations as a Markdown table with a short plain-language reading."""
    table = analysis.recommendations
    lines = [
        "# Stopping-policy recommendations",
        "",
        f"Experiment: `{source}`. Quality judged by `{analysis.target}` ({analysis.target_mode}) at the stop "
        f"epoch; regret is the relative loss of that quality against the best epoch of each curve. "
        f"Figures are means ± standard deviations over held-out folds (K-fold cross-validation).",
        "",
        "| policy | metric | parameter | recommended | regret (CV) | epochs saved (CV) | fired on "
        "| curves | censored | kind |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.policy} | {row.metric} ({row.mode}) | {row.parameter} | {row.recommended:.4g} | "
            f"{_pm(row.cv_regret_mean, row.cv_regret_std)} | "
            f"{_pm(row.cv_epochs_saved_mean, row.cv_epochs_saved_std)} | {_percent(row.trigger_rate)} | "
            f"{row.n_curves} | {row.n_censored} | {row.kind} |"
        )
    lines += ["", "## Reading", ""]
    for metric, group in table.groupby("metric", sort=False):
        tuned = group[(group["kind"] == "recommended") & group["cv_epochs_saved_mean"].notna()]
        if tuned.empty:
            lines.append(f"- `{metric}`: no policy could be cross-validated (too many censored curves or folds).")
            continue
        within = tuned[tuned["cv_regret_mean"] <= tolerance]
        best = (
            (within if not within.empty else tuned)
            .sort_values(["cv_epochs_saved_mean", "cv_regret_mean"], ascending=[False, True])
            .iloc[0]
        )
        lines.append(
            f"- `{metric}`: {best['description']}. On held-out folds this saved "
            f"{_pm(best['cv_epochs_saved_mean'], best['cv_epochs_saved_std'])} of the epochs at "
            f"{_pm(best['cv_regret_mean'], best['cv_regret_std'])} regret in {analysis.target}, and fired on "
            f"{_percent(best['trigger_rate'])} of the curves"
            + ("" if not within.empty else f" (no policy stayed within the {_percent(tolerance)} tolerance)")
            + "."
        )
        baselines = group[(group["kind"] == "baseline") & group["cv_epochs_saved_mean"].notna()]
        for baseline in baselines.to_dict("records"):
            saved = _pm(float(baseline["cv_epochs_saved_mean"]), float(baseline["cv_epochs_saved_std"]))
            regret = _pm(float(baseline["cv_regret_mean"]), float(baseline["cv_regret_std"]))
            lines.append(f"  - baseline `{baseline['policy']}`: saved {saved} at {regret} regret.")
    ceiling = analysis.ceiling
    if ceiling is not None and ceiling.n_curves:
        lines.append(
            f"- Ceiling: stopping each of the {ceiling.n_curves} complete curves at its best moment in hindsight "
            f"would save at most {_percent(ceiling.epochs_saved)} of the epochs within the "
            f"{_percent(ceiling.tolerance)} tolerance; no stopping rule can save more on these curves."
        )
    censored = int(table["n_censored"].max()) if len(table) else 0
    if censored:
        lines += [
            "",
            f"Censored curves (up to {censored} of {int(table['n_curves'].max())}) ended before their epoch "
            "budget, cut short by ASHA or by their own stopper, before the policy would have fired: they are "
            "excluded, never treated as converged. Run with `--scheduler fifo` for uncensored curves.",
        ]
    return "\n".join(lines) + "\n"


def _plot_curves(analysis: Analysis, metric: str, path: str, max_curves: int = 60) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert analysis.curves is not None
    values = analysis.curves.matrix(metric)
    epochs = np.arange(1, values.shape[1] + 1)
    shown = np.linspace(0, len(values) - 1, min(max_curves, len(values))).astype(int)
    figure, axes = plt.subplots(figsize=(8, 5))
    for row in shown:
        axes.plot(epochs, values[row], color="0.75", linewidth=0.8)
    markers = iter("ovs^D<>pPX*")
    for result, best, kind in analysis.replays:
        if kind != "recommended" or best is None or result.policy.metric != metric:
            continue
        stops = result.stop_epoch[shown, best]
        fired = stops > 0
        axes.scatter(
            stops[fired],
            values[shown[fired], stops[fired] - 1],
            marker=next(markers),
            s=28,
            zorder=3,
            label=f"{result.policy.name} {result.policy.parameter}={result.policy.candidates[best]:.4g}",
        )
    axes.set_xlabel("epoch")
    axes.set_ylabel(metric)
    axes.set_title(f"Learning curves of {metric} with the recommended stop points")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)


def _plot_tradeoff(analysis: Analysis, metric: str, tolerance: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    candidates = analysis.candidates[analysis.candidates["metric"] == metric]
    figure, axes = plt.subplots(figsize=(8, 5))
    for name, group in candidates.groupby("policy", sort=False):
        group = group[np.isfinite(group["regret_all"])]
        if group.empty:
            continue
        if (group["kind"] == "baseline").all():
            axes.scatter(100 * group["epochs_saved_all"], 100 * group["regret_all"], marker="x", s=60, label=name)
            continue
        line = axes.plot(100 * group["epochs_saved_all"], 100 * group["regret_all"], ".-", alpha=0.6, label=name)
        chosen = group[group["recommended"]]
        axes.scatter(
            100 * chosen["epochs_saved_all"],
            100 * chosen["regret_all"],
            s=120,
            edgecolor="black",
            color=line[0].get_color(),
            zorder=3,
        )
    axes.axhline(100 * tolerance, color="red", linestyle="--", linewidth=1, label=f"tolerance {100 * tolerance:g}%")
    axes.set_xlabel("epochs saved (%)")
    axes.set_ylabel(f"regret in {analysis.target} (%)")
    axes.set_title(f"Trade-off per policy on {metric} (circled: recommended)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)


def write_report(analysis: Analysis, out: Path, *, tolerance: float, source: str) -> list[Path]:
    """Writes every report file under ``out`` and returns their paths."""
    written = [
        atomic_write(out / "recommendations.csv", lambda p: analysis.recommendations.to_csv(p, index=False)),
        atomic_write(out / "policies.csv", lambda p: analysis.candidates.to_csv(p, index=False)),
        atomic_write(
            out / "recommendations.md",
            lambda p: Path(p).write_text(markdown_report(analysis, tolerance, source)),
        ),
    ]
    for metric in pd.unique(analysis.recommendations["metric"]):
        name = str(metric)

        def curves_plot(path: str, metric: str = name) -> None:
            _plot_curves(analysis, metric, path)

        def tradeoff_plot(path: str, metric: str = name) -> None:
            _plot_tradeoff(analysis, metric, tolerance, path)

        written.append(atomic_write(out / f"curves_{name}.png", curves_plot))
        written.append(atomic_write(out / f"tradeoff_{name}.png", tradeoff_plot))
    return written
