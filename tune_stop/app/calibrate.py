"""``tune-stop search SPACE --calibrate N``: record, recommend, run with the recommendation, audit; one command.

1. ``<name>-calibration``: N configurations trained to the budget on all folds
   (``--full-curves``).
2. ``<name>-recommendation``: ``tune-stop recommend`` on them (whole configurations judged): the
   per-trial policies with the ``search`` objective, for a search of the remaining
   configurations (the space's ASHA replayed beside every policy when the space runs
   ASHA), and the whole stopping configurations (ASHA, the median rule, patience, alone
   and together), whose choice is written to ``configuration.yaml``.
3. ``<name>``: the remaining configurations (drawn with the next seed: configurations
   the calibration never saw) with the chosen configuration (its scheduler replaces the
   space's). Where none could be judged (fewer than 4 configurations) or the one chosen
   is to train everything: with the recommended per-trial stoppers beside the space's
   scheduler and audit trials that measure the policy there, or else the space's own
   stoppers.

Each part is a normal experiment or report folder. Running the same command again
continues where it stopped: a finished or interrupted experiment is resumed, not redone.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search_spaces import SearchSpace
from tune_stop._count import counted
from tune_stop.app.search import SearchOptions, SearchSummary, experiment_path, resume_search, run_search
from tune_stop.defaults import DEFAULT_TOLERANCE
from tune_stop.experiment import path_exists

if TYPE_CHECKING:
    from analysis import Analysis, ConfigurationChoice

__all__ = [
    "CALIBRATION_TOLERANCE",
    "CalibratedSearch",
    "CannotChoose",
    "LoopInterrupted",
    "OtherTolerance",
    "calibrate_and_search",
    "check_same_tolerance",
    "recorded_tolerance",
]

#: The loop's tolerance on the best and selected models (the library's default, 1%).
CALIBRATION_TOLERANCE = DEFAULT_TOLERANCE


@dataclass(frozen=True)
class CalibratedSearch:
    """The three parts of a calibrated search.

    Attributes:
        calibration: The full-curve search the recommendation came from.
        report: The recommendation's report folder.
        recommended: The recommended per-trial policy in words, or None when no value was
            chosen within the tolerance.
        configuration: What the search ran when it ran a chosen stopping configuration: the
            configuration in words and, in a paragraph, its predicted compute and risk beside
            the peers'; None when none was judged or the one chosen is to train everything
            (the search then ran the per-trial policy, or the space's own stoppers).
        search: The search of the remaining configurations.
        compute_used: Epochs the search trained, as a share of training its trials to the budget.
        compute_with_calibration: The same counting the calibration's epochs too.
        asha_alone_high: The upper end of ASHA alone's best-model regret interval, when the
            space runs ASHA (why nothing may be within the tolerance beside it).
        failed_check: Policies whose intervals ended within the tolerance but whose choice
            failed the check on held-out splits of the calibration's configurations.
        best_model_noise: How much the calibration's best model moves from one epoch to the
            next by chance (above the tolerance, nothing is recommended).
        tolerance: The tolerance the recommendation was chosen within, as a share.
        in_points: With a tolerance in the target's points (``--tolerance-points``): says a
            share, as that tolerance is, in those points (:func:`analysis.as_given`); else None.
        points_line: Then also what those points are as the shares (:func:`analysis.tolerance_in_points`).
    """

    calibration: SearchSummary
    report: Path
    recommended: str | None
    search: SearchSummary
    compute_used: float
    compute_with_calibration: float
    asha_alone_high: float | None = None
    failed_check: tuple[str, ...] = ()
    best_model_noise: float = float("nan")
    configuration: tuple[str, str] | None = None
    tolerance: float = CALIBRATION_TOLERANCE
    in_points: Callable[[float], str] | None = None
    points_line: str | None = None


class CannotChoose(Exception):
    """The calibration ran, but the recommendation cannot be chosen on it as asked (its ``error`` says why)."""

    def __init__(self, error: ValueError) -> None:
        super().__init__(str(error))
        self.error = error


class LoopInterrupted(Exception):
    """A part of the loop ended with trials unfinished (Ctrl-C or SIGTERM): the loop stops there.

    Attributes:
        summary: That part's summary; the same command continues it.
    """

    def __init__(self, summary: SearchSummary) -> None:
        super().__init__(f"{summary.experiment_path} was interrupted")
        self.summary = summary


#: What the loop chose with, in its report folder: a continued loop must choose as the first run did.
LOOP_FILE = "loop.json"


class OtherTolerance(ValueError):
    """A loop continued with another tolerance than the one its search was chosen with."""


def report_folder(space: SearchSpace, options: SearchOptions) -> Path:
    """The loop's report folder: ``<name>-recommendation`` beside the search."""
    return Path(experiment_path(space, options)).parent / f"{options.name}-recommendation"


def _tolerance_flag(tolerance: Any, points: Any, sds: Any = None, default_sds: Any = None) -> tuple[str, Any]:
    """The flag a loop chooses with, and its value: ``--tolerance-sd`` or ``--tolerance-points`` where given, else
    ``--tolerance-sd`` at the default SDs where no flag was given on a GAN space, else ``--tolerance``."""
    if sds is not None or default_sds is not None:
        return ("--tolerance-sd", sds if sds is not None else default_sds)
    return ("--tolerance", tolerance) if points is None else ("--tolerance-points", points)


def _recorded_flag(recorded: dict[str, Any]) -> tuple[str, Any]:
    """The flag and value a loop's :data:`LOOP_FILE` says it chose with."""
    return _tolerance_flag(
        recorded["tolerance"],
        recorded.get("tolerance_points"),
        recorded.get("tolerance_sd"),
        recorded.get("default_sds"),
    )


def recorded_tolerance(report: Path) -> dict[str, Any] | None:
    """What the loop whose report folder this is chose with (:data:`LOOP_FILE`): its tolerance, and its
    ``tolerance_points``, ``tolerance_sd`` and ``default_sds`` where it had them; None for a new loop, one from
    before the file, or a file this loop does not write."""
    try:
        recorded = json.loads((report / LOOP_FILE).read_text())
        value = _recorded_flag(recorded)[1]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return recorded if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check_same_tolerance(
    report: Path,
    tolerance: float,
    points: float | None = None,
    sds: float | None = None,
    default_sds: float | None = None,
) -> None:
    """Refuses to continue a loop with another tolerance than the one its search was chosen with.

    ``points``, ``sds``: a tolerance given in the target's points (``--tolerance-points``) or in SDs of its
    estimator (``--tolerance-sd``) instead; ``default_sds``: the SDs chosen within where no flag was given.

    Raises:
        OtherTolerance: Naming both tolerances.
    """
    recorded = recorded_tolerance(report)
    if recorded is None:
        return  # a new loop, or one from before the file
    chosen_with = _recorded_flag(recorded)
    value = chosen_with[1]
    given = _tolerance_flag(tolerance, points, sds, default_sds)
    if chosen_with != given:
        raise OtherTolerance(
            f"{given[0]} {given[1]!r}: this loop ({report}) chose its stopping with {chosen_with[0]} {value!r}; "
            "continue it with the same, or start a new loop with --name"
        )


def _run_or_resume(
    space: SearchSpace,
    options: SearchOptions,
    overrides: Mapping[str, Any],
    part: str,
    step: str,
    say: Callable[[str], None],
) -> SearchSummary:
    """Runs a part, or resumes it where it exists, and says which.

    ``part`` names it (``"1/3 calibration"``) and ``step`` is the line for a new one; a part
    that exists is resumed as its folder recorded it, whatever this command asks, and the
    line says so.

    Raises:
        LoopInterrupted: If the part ends with trials unfinished.
    """
    path = experiment_path(space, options)
    exists = path_exists(path)
    say(
        f"tune-stop: {part}: continuing {path} as it was recorded (only its unfinished trials train)"
        if exists
        else f"tune-stop: {step}"
    )
    summary = resume_search(path, options) if exists else run_search(space, options, overrides)
    if summary.num_trials > len(summary.stop_reasons):
        raise LoopInterrupted(summary)
    return summary


def _judged(
    analysis: Analysis, space: SearchSpace, options: SearchOptions, say: Callable[[str], None]
) -> ConfigurationChoice | None:
    """The stopping configurations judged on the calibration; None where they cannot be (said why)."""
    from analysis import judge_configurations

    try:
        return judge_configurations(analysis, workers=_trials_at_once(options), scheduler=dict(space.scheduler))
    except ValueError as error:
        from tune_stop.app._configurations import NOT_JUDGED

        say(f"tune-stop: {NOT_JUDGED}: {error}")
        return None


def _configuration(
    choice: ConfigurationChoice,
    analysis: Analysis,
    report: Path,
    source: str,
    say: Callable[[str], None],
    space: str = "SPACE",
) -> tuple[Path, str, str] | None:
    """The stopping configuration chosen on the calibration, written to the report: ``(configuration.yaml,
    the configuration in words, the choice in a paragraph)``; None where it is to train everything (said)."""
    from tune_stop.app._configurations import configuration_summary, write_configurations

    path = write_configurations(choice, analysis, report, source)
    answer = choice.answer
    if answer is not None and answer.trains_everything:
        say(
            "tune-stop: the stopping configuration chosen is to train everything (configurations.csv in "
            f"{report}): every other configuration judged, the space's scheduler among them, lost more than the "
            f"tolerance in more than {choice.risk:.0%} of the simulated searches; the search still runs the space's "
            "scheduler, beside the per-trial recommendation or else the space's own stoppers, as without the "
            "judgement"
        )
        return None
    if path is None or answer is None:
        return None
    from analysis import as_given

    return path, answer.describe(), configuration_summary(choice, report, as_given(analysis, choice.tolerance), space)


def _trials_at_once(options: SearchOptions) -> int:
    """The trials the next search runs at once, which cross-trial rules depend on: ``--max-concurrent``, else as
    many as the resources of the Ray the calibration ran on hold (4 where no Ray runs)."""
    import ray

    from analysis._configuration_choice import DEFAULT_WORKERS

    if options.max_concurrent:
        return options.max_concurrent
    if not ray.is_initialized():
        return DEFAULT_WORKERS
    available = ray.cluster_resources()
    slots = [available.get("CPU", 0.0) / options.cpus_per_trial] if options.cpus_per_trial > 0 else []
    slots += [available.get("GPU", 0.0) / options.gpus_per_trial] if options.gpus_per_trial > 0 else []
    return max(1, int(min(slots))) if slots else DEFAULT_WORKERS


def _epochs(path: Path | str) -> tuple[int, int]:
    """Epochs trained and epochs of training every trial to its budget."""
    from analysis import CurveSet, load_experiment

    curves = CurveSet.from_frame(load_experiment(path))
    return int(curves.lengths.sum()), int(curves.budgets.sum())


def calibrate_and_search(
    space: SearchSpace,
    options: SearchOptions,
    overrides: Mapping[str, Any],
    *,
    calibration_configs: int,
    audit_fraction: float,
    tolerance: float = CALIBRATION_TOLERANCE,
    tolerance_points: float | None = None,
    tolerance_sd: float | None = None,
    default_sds: float | None = None,
    keep_scheduler: bool = False,
    say: Callable[[str], None] = print,
) -> CalibratedSearch:
    """Runs the three parts (see the module) and returns what they found.

    Args:
        space: The space; its ``num_samples`` samples are split into
            ``calibration_configs`` for the calibration and the rest for the search.
        options: The search's options; ``options.name`` names the search, and the
            calibration and report folders take it with ``-calibration`` and ``-recommendation``.
        overrides: Fixed config values of every trial (e.g. ``data_root``).
        calibration_configs: N, at least 2 and fewer than ``space.num_samples``.
        audit_fraction: Share of the search's configurations that are audit trials.
        tolerance: The recommendation's tolerance.
        tolerance_points: Instead, a tolerance in the target's own units (``--tolerance-points``).
        tolerance_sd: Instead, a tolerance in SDs of the target's estimator (``--tolerance-sd``).
        default_sds: Where none of the three is given: that many SDs where the calibration's curves carry the
            estimator's SD (a GAN's), else ``tolerance`` (:attr:`analysis.AnalysisOptions.default_sds`).
        keep_scheduler: The user chose the space's scheduler (``--scheduler``): no whole
            stopping configuration is judged, and the search runs the per-trial path.
        say: Where progress lines go.

    Raises:
        ValueError: For a calibration size the space cannot split.
        OtherTolerance: For a loop continued with another tolerance than it chose with.
        CannotChoose: When the recommendation cannot be chosen on the calibration as asked.
    """
    from analysis import AshaSpec, Choice, analyse, as_given, load_experiment, tolerance_in_points, write_report

    total = space.num_samples
    if not 2 <= calibration_configs < total:
        raise ValueError(
            f"--calibrate must be at least 2 and below the space's {total} samples (--num-samples), "
            f"but got --calibrate {calibration_configs}"
        )
    name = str(options.name)
    report = report_folder(space, options)
    check_same_tolerance(report, tolerance, tolerance_points, tolerance_sd, default_sds)
    calibration_space = space.with_overrides(num_samples=calibration_configs).full_curves()
    calibration = _run_or_resume(
        calibration_space,
        replace(options, name=f"{name}-calibration"),
        overrides,
        "1/3 calibration",
        f"1/3 calibration: {calibration_configs} configurations trained to the budget",
        say,
    )

    remaining = total - calibration_configs
    runs_asha = space.scheduler.get("name") == "asha"
    asha = AshaSpec.from_scheduler(space.scheduler, space.metric, space.mode) if runs_asha else None
    say(f"tune-stop: 2/3 recommendation for a search of {counted(remaining, 'configuration')}")
    try:
        analysis = analyse(
            load_experiment(calibration.experiment_path),
            metrics=space.stopped_metrics() or None,
            objective="search",
            tolerance=tolerance,
            tolerance_points=tolerance_points,
            tolerance_sd=tolerance_sd,
            default_sds=default_sds,
            settings=space.replay_settings(),
            new_configs=remaining,
            selection=(space.metric, space.mode),
            asha=asha,
            keep_best=space.trainable == "gan",  # a GAN user keeps the best snapshot, as recommend judges it
        )
    except ValueError as error:  # e.g. a tolerance in points of a best model at 0: the calibration is kept
        raise CannotChoose(error) from None
    recommendation = analysis.recommended()
    judged = None
    if keep_scheduler:
        say(
            f"tune-stop: --scheduler {space.scheduler['name']} given: no stopping configuration judged, the "
            "search keeps that scheduler"
        )
    else:
        judged = _judged(analysis, space, options, say)
    source = str(calibration.experiment_path)
    write_report(analysis, report, tolerance=analysis.tolerance, source=source, configuration=judged)
    chosen_with = {
        "tolerance": tolerance,
        "tolerance_points": tolerance_points,
        "tolerance_sd": tolerance_sd,
        "default_sds": default_sds,
    }
    (report / LOOP_FILE).write_text(json.dumps(chosen_with) + "\n")
    argument = space.name if space.source.startswith("built-in") else space.source  # what `search` takes
    configuration = _configuration(judged, analysis, report, source, say, argument) if judged is not None else None
    if judged is None:
        from tune_stop.app._configurations import write_configurations

        write_configurations(None, analysis, report, source)  # an older run's files there must not pass for these

    search_space = space.with_overrides(num_samples=remaining, seed=space.seed + 1)
    if configuration is not None:
        path, described, _ = configuration
        search_space = search_space.with_stoppers(path)
        audit = "; no audit trials: they measure a per-trial policy's prediction" if audit_fraction > 0 else ""
        step = f"3/3 search of {counted(remaining, 'configuration')} with: {described} ({path.name}{audit})"
    elif recommendation is not None:
        search_space = search_space.with_stoppers(report / "stoppers.yaml").with_audit(audit_fraction)
        step = f"3/3 search of {counted(remaining, 'configuration')} with: {recommendation.row['description']}"
    else:
        step = f"3/3 search of {counted(remaining, 'configuration')} with the space's own stoppers (none recommended)"
    search = _run_or_resume(search_space, options, overrides, "3/3 search", step, say)

    table = analysis.recommendations
    alone = table[(table["policy"] == "asha_alone") & (table["metric"] == space.metric)]
    trained, budget = _epochs(search.experiment_path)
    calibration_trained, calibration_budget = _epochs(calibration.experiment_path)
    return CalibratedSearch(
        calibration=calibration,
        report=report,
        recommended=str(recommendation.row["description"]) if recommendation is not None else None,
        search=search,
        compute_used=trained / budget,
        compute_with_calibration=(trained + calibration_trained) / (budget + calibration_budget),
        asha_alone_high=float(alone["best_regret_high"].iloc[0]) if len(alone) else None,
        best_model_noise=analysis.best_model_noise,
        configuration=configuration[1:] if configuration is not None else None,
        tolerance=analysis.tolerance,
        in_points=functools.partial(as_given, analysis) if analysis.points_scale is not None else None,
        points_line=tolerance_in_points(analysis),
        failed_check=tuple(
            f"{row['policy']} on {row['metric']}" for _, row in table[table["choice"] == Choice.HELD_OUT].iterrows()
        ),
    )
