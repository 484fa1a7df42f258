"""Do ``tune-stop recommend``'s intervals hold for the user's next search? Counted, not assumed.

For each space (``mlp-digits``, ``perceptron-digits``, ``gan-digits``) two independent
full-curve searches are recorded (seeds 0 and 1: other configurations, other thresholds).
Each recommends on one and is realized on the other: every row of the recommendations
(each policy's chosen value, and the untuned baselines) is replayed on the other
search's curves, and its mean regret and mean epochs saved there are compared with the
prediction intervals, which were computed for a search of that size. Repeated random
half-splits of the configurations of each search add more such pairs.

Printed per space and pooled: the coverage of the intervals against their level, the
largest z-score (realized minus predicted over the interval's half-width in standard
units), how far the worst miss lies outside its interval (in interval widths), and how
often a value recommended within the tolerance exceeded it in the new search. Goals:
pooled coverage within 10 points of the level; no miss outside by more than the
interval's width; the tolerance exceeded in at most ``1 - level`` of the new searches.

Misses by more than the width are counted again with the new search's configurations
that lie beyond the range of every predicting one left out (no resampling of the
predicting configurations can produce them), and how often a new search held a
configuration worse than every predicting one is set beside the chance the report
states for it (:func:`analysis._intervals.unseen_chance`).
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis import Analysis, Choice, CurveSet, analyse, load_curves, load_experiment, replay_policy
from analysis._search import realized_search
from benchmarks._ray import ray_of_its_own
from search_spaces import load_space
from tune_stop.app.search import SearchOptions, run_search

LEVEL = 0.8
TOLERANCE = 0.01
#: Search-level figures realized beside the per-curve means.
SEARCH_QUANTITIES = ("best_regret", "selected_regret", "compute_used")

#: space: (configurations, epochs) of each search, full and quick.
SIZES = {
    "mlp-digits": ((40, 60), (6, 8)),
    "perceptron-digits": ((40, 60), (6, 8)),
    "gan-digits": ((12, 25), (4, 4)),
}


def record(space_name: str, configs: int, epochs: int, seed: int, storage: str, keep: Path | None) -> pd.DataFrame:
    """Whole curves of one search (FIFO, only the non-finite guard armed).

    With ``keep``, the curves are read from ``keep/<space>-<configs>x<epochs>-seed<seed>.csv``
    when that file exists and written there otherwise, so the statistics can be run again
    on the same searches.
    """
    cached = keep / f"{space_name}-{configs}x{epochs}-seed{seed}.csv" if keep is not None else None
    if cached is not None and cached.is_file():
        return load_curves(cached)
    space = load_space(space_name).with_overrides(num_samples=configs, max_epochs=epochs, seed=seed).full_curves()
    summary = run_search(space, SearchOptions(storage_path=storage, name=f"{space_name}-{seed}", verbose=0))
    if summary.num_errors:
        raise RuntimeError(f"{summary.num_errors} trials of {space_name} (seed {seed}) failed")
    curves = load_experiment(summary.experiment_path)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        curves.drop(
            columns=[c for c in curves.columns if str(c).startswith("config/") and c != "config/max_epochs"]
        ).to_csv(cached, index=False)
    return curves


@dataclass(frozen=True)
class Outcome:
    """One recommendation row realized on a new search."""

    space: str
    pair: str
    objective: str
    policy: str
    metric: str
    kind: str
    within_choice: bool
    predicted: float
    low: float
    high: float
    realized: float
    quantity: str
    #: Per-curve quantities only (NaN otherwise): new configurations beyond the range of the
    #: predicting ones (either side), above their largest, and the realized mean without the
    #: ones beyond; the sizes of both searches.
    beyond: float = np.nan
    above: float = np.nan
    realized_seen: float = np.nan
    predicting_configs: float = np.nan
    new_configs: float = np.nan


def _per_config(values: np.ndarray, config_ids: np.ndarray) -> pd.Series:
    return pd.Series(values).groupby(config_ids).mean()


def _unseen(old: np.ndarray, old_ids: np.ndarray, new: np.ndarray, new_ids: np.ndarray) -> dict[str, float]:
    """How the new search's configurations lie against the range of the predicting search's."""
    seen, fresh = _per_config(old, old_ids), _per_config(new, new_ids)
    outside = (fresh > seen.max()) | (fresh < seen.min())
    kept = ~pd.Series(new_ids).map(outside).to_numpy(dtype=bool)
    return {
        "beyond": float(outside.sum()),
        "above": float((fresh > seen.max()).sum()),
        "realized_seen": float(new[kept].mean()) if kept.any() else np.nan,
        "predicting_configs": float(len(seen)),
        "new_configs": float(len(fresh)),
    }


def realize(analysis: Analysis, new: CurveSet, space: str, pair: str) -> list[Outcome]:
    """Replays each row's chosen value on ``new`` and pairs the realized means with the intervals."""
    rows = {(str(r["policy"]), str(r["metric"])): r for r in analysis.recommendations.to_dict("records")}
    assert analysis.curves is not None
    outcomes = []
    for result, chosen, kind in analysis.replays:
        if chosen is None:
            continue
        policy = result.policy
        row = rows[(policy.name, policy.metric)]
        fixed = dataclasses.replace(policy, candidates=(policy.candidates[chosen],))
        realized = replay_policy(fixed, new, analysis.target, analysis.target_mode)
        evaluable = realized.evaluable[:, 0]
        if not evaluable.any():
            continue
        means = {
            "regret": float(realized.regret[evaluable, 0].mean()),
            "epochs_saved": float(realized.epochs_saved[evaluable, 0].mean()),
        }
        seen = result.evaluable[:, chosen]
        against = {
            quantity: _unseen(
                getattr(result, quantity)[seen, chosen],
                analysis.curves.config_ids[seen],
                getattr(realized, quantity)[evaluable, 0],
                new.config_ids[evaluable],
            )
            for quantity in means
        }
        if new.complete.all():
            search = realized_search(realized, new, analysis.selection[0], analysis.selection[1], analysis.target_mode)
            means.update({name: search[name] for name in SEARCH_QUANTITIES})
        for quantity, value in means.items():
            outcomes.append(
                Outcome(
                    space,
                    pair,
                    analysis.objective,
                    policy.name,
                    policy.metric,
                    kind,
                    row["choice"] is Choice.WITHIN,
                    float(row[quantity]),
                    float(row[f"{quantity}_low"]),
                    float(row[f"{quantity}_high"]),
                    value,
                    quantity,
                    **against.get(quantity, {}),
                )
            )
    return outcomes


