"""Grouped cross-validation of the choice rule (`analysis._cross_validation`, `analysis._split`)."""

from __future__ import annotations

import numpy as np

from analysis import (
    analyse,
)
from tests.curves import (
    folded_curves,
)


def test_the_choice_for_a_held_out_cell_does_not_depend_on_its_configurations():
    frame = folded_curves()
    # Keep the candidate grid fixed so only the curves differ.
    policies = ("patience", "gl", "up")
    before = analyse(frame, metrics=[("val_loss", "min")], families=policies, baselines=False)
    curves, split = before.curves, before.split
    held_out = set(curves.trial_ids[split.group == 2])
    perturbed = frame.copy()
    in_group = perturbed["trial_id"].isin(held_out)
    perturbed.loc[in_group, "val_loss"] = perturbed.loc[in_group, "val_loss"] * 3 + 1
    perturbed.loc[in_group, "test_accuracy"] = perturbed.loc[in_group, "test_accuracy"][::-1].to_numpy()
    after = analyse(perturbed, metrics=[("val_loss", "min")], families=policies, baselines=False)
    assert np.array_equal(after.split.group, split.group)
    choices = before.cv_choices.merge(after.cv_choices, on=["policy", "metric", "cell"], suffixes=("", "_after"))
    cells = choices[choices["group"] == 2]
    assert len(cells) == 3 * 4  # three policies x four data folds
    assert (cells["value"] == cells["value_after"]).all()
    # ...while the perturbation is real: the held-out outcome changed.
    assert not np.allclose(cells["regret"], cells["regret_after"], equal_nan=True)


def test_no_held_out_curve_shares_a_configuration_or_a_fold_with_its_training_curves():
    from analysis import make_split

    rng = np.random.default_rng(0)
    config_ids = np.repeat([f"c{i}" for i in range(23)], 3)
    folds = np.tile([0, 1, 2], 23)
    order = rng.permutation(len(config_ids))
    split = make_split(config_ids[order], folds[order], max_groups=5, seed=1)
    assert (split.unit, split.n_groups, split.n_folds, split.n_cells) == ("configuration", 5, 3, 15)
    covered = np.zeros(len(order), dtype=int)
    for train, test in split.cells():
        assert test.any() and train.any() and not (train & test).any()
        assert not set(config_ids[order][train]) & set(config_ids[order][test])
        assert not set(folds[order][train]) & set(folds[order][test])
        covered += test
    assert (covered == 1).all()  # every curve is held out exactly once
    sizes = np.bincount(split.group[np.unique(split.config_index, return_index=True)[1]])
    assert sizes.max() - sizes.min() <= 1  # groups of configurations as equal as possible
