"""GAN issue's goals on two independent gan-digits searches: does the answer chosen on one hold on the other?

Two full-curve searches (seeds 0 and 1, ``--configs`` configurations x 3 folds x ``--epochs``
epochs, recorded as :mod:`benchmarks.calibration` records them; ``--keep`` reuses them).
On each, ``recommend``'s GAN defaults (the target ``fid_test`` at the best ``fid`` snapshot,
the search objective, stopping configurations judged on 4 workers) choose at each tolerance:
1%, points of ``fid_test`` (``--tolerance-points``) and SDs of the FID estimate
(``--tolerance-sd``; 2 of them is ``recommend``'s default on curves with ``fid_sd``). The answer
(the chosen stopping configuration, else the per-trial rule, which then runs with no scheduler,
as ``stoppers.yaml`` says, else training everything) is then
replayed on the other search in 5 random trial orders on 4 workers, judged as on the first: the
best and the selected (by ``fid``) models' ``fid_test`` at their best snapshots against the same
search trained to the budget, in points (each loss in ``fid_test`` points) and as shares of each
model's own ``fid_test`` trained to the budget (for the relative tolerance). A loss that is not a
number counts as lost, as in the choice.

Printed per direction and tolerance: the answer, its stated risk, the mean compute used on the
other search, the worst loss in points over the orders and whether every order stayed within the
tolerance (a relative one as shares, as the choice judges it); and per search: the best
model's epoch-to-epoch noise (goal <= 4%) and FID's share of the epoch time (goal <= 0.2).
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import AnalysisOptions, analyse, judge_configurations
from analysis._configurations import SearchCurves, StoppingConfig, search_outcome
from analysis._recommend import Analysis
from benchmarks._ray import ray_of_its_own
from benchmarks.calibration import record
from search_spaces import load_space

SPACE = "gan-digits"
SEEDS = (0, 1)
ORDERS, WORKERS = 5, 4
#: (flag, value) of each tolerance: a share, FID points and SDs of the FID estimate (2: the default).
TOLERANCES = (("--tolerance", 0.01), ("--tolerance-points", 2.0), ("--tolerance-points", 3.0), ("--tolerance-sd", 2.0))


@dataclass(frozen=True)
class Answer:
    """What ``recommend`` would hand over from one search at one tolerance."""

    config: StoppingConfig
    described: str
    stated_risk: float
    tolerance_points: float


def _analysis(frame: pd.DataFrame, flag: str, value: float) -> Analysis:
    """``recommend``'s GAN defaults at one tolerance."""
    options = AnalysisOptions(
        target="fid_test",
        target_mode="min",
        objective="search",
        selection=("fid", "min"),
        keep_best=True,
        tolerance=value if flag == "--tolerance" else AnalysisOptions.tolerance,
        tolerance_points=value if flag == "--tolerance-points" else None,
        tolerance_sd=value if flag == "--tolerance-sd" else None,
    )
    return analyse(frame, options)


def answer(frame: pd.DataFrame, flag: str, value: float) -> Answer:
    """The configuration ``recommend`` hands over: the judged configuration where it runs, else the per-trial
    rule, else training everything."""
    analysis = _analysis(frame, flag, value)
    choice = judge_configurations(analysis, workers=WORKERS, scheduler=load_space(SPACE).scheduler)
    scale = analysis.points_scale if analysis.points_scale is not None else abs(_best(analysis))
    points = analysis.tolerance * scale
    if choice.runs and choice.answer is not None:
        return Answer(choice.answer, choice.answer.describe(), float(choice.stated_risk), points)
    recommendation = analysis.recommended()
    if recommendation is not None:
        config = StoppingConfig({"name": "fifo"}, recommendation.policy)
        return Answer(config, str(recommendation.row["description"]), float("nan"), points)
    return Answer(StoppingConfig({"name": "fifo"}), "train everything", 0.0, points)


def _best(analysis: Analysis) -> float:
    from analysis._search import best_model_value

    assert analysis.curves is not None and analysis.split is not None
    return best_model_value(analysis.curves, analysis.split.config_index, analysis.target, analysis.target_mode)


def _search_curves(analysis: Analysis) -> SearchCurves:
    assert analysis.curves is not None and analysis.split is not None
    metric, mode = analysis.selected_by, analysis.selection[1]
    return SearchCurves(
        analysis.curves, analysis.split.config_index, metric, mode, analysis.target, "min", analysis.selection[0], mode
    )