def _subset(curves: pd.DataFrame, configs: np.ndarray) -> CurveSet:
    return CurveSet.from_frame(curves[curves["config_id"].isin(configs)])


def evaluate(
    space: str, searches: list[pd.DataFrame], half_splits: int, objective: str = "tolerance", seed: int = 0
) -> list[Outcome]:
    """Cross-search pairs (each search predicts the other) and half-splits within each search."""
    outcomes: list[Outcome] = []
    rng = np.random.default_rng(seed)
    options = {"tolerance": TOLERANCE, "interval": LEVEL, "objective": objective}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small halves warn about their size
        for index, (source, other) in enumerate([(0, 1), (1, 0)]):
            new = CurveSet.from_frame(searches[other])
            n_new = int(searches[other]["config_id"].nunique())
            analysis = analyse(searches[source], new_configs=n_new, seed=index, **options)  # type: ignore[arg-type]
            outcomes += realize(analysis, new, space, f"seed {source} -> seed {other}")
        for split in range(half_splits):
            curves = searches[split % 2]
            configs = rng.permutation(curves["config_id"].unique())
            half = len(configs) // 2
            train, test = configs[:half], configs[half:]
            analysis = analyse(
                curves[curves["config_id"].isin(train)],
                new_configs=len(test),
                seed=split,
                **options,  # type: ignore[arg-type]
            )
            outcomes += realize(analysis, _subset(curves, test), space, f"half-split {split}")
    return outcomes


def summarize(frame: pd.DataFrame, label: str) -> dict[str, object]:
    """Coverage, z-scores, misses and tolerance exceedances of a set of outcomes."""
    z_unit = stats.norm.ppf(0.5 + LEVEL / 2)  # an interval's half-width in standard units
    width = frame["high"] - frame["low"]
    inside = (frame["realized"] >= frame["low"]) & (frame["realized"] <= frame["high"])
    half = np.where(
        frame["realized"] >= frame["predicted"], frame["high"] - frame["predicted"], frame["predicted"] - frame["low"]
    )
    realized, low, high = (frame[c].to_numpy(dtype=float) for c in ("realized", "low", "high"))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = z_unit * (realized - frame["predicted"].to_numpy(dtype=float)) / half
        outside = np.maximum(np.maximum(low - realized, realized - high), 0.0) / width.to_numpy(dtype=float)
    regret = frame[frame["quantity"] == "regret"]
    within = regret[regret["within_choice"] & (regret["kind"] == "recommended")]
    exceeded = float((within["realized"] > TOLERANCE).mean()) if len(within) else np.nan
    coverage = float(inside.mean())
    worst_outside = float(np.nanmax(outside)) if len(frame) else np.nan
    miss_points = np.maximum(np.maximum(low - realized, realized - high), 0.0)
    far_rows = miss_points > width.to_numpy(dtype=float)
    far = int(far_rows.sum())
    # Far misses against what the predicting search contained (see _unseen).
    seen = frame["realized_seen"].to_numpy(dtype=float)
    far_with_unseen = int((far_rows & (frame["beyond"].to_numpy(dtype=float) > 0)).sum())
    far_without_unseen = int((np.maximum(np.maximum(low - seen, seen - high), 0.0) > width.to_numpy(dtype=float)).sum())
    above = regret["above"] > 0
    expected_above = float((regret["new_configs"] / (regret["new_configs"] + regret["predicting_configs"])).mean())
    goals = abs(coverage - LEVEL) <= 0.10 and worst_outside <= 1.0 and (np.isnan(exceeded) or exceeded <= 1 - LEVEL)
    by_quantity = {q: float(inside[frame["quantity"] == q].mean()) for q in ("regret", "epochs_saved")}
    return {
        "benchmark": f"calibration: {label}",
        "size": f"{len(frame) // 2} rows realized",
        "seconds": np.nan,
        "baseline_s": np.nan,
        "ratio": coverage / LEVEL,
        "note": (
            f"coverage {coverage:.0%} at level {LEVEL:.0%} (regret {by_quantity['regret']:.0%}, epochs saved "
            f"{by_quantity['epochs_saved']:.0%}); |z| median {np.nanmedian(np.abs(z)):.2f}, "
            f"max {np.nanmax(np.abs(z)):.1f}; "
            f"worst miss {worst_outside:.2f} widths ({100 * np.nanmax(miss_points):.2f} points) outside, "
            f"{far} rows outside by more than their width ({far_with_unseen} with a new configuration beyond every "
            f"predicting one; without those configurations {far_without_unseen}); a new configuration worse than "
            f"every predicting one (regret) in {above.mean():.0%} of rows (exchangeable configurations: "
            f"{expected_above:.0%}, fewer with ties); tolerance exceeded in {exceeded:.0%} of "
            f"{len(within)} new searches with a value chosen within it"
            + (f"; goals {'met' if goals else 'NOT met'}" if label == "pooled" else "")
        ),
    }


