"""The options of an analysis resolved against its curves, and the search-level figures they ask for."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis._replay import CurveSet, PolicyReplay
from analysis._search import SearchFigures, search_figures
from analysis._split import Split

__all__ = ["Context", "search_of"]


@dataclass(frozen=True)
class Context:
    """The options as resolved against the curves: what every step of the analysis reads."""

    objective: str
    tolerance: float
    penalty: float
    level: float
    new_configs: int
    seed: int
    target: str
    target_mode: str
    selection: tuple[str, str]
    selection_values: np.ndarray = field(repr=False)
    seconds: np.ndarray | None = field(repr=False)
    #: :attr:`Analysis.best_model_noise`.
    noise: float = np.nan


def search_of(
    result: PolicyReplay,
    curves: CurveSet,
    split: Split,
    ctx: Context,
    mask: np.ndarray | None,
    *,
    new_configs: int,
    rng: np.random.Generator,
    draws: int,
) -> SearchFigures:
    """:func:`analysis._search.search_figures` of the curves in ``mask`` with the analysis' ctx."""
    return search_figures(
        result,
        curves,
        split.config_index,
        ctx.selection_values,
        ctx.selection[1],
        ctx.target_mode,
        mask=mask,
        new_configs=new_configs,
        level=ctx.level,
        rng=rng,
        draws=draws,
        seconds=ctx.seconds,
    )
