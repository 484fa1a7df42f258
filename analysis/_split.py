"""Grouped cross-validation that holds out whole configurations, crossed with the data folds.

A held-out data fold of a configuration is a near-copy of its other folds (same
hyperparameters, same seed), so it says little about a new search. Every held-out set
here is a group of whole configurations on one data fold, and the training set is the
other configurations on the other folds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["Split", "make_split", "search_splits"]


@dataclass(frozen=True)
class Split:
    """Grouped cross-validation over configurations, crossed with the data folds.

    Attributes:
        unit: What is held out: ``"configuration"`` (with all its folds) or ``"trial"``
            (curves without configuration ids, each its own configuration).
        config_index: ``(n_curves,)`` index of each curve's configuration, from 0.
        n_configs: Number of configurations.
        group: ``(n_curves,)`` group of each curve's configuration, from 0.
        n_groups: Number of groups of configurations.
        fold: ``(n_curves,)`` data fold of each curve, from 0.
        n_folds: Number of data folds.
    """

    unit: str
    config_index: np.ndarray
    n_configs: int
    group: np.ndarray
    n_groups: int
    fold: np.ndarray
    n_folds: int

    @property
    def n_cells(self) -> int:
        """Held-out cells: groups x folds (groups alone with one fold); 0 when nothing can be held out."""
        if self.n_groups < 2:
            return 0
        return self.n_groups * (self.n_folds if self.n_folds > 1 else 1)

    def cells(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(train, test)`` curve masks of each held-out cell.

        The test set is one group of configurations on one data fold (all of its curves
        when there is one fold); the training set is the other configurations on the
        other folds, so no test curve shares a configuration or a fold with training.
        """
        if self.n_cells == 0:
            return
        folds = range(self.n_folds) if self.n_folds > 1 else [None]
        for group in range(self.n_groups):
            for fold in folds:
                held_out = self.group == group
                if fold is None:
                    yield ~held_out, held_out
                else:
                    yield ~held_out & (self.fold != fold), held_out & (self.fold == fold)

    def describe(self) -> str:
        """K and the unit held out, in words."""
        if self.n_cells == 0:
            return f"nothing held out (only {self.n_configs} {self.unit})"
        crossed = f" x {self.n_folds} data folds" if self.n_folds > 1 else ""
        unit = "configurations (each with all its folds)" if self.unit == "configuration" else "trials"
        return f"{self.n_groups} groups of {unit}{crossed} = {self.n_cells} held-out cells"


def make_split(config_ids: np.ndarray, folds: np.ndarray, *, max_groups: int = 5, seed: int = 0) -> Split:
    """Assigns configurations to ``min(max_groups, n_configs)`` groups at random (seeded).

    Args:
        config_ids: ``(n_curves,)`` configuration of each curve.
        folds: ``(n_curves,)`` data fold of each curve.
        max_groups: Most groups (5 when there are enough configurations).
        seed: Seed of the random assignment.

    Returns:
        The split; groups differ in size by at most one configuration.
    """
    configs, config_index = np.unique(np.asarray(config_ids).astype(str), return_inverse=True)
    _, fold_index = np.unique(np.asarray(folds).astype(str), return_inverse=True)
    n_configs = len(configs)
    n_groups = min(max_groups, n_configs)
    order = np.random.default_rng(seed).permutation(n_configs)
    group_of_config = np.empty(n_configs, dtype=np.int64)
    group_of_config[order] = np.arange(n_configs) % max(n_groups, 1)
    return Split(
        unit="configuration" if n_configs < len(config_index) else "trial",
        config_index=config_index,
        n_configs=n_configs,
        group=group_of_config[config_index],
        n_groups=n_groups,
        fold=fold_index,
        n_folds=int(fold_index.max()) + 1 if len(fold_index) else 0,
    )


def search_splits(split: Split, new_configs: int, count: int, seed: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``(predicting, new)`` curve masks of ``count`` random splits of the configurations into two searches.

    The M configurations are split as M : N (``new_configs``), so that the new part holds
    a configuration better than every predicting one about as often as the user's next
    search of N does (N/(N+M)). Every curve of a configuration goes with it. Nothing is
    yielded when either part would be too small to judge (under 2 predicting
    configurations or under 1 new).
    """
    n_configs = split.n_configs
    n_new = round(n_configs * new_configs / (n_configs + new_configs))
    n_new = min(max(n_new, 1), n_configs - 2)
    if n_new < 1:
        return
    rng = np.random.default_rng([seed, 4])
    for _ in range(count):
        new = np.zeros(n_configs, dtype=bool)
        new[rng.choice(n_configs, size=n_new, replace=False)] = True
        held_out = new[split.config_index]
        yield ~held_out, held_out
