"""What the recommended policy does to an independent search: its best model and the compute, with and without ASHA.

The two independent full-curve searches of :mod:`benchmarks.calibration` per space
(``mlp-digits``, ``perceptron-digits``, ``gan-digits``; seeds 0 and 1) are used both
ways: ``tune-stop recommend`` (the ``search`` objective, 1% tolerance) runs on one, and
the recommended policy is realized on the other, the search it has not seen, with
and without the space's ASHA (replayed beside it on the new curves by Ray's own
scheduler). The recommended policy is the report's (``Analysis.recommended``: the least
compute among those chosen within the tolerance, on the space's metric). Against:
training everything to the budget (FIFO), ASHA alone, and Keras' and Lightning's
default ``EarlyStopping``.

Printed per space (means over the two directions): the realized regret of the best
model and of the model selected by the space's metric, and the compute used, as a
share of full training. Goals: best model within the 1% tolerance; at least 2x less
compute than FIFO on mlp-digits and gan-digits; ahead of ASHA alone on compute at
equal best-model quality; and at least 80% of the hindsight ceiling on compute saved
(:func:`analysis._ceiling.search_ceiling`: the least compute that keeps the best model
within the tolerance, chosen knowing every curve). Beside them, each space's noise floor:
how much the best model of each search moves from one epoch to the next by chance
(:func:`analysis._search.best_model_noise`); a tolerance below it cannot be met
knowingly by any policy.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import (
    AshaSpec,
    CurveSet,
    Policy,
    analyse,
    replay_policy,
    simulate_asha,
    stop_epochs,
)
from analysis._ceiling import search_ceiling
from analysis._search import best_model_noise, realized_search
from benchmarks._ray import ray_of_its_own
from benchmarks.calibration import SIZES, record
from search_spaces import load_space

TOLERANCE = 0.01


def realized(
    policy: Policy | None, curves: CurveSet, target: str, mode: str, space_mode: str, asha: AshaSpec | None
) -> dict[str, float]:
    """Best-model and selected-model regret and compute used of ``policy`` (None: no policy) on ``curves``."""
    if policy is None:
        policy = Policy("patience", asha.metric if asha else target, space_mode, (float(curves.lengths.max()),))
    stops = stop_epochs(policy, curves)
    if asha is not None:
        stops, _ = simulate_asha(asha, curves.matrix(asha.metric), curves.lengths, int(curves.budgets.max()), stops)
    result = replay_policy(policy, curves, target, mode, stops=stops)
    return realized_search(result, curves, asha.metric if asha is not None else policy.metric, space_mode, mode)


def compare(space_name: str, searches: list[pd.DataFrame], size: str) -> list[dict[str, object]]:
    """The rows of one space: each search recommends, the other realizes."""
    space = load_space(space_name)
    asha = AshaSpec.from_scheduler(space.scheduler, space.metric, space.mode)
    outcomes: dict[str, list[dict[str, float]]] = {}
    ceilings = []
    chosen_text = []
    for source, other in ((0, 1), (1, 0)):
        new = CurveSet.from_frame(searches[other])
        target = "fid" if "fid" in new.frame else "test_accuracy"
        mode = "min" if target == "fid" else "max"
        ceilings.append(search_ceiling(new, target, mode, TOLERANCE))
        rows: dict[str, tuple[Policy | None, AshaSpec | None]] = {
            "ASHA alone": (None, asha),
            "Keras default (patience 0)": (Policy("patience", space.metric, space.mode, (0.0,)), None),
            "Lightning default (patience 3)": (
                Policy("patience", space.metric, space.mode, (3.0,), check_finite=True),
                None,
            ),
        }
        for beside, label in ((None, "recommended"), (asha, "recommended + ASHA")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                analysis = analyse(searches[source], tolerance=TOLERANCE, objective="search", asha=beside)
            found = analysis.recommended()
            if found is not None:
                rows[label] = (found.policy, beside)
                chosen_text.append(f"{label}: {found.policy.describe(found.value)}")
        for label, (policy, beside) in rows.items():
            outcomes.setdefault(label, []).append(realized(policy, new, target, mode, space.mode, beside))
    ceiling = float(np.nanmean(ceilings))
    table = []
    asha_alone = pd.DataFrame(outcomes["ASHA alone"]).mean()
    for label, runs in outcomes.items():
        mean = pd.DataFrame(runs).mean()
        saved = 1.0 - mean["compute_used"]
        note = (
            f"best model {100 * mean['best_regret']:+.2f}%, selected model {100 * mean['selected_regret']:+.2f}% "
            f"vs full training; {saved:.0%} of the compute saved = {saved / ceiling:.0%} of the hindsight ceiling "
            f"({ceiling:.0%}); {len(runs)} of 2 directions"
        )
        if label.startswith("recommended"):
            goals = mean["best_regret"] <= TOLERANCE and (space_name == "perceptron-digits" or saved >= 0.5)
            if label == "recommended + ASHA":
                goals = goals and mean["compute_used"] < asha_alone["compute_used"]
            note += f"; goals {'met' if goals and saved >= 0.8 * ceiling else 'NOT met'}"
        table.append(
            {
                "benchmark": f"search level: {space_name}: {label}",
                "size": size,
                "seconds": np.nan,
                "baseline_s": np.nan,
                "ratio": mean["compute_used"],
                "note": note,
            }
        )
    noise = [
        best_model_noise(curves, np.unique(curves.config_ids.astype(str), return_inverse=True)[1], target, mode)
        for curves in (CurveSet.from_frame(search) for search in searches)
    ]
    table.append(
        {
            "benchmark": f"search level: {space_name}: noise floor",
            "size": size,
            "seconds": np.nan,
            "baseline_s": np.nan,
            "ratio": max(noise),
            "note": (
                "the best model moves by " + " / ".join(f"{value:.1%}" for value in noise) + " (seed 0 / seed 1) "
                "from one epoch to the next by chance; "
                + (
                    f"the {TOLERANCE:.0%} tolerance is below that: within it, no policy can be told to keep the "
                    "best model"
                    if max(noise) > TOLERANCE
                    else f"the {TOLERANCE:.0%} tolerance is above it"
                )
            ),
        }
    )
    table.append(
        {
            "benchmark": f"search level: {space_name}: policies recommended",
            "size": "",
            "seconds": np.nan,
            "baseline_s": np.nan,
            "ratio": np.nan,
            "note": "; ".join(chosen_text) or "none within the tolerance",
        }
    )
    return table


def run(quick: bool = False, keep: Path | None = None) -> list[dict[str, object]]:
    """The rows; ``keep``: the folder of :mod:`benchmarks.calibration`'s recorded curves (reused when present)."""
    spaces = ["mlp-digits"] if quick else list(SIZES)
    rows: list[dict[str, object]] = []
    with ray_of_its_own():
        for space in spaces:
            configs, epochs = SIZES[space][1 if quick else 0]
            with tempfile.TemporaryDirectory() as storage:
                searches = [record(space, configs, epochs, seed, storage, keep) for seed in (0, 1)]
            rows += compare(space, searches, f"{configs} configs x {epochs} epochs x 3 folds, held out")
    return rows


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.search_level", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one small space, to show it runs (no claims)")
    parser.add_argument("--keep", type=Path, help="folder that keeps the recorded curves (reused when present)")
    arguments = parser.parse_args()
    with pd.option_context("display.width", 300, "display.max_colwidth", 400):
        print(pd.DataFrame(run(quick=arguments.quick, keep=arguments.keep)).to_string(index=False))