@dataclass(frozen=True)
class Judged:
    """A search the answers are realized on, judged both ways: each loss a share of its own reference
    (``relative``), and a share of one number, the best model's ``fid_test`` (``points``, ``scale``)."""

    relative: SearchCurves
    points: SearchCurves
    scale: float


def judged(frame: pd.DataFrame) -> Judged:
    """:class:`Judged` for one search (the tolerances play no part in the realized figures)."""
    in_points = _analysis(frame, "--tolerance-points", 1.0)
    assert in_points.points_scale is not None
    relative = _search_curves(_analysis(frame, "--tolerance", 0.01))
    return Judged(relative, _search_curves(in_points), in_points.points_scale)


def realize(chosen: Answer, search: Judged) -> list[dict[str, float]]:
    """The answer on a search it did not see, in :data:`ORDERS` random trial orders: compute, the worse of the best
    and the selected models' losses as shares of their own references and in points."""
    relative, points, scale = search.relative, search.points, search.scale
    rng = np.random.default_rng(29)
    rows = np.arange(len(relative.config_index))
    outcomes = []
    for _ in range(ORDERS):
        order = rng.permutation(len(rows))
        stops = chosen.config.stops(relative, rows, order, WORKERS)
        compute, best, selected = search_outcome(relative, rows, stops)
        _, best_points, selected_points = search_outcome(points, rows, stops)
        outcomes.append(
            {
                "compute": compute,
                "worst share": _worst(best, selected),
                "worst": _worst(best_points, selected_points) * scale,
            }
        )
    return outcomes


def _worst(best: float, selected: float) -> float:
    """The larger loss, a loss that is not a number counting as lost (as the choice counts it)."""
    return float(np.max(np.nan_to_num([best, selected], nan=np.inf)))


def search_facts(frame: pd.DataFrame) -> dict[str, float]:
    """The best model's epoch-to-epoch noise (under best-snapshot judging) and FID's share of epoch time."""
    analysis = _analysis(frame, "--tolerance", 0.01)
    return {
        "noise": float(analysis.best_model_noise),
        "fid_share": float((frame["fid_time_s"] / frame["epoch_time_s"]).median()),
        "best_fid_test": abs(_best(analysis)),
    }


def run(configs: int, epochs: int, keep: Path | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    with ray_of_its_own(), tempfile.TemporaryDirectory() as storage, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frames = [record(SPACE, configs, epochs, seed, storage, keep) for seed in SEEDS]
    facts = pd.DataFrame([{"search": seed, **search_facts(frame)} for seed, frame in zip(SEEDS, frames, strict=True)])
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        searches = [judged(frame) for frame in frames]
        for source, frame in enumerate(frames):
            for flag, value in TOLERANCES:
                chosen = answer(frame, flag, value)
                realized = realize(chosen, searches[1 - source])
                worst = max(r["worst"] for r in realized)
                # A relative tolerance holds as a share of the other search's own best; points hold as points.
                within = (
                    max(r["worst share"] for r in realized) <= value
                    if flag == "--tolerance"
                    else worst <= chosen.tolerance_points
                )
                rows.append(
                    {
                        "chosen on": SEEDS[source],
                        "tolerance": f"{flag} {value:g}",
                        "in points": round(chosen.tolerance_points, 2),
                        "answer": chosen.described,
                        "stated risk": chosen.stated_risk,
                        "compute on the other": float(np.mean([r["compute"] for r in realized])),
                        "worst loss (points)": worst,
                        "within in every order": bool(within),
                    }
                )
    return facts, pd.DataFrame(rows)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.gan_transfer", description=__doc__)
    parser.add_argument("--configs", type=int, default=20, help="configurations per search (default 20)")
    parser.add_argument("--epochs", type=int, default=15, help="epochs per trial (default 15, the space's budget)")
    parser.add_argument("--keep", type=Path, help="folder that keeps the recorded curves (reused when present)")
    arguments = parser.parse_args()
    facts, table = run(arguments.configs, arguments.epochs, arguments.keep)
    with pd.option_context("display.width", 300, "display.max_colwidth", 120):
        print(facts.to_string(index=False))
        print(table.to_string(index=False))