def _beyond_tolerance(frame: pd.DataFrame) -> pd.Series:
    """Per new search and value chosen within the tolerance: did its best or selected model exceed it?"""
    chosen = frame[frame["within_choice"] & (frame["kind"] == "recommended")]
    worst = chosen[chosen["quantity"].isin(["best_regret", "selected_regret"])]
    return worst.groupby(["space", "pair", "policy", "metric"])["realized"].max() > TOLERANCE


def summarize_search(frame: pd.DataFrame, label: str) -> dict[str, object]:
    """Search-level figures: coverage under the ``search`` objective; the best model kept or not by each objective."""
    search = frame[frame["objective"] == "search"]
    inside = (search["realized"] >= search["low"]) & (search["realized"] <= search["high"])
    above = search["realized"] > search["high"]
    parts = []
    for quantity in SEARCH_QUANTITIES:
        rows = search["quantity"] == quantity
        parts.append(f"{quantity} {inside[rows].mean():.0%} (above {above[rows].mean():.0%})")
    by_search = _beyond_tolerance(search)
    per_curve = _beyond_tolerance(frame[frame["objective"] == "tolerance"])
    coverage = float(inside.mean())
    return {
        "benchmark": f"calibration, search level: {label}",
        "size": f"{int((search['quantity'] == 'best_regret').sum())} rows realized",
        "seconds": np.nan,
        "baseline_s": np.nan,
        "ratio": coverage / LEVEL,
        "note": (
            f"search objective: coverage {coverage:.0%} at level {LEVEL:.0%}: " + ", ".join(parts) + "; best or "
            f"selected model beyond the tolerance in {by_search.mean():.0%} of {len(by_search)} new searches with a "
            f"value chosen within it (per-curve objective: {per_curve.mean():.0%} of {len(per_curve)})"
        ),
    }


def run(quick: bool = False, keep: Path | None = None) -> list[dict[str, object]]:
    """The calibration rows; ``keep``: a folder that keeps the recorded curves for another run."""
    outcomes: list[Outcome] = []
    spaces = ["mlp-digits"] if quick else list(SIZES)
    with ray_of_its_own():
        for space in spaces:
            configs, epochs = SIZES[space][1 if quick else 0]
            with tempfile.TemporaryDirectory() as storage:
                searches = [record(space, configs, epochs, seed, storage, keep) for seed in (0, 1)]
            for objective in ("tolerance", "search"):
                outcomes += evaluate(space, searches, half_splits=2 if quick else 20, objective=objective)
    frame = pd.DataFrame([dataclasses.asdict(o) for o in outcomes])
    if keep is not None:
        frame.to_csv(keep / f"outcomes{'-quick' if quick else ''}.csv", index=False)
    return table(frame, spaces)


def table(frame: pd.DataFrame, spaces: list[str]) -> list[dict[str, object]]:
    """Per space and pooled: the per-curve intervals of the ``tolerance`` objective, then the search-level ones."""
    per_curve = frame[(frame["objective"] == "tolerance") & frame["quantity"].isin(["regret", "epochs_saved"])]
    search = frame[frame["quantity"].isin(SEARCH_QUANTITIES)]
    rows = [summarize(per_curve[per_curve["space"] == space], space) for space in spaces]
    rows.append(summarize(per_curve, "pooled"))
    rows += [summarize_search(search[search["space"] == space], space) for space in spaces]
    rows.append(summarize_search(search, "pooled"))
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibration", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one small space, to show it runs (no claims)")
    parser.add_argument("--keep", type=Path, help="folder that keeps the recorded curves (reused when present)")
    arguments = parser.parse_args()
    with pd.option_context("display.width", 300, "display.max_colwidth", 400):
        print(pd.DataFrame(run(quick=arguments.quick, keep=arguments.keep)).to_string(index=False))
