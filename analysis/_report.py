"""Report files of ``tune-stop recommend``: CSV, Markdown and PNG plots, written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis._configuration_choice import ConfigurationChoice
from analysis._markdown import markdown_report
from analysis._plots import plot_curves, plot_search, plot_tradeoff
from analysis._recommend import Analysis
from analysis._table import readable_table
from analysis._usage import STOPPERS_FILE, stoppers_yaml

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
        # mkstemp makes the file private (0600); a report gets the user's usual permissions.
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    """The process's umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_report(
    analysis: Analysis,
    out: Path,
    *,
    tolerance: float,
    source: str,
    configuration: ConfigurationChoice | None = None,
) -> list[Path]:
    """Writes every report file under ``out`` and returns their paths.

    ``configuration``: the stopping configurations judged on the same curves, if they were;
    its answer then leads ``recommendations.md``.
    """
    readable = readable_table(analysis, configuration)
    written = [
        atomic_write(out / "recommendations.csv", lambda p: readable.to_csv(p, index=False)),
        atomic_write(out / "policies.csv", lambda p: analysis.candidates.to_csv(p, index=False)),
        atomic_write(
            out / "recommendations.md",
            lambda p: Path(p).write_text(markdown_report(analysis, tolerance, source, configuration)),
        ),
    ]
    recommendation = analysis.recommended()
    if recommendation is not None:
        text = stoppers_yaml(analysis, recommendation, source, configuration)
        written.append(atomic_write(out / STOPPERS_FILE, lambda p: Path(p).write_text(text)))
    else:
        (out / STOPPERS_FILE).unlink(missing_ok=True)  # an older recommendation must not be taken for this one
    for metric in pd.unique(analysis.recommendations["metric"]):
        name = str(metric)

        def curves_plot(path: str, metric: str = name) -> None:
            plot_curves(analysis, metric, path)

        def tradeoff_plot(path: str, metric: str = name) -> None:
            plot_tradeoff(analysis, metric, tolerance, path, configuration)

        def search_plot(path: str, metric: str = name) -> None:
            plot_search(analysis, metric, tolerance, path, configuration)

        rows = analysis.candidates[analysis.candidates["metric"] == metric]
        if np.isfinite(rows["best_regret"].to_numpy(dtype=float)).any():  # the plot a person wants, first
            written.append(atomic_write(out / f"search_{name}.png", search_plot))
        written.append(atomic_write(out / f"curves_{name}.png", curves_plot))
        written.append(atomic_write(out / f"tradeoff_{name}.png", tradeoff_plot))
    return written
