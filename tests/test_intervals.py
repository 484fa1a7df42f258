"""Prediction intervals for the next search and the choice rule, on data whose truth is known."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import CurveSet, Policy, analyse, markdown_report, predicted_means, replay_policy
from analysis._choice import Choice, choose_candidate
from analysis._estimate import Estimate as _Estimate
from analysis._intervals import nan_quantiles, unseen_chance, unseen_share


def synthetic_search(num_configs: int, seed: int, epochs: int = 30, folds: int = 2) -> pd.DataFrame:
    """A search drawn from a known population: U-shaped curves whose minimum, scale and noise vary by configuration."""
    rng = np.random.default_rng(seed)
    columns: dict[str, list[np.ndarray]] = {
        key: [] for key in ("trial_id", "config_id", "fold", "val_loss", "test_accuracy")
    }
    t = np.arange(1, epochs + 1)
    for config in range(num_configs):
        minimum, scale, noise = rng.uniform(5, 25), rng.uniform(0.5, 2), rng.uniform(0.002, 0.02)
        for fold in range(folds):
            columns["val_loss"].append(scale * ((t - minimum) / epochs) ** 2 + 0.1 + rng.normal(0, noise, epochs))
            columns["test_accuracy"].append(0.95 - 0.5 * ((t - minimum) / epochs) ** 2 + rng.normal(0, 0.005, epochs))
            columns["trial_id"].append(np.full(epochs, f"s{seed}-c{config}-f{fold}"))
            columns["config_id"].append(np.full(epochs, f"c{config}"))
            columns["fold"].append(np.full(epochs, fold))
    frame = pd.DataFrame({key: np.concatenate(parts) for key, parts in columns.items()})
    frame["epoch"] = np.tile(t, num_configs * folds)
    frame["config/max_epochs"] = epochs
    return frame


@pytest.mark.e2e  # slower: hundreds of simulated new searches; the whole suite runs it
def test_intervals_cover_new_searches_drawn_from_the_same_population_at_their_level():
    """Recommend on one search, draw a new one from the same population, count how often the interval held."""
    policy = Policy("patience", "val_loss", "min", (2.0,))
    covered, above, repeats = 0, 0, 80
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for repeat in range(repeats):
            analysis = analyse(
                synthetic_search(30, seed=repeat),
                metrics=[("val_loss", "min")],
                families=("patience",),
                baselines=False,
            )
            row = analysis.candidates.set_index("value").loc[2.0]
            new = replay_policy(
                policy, CurveSet.from_frame(synthetic_search(30, seed=10_000 + repeat)), "test_accuracy", "max"
            )
            realized = new.regret[new.evaluable[:, 0], 0].mean()
            covered += row["regret_low"] <= realized <= row["regret_high"]
            above += realized > row["regret_high"]
    # 80% intervals; with 80 draws the binomial standard error is 4.5 points.
    assert 0.68 <= covered / repeats <= 0.92
    assert above / repeats <= 0.2  # the side that matters: a new search worse than the upper end


def test_predicted_means_widen_with_fewer_observed_configurations_and_handle_no_data():
    rng = np.random.default_rng(0)
    values = rng.exponential(1.0, (200, 1))
    widths = []
    for observed in (10, 40, 200):
        low, high = predicted_means(
            values[:observed], np.ones((observed, 1)), new_configs=40, level=0.8, rng=np.random.default_rng(1)
        )
        widths.append(float(high[0] - low[0]))
    assert widths[0] > widths[1] > widths[2] > 0
    # A larger new search averages more configurations: a narrower interval.
    narrow, wide = (
        predicted_means(values, np.ones((200, 1)), new_configs=n, level=0.8, rng=np.random.default_rng(1))
        for n in (1000, 10)
    )
    assert narrow[1][0] - narrow[0][0] < wide[1][0] - wide[0][0]
    # Equal configurations: a point; one configuration: no interval (its upper end unbounded); none: nothing.
    sums, counts = np.zeros((5, 3)), np.zeros((5, 3))
    sums[:, 0], counts[:, 0] = 1.0, 1.0
    sums[0, 1], counts[0, 1] = 0.5, 1.0
    low, high = predicted_means(sums, counts, new_configs=5, level=0.8, rng=np.random.default_rng(0))
    assert low[0] == pytest.approx(1.0) and high[0] == pytest.approx(1.0)
    assert np.isnan(low[1]) and high[1] == np.inf and np.isnan(low[2]) and np.isnan(high[2])


def _estimate(regret, high, saved, trigger) -> _Estimate:
    n = len(regret)
    regret, high, saved = (np.asarray(v, dtype=float) for v in (regret, high, saved))
    return _Estimate(np.full(n, 10), regret, saved, np.asarray(trigger, dtype=float), high, regret, saved, saved)


@pytest.mark.parametrize(
    ("estimate", "expected"),
    [
        # The upper end decides: candidate 1 has the lower mean but its interval crosses the tolerance.
        (_estimate([0.001, 0.004, 0.008], [0.009, 0.02, 0.0099], [0.2, 0.6, 0.5], [1, 1, 1]), (2, Choice.WITHIN)),
        # Ties in epochs saved and regret go to the most conservative (later) candidate.
        (_estimate([0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0, 0, 0]), (2, Choice.NEVER)),
        (_estimate([0.002, 0.002], [0.005, 0.005], [0.3, 0.3], [1, 1]), (1, Choice.WITHIN)),
        # Nothing within the tolerance: the lowest regret, said so.
        (_estimate([0.05, 0.02, 0.03], [0.08, 0.04, 0.05], [0.6, 0.3, 0.4], [1, 1, 1]), (1, Choice.FALLBACK)),
    ],
)
def test_choice_rule(estimate, expected):
    assert choose_candidate(estimate, "tolerance", 0.01, 0.05) == expected


def test_unseen_share_counts_new_configurations_beyond_every_observed_one():
    """Exchangeable draws: how many of N new values lie above the largest of M observed ones."""
    rng = np.random.default_rng(0)
    for observed, new in ((20, 20), (40, 10), (6, 30)):
        values = rng.normal(size=(20_000, observed + new))
        beyond = (values[:, observed:] > values[:, :observed].max(axis=1, keepdims=True)).sum(axis=1)
        assert (beyond > 0).mean() == pytest.approx(unseen_chance(observed, new), abs=0.015)
        share = unseen_share(observed, new, 0.8)
        # The 90% one-sided bound of an 80% central interval: held at 90%, and not by a whole extra configuration.
        assert (beyond / new <= share).mean() >= 0.89
        assert (beyond / new <= share - 1 / new).mean() < 0.9
    assert np.isnan(unseen_share(0, 10, 0.8)) and np.isnan(unseen_chance(10, 0))


def rare_plateau_search(num_configs: int, seed: int, rare: float, epochs: int = 30) -> pd.DataFrame:
    """Curves that improve to the end, except a rare kind that stops improving after epoch 4."""
    rng = np.random.default_rng(seed)
    t = np.arange(1, epochs + 1)
    frames = []
    for config in range(num_configs):
        loss = np.exp(-t / rng.uniform(5, 20)) + 0.1
        if rng.random() < rare:
            loss = np.where(t <= 4, loss, loss[3] + 0.001 * (t - 4))
        frames.append(
            pd.DataFrame(
                {
                    "trial_id": f"s{seed}-c{config}",
                    "config_id": f"c{config}",
                    "epoch": t,
                    "val_loss": loss,
                    "test_accuracy": 1.0 - loss,
                    "config/max_epochs": epochs,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.mark.e2e  # slower: hundreds of simulated new searches; the whole suite runs it
def test_a_value_that_never_fired_still_allows_for_configurations_unlike_those_seen():
    """A rare kind of configuration absent from the recommending search: the interval of epochs saved allows for it."""
    policy = Policy("patience", "val_loss", "min", (5.0,))
    held, never_fired = 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for repeat in range(60):
            analysis = analyse(
                rare_plateau_search(30, seed=repeat, rare=0.02),
                metrics=[("val_loss", "min")],
                families=("patience",),
                baselines=False,
            )
            row = analysis.candidates.set_index("value").loc[5.0]
            if row["trigger_rate"] > 0:
                continue
            never_fired += 1
            assert row["epochs_saved"] == 0.0
            # Patience 5 can stop no curve before epoch 5 (one that is NaN throughout).
            assert row["epochs_saved_high"] == pytest.approx(unseen_share(30, 30, 0.8) * (1 - 5 / 30))
            assert row["compute_used_low"] == pytest.approx(1 - row["epochs_saved_high"])  # the same allowance
            new = replay_policy(
                policy, CurveSet.from_frame(rare_plateau_search(30, 10_000 + repeat, 0.02)), "test_accuracy", "max"
            )
            held += new.epochs_saved[:, 0].mean() <= row["epochs_saved_high"]
    # About 55% of the searches hold no plateau; about 45% of new ones do (exactly 0 saved covered only the rest).
    assert never_fired >= 20
    assert held / never_fired >= 0.85
    # The report says what resampling cannot foresee, with the chance for this search's size.
    text = markdown_report(analysis, 0.01, "rare")
    assert "worse than every one of the 30 seen here with probability 50% (30/(30 + 30)" in text


def test_nan_quantiles_are_numpys_nanquantile_on_thousands_of_random_columns():
    """The vectorised form gives NumPy's values exactly: NaNs anywhere, infinities, ties, 0 to 60 numbers a column."""
    rng = np.random.default_rng(7)
    rows, columns = 60, 3000
    values = rng.normal(size=(rows, columns))
    values[:, ::7] = np.round(values[:, ::7], 1)  # ties
    valid = rng.integers(0, rows + 1, size=columns)
    for column in range(columns):
        values[rng.permutation(rows)[valid[column] :], column] = np.nan
    odd = rng.random((rows, columns))
    values[odd < 0.01] = np.inf
    values[(odd >= 0.01) & (odd < 0.015)] = -np.inf
    quantiles = (0.0, 0.1, 0.25, 0.5, 0.9, 1.0, 1 / 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy warns of the all-NaN columns
        expected = np.nanquantile(values, quantiles, axis=0)
    np.testing.assert_array_equal(nan_quantiles(values, quantiles), expected)
