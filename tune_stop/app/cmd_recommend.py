"""``tune-stop recommend``: which stopping configuration to run next, from recorded curves."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tune_stop._count import counted
from tune_stop.app._remedies import cli_message
from tune_stop.app._shared import (
    EXIT_OK,
    UsageError,
    check_writable_folder,
    load_curves_or_exit,
    read_record_or_none,
    tolerance_note,
    warnings_printed,
)
from tune_stop.defaults import DEFAULT_PENALTY, DEFAULT_TOLERANCE, DEFAULT_TOLERANCE_SD

if TYPE_CHECKING:
    import pandas as pd

    from analysis import Analysis, AshaSpec, ConfigurationChoice
    from tune_stop.experiment import ExperimentRecord

__all__ = ["run_recommend_command"]


def run_recommend_command(args: argparse.Namespace) -> int:
    """``tune-stop recommend``: the analysis of the curves, its report folder, and what to run next."""
    from analysis import (
        AnalysisOptions,
        analyse,
        answer_lines,
        infer_mode,
        plain,
        tolerance_in_points,
        write_report,
    )
    from tune_stop.stoppers import FAMILIES

    if args.policy != "all" and args.policy not in FAMILIES:
        raise UsageError(f"--policy must be one of {', '.join(FAMILIES)} or all, but got --policy {args.policy}")
    source = Path(args.experiment).expanduser().resolve()
    out = Path(args.out).expanduser().resolve() if args.out else Path.cwd() / f"{source.stem}-report"
    if source.is_dir() and (out == source or source in out.parents):
        raise UsageError(f"--out {out} is inside the experiment folder; reports never write there")
    check_writable_folder(out, "--out")
    curves = load_curves_or_exit(str(source), retried_trials=args.retried_trials)
    record = read_record_or_none(source)
    whole = _whole_curves(curves)
    unjudgeable = _why_no_configurations(curves, whole)
    if args.configurations and unjudgeable is not None:
        raise UsageError(f"--configurations: {unjudgeable}")
    judge = unjudgeable is None and args.configurations is not False
    metrics = (
        [(m, args.mode or infer_mode(m)) for m in args.metric] if args.metric else _stopped_metrics(record, curves)
    )
    settings = _replay_settings(record, args.grace_period)
    objective = args.objective
    if objective == "auto":
        objective = "search" if whole else "tolerance"
        why = "every curve ran its whole budget" if objective == "search" else "some curves were cut short"
        chosen_by = f"Objective: {objective} ({why}; --objective chooses)."
    else:
        chosen_by = f"Objective: {objective}."
    asha = _recorded_asha(record, args.asha_workers) if args.asha else None
    selection = (
        (record.metric, record.mode or infer_mode(record.metric)) if record and record.metric in curves else None
    )
    options = AnalysisOptions(
        metrics=metrics,
        target=args.target,
        target_mode=args.target_mode,
        families=tuple(FAMILIES) if args.policy == "all" else (args.policy,),
        tolerance=DEFAULT_TOLERANCE if args.tolerance is None else args.tolerance,
        tolerance_points=args.tolerance_points,
        tolerance_sd=args.tolerance_sd,
        default_sds=DEFAULT_TOLERANCE_SD if args.tolerance is None else None,
        objective=objective,
        selection=selection,
        asha=asha,
        penalty=DEFAULT_PENALTY if args.penalty is None else args.penalty,
        settings=settings,
        interval=args.interval,
        new_configs=args.new_configs,
        keep_best=_keep_best(args, curves),
    )
    with warnings_printed("warning"):
        try:
            analysis = analyse(curves, options)
        except ValueError as error:
            raise UsageError(cli_message(error)) from None
    _note_doubtful_flags(args, objective, curves)
    from tune_stop.app._configurations import NOT_JUDGED, judged_or_none, write_configurations

    configuration = None
    if unjudgeable is not None and args.configurations is None:
        print(f"{NOT_JUDGED}: {unjudgeable}.")
    if judge:
        configuration = judged_or_none(analysis, record, args.concurrency, insisted=bool(args.configurations))
    write_configurations(configuration, analysis, out, str(source))  # none judged: an older run's files go
    try:
        written = write_report(
            analysis, out, tolerance=analysis.tolerance, source=str(source), configuration=configuration
        )
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write the report ({error.strerror or error})") from None
    print(chosen_by if asha is None else f"{chosen_by} Beside {asha.describe()}, replayed on the curves.")
    if (points := tolerance_in_points(analysis)) is not None:
        print(points)
    _print_analysis(analysis, configuration)
    files = [p.name for p in written]
    if configuration is not None:
        files += ["configurations.csv", *(["configuration.yaml"] if configuration.runs else [])]
    print(f"Report: {out} ({', '.join(files)})")
    print(f"The answer (as recommendations.md opens; files in {out}):")
    for line in answer_lines(analysis, configuration):
        print(plain(line))
    return EXIT_OK


def _keep_best(args: argparse.Namespace, curves: pd.DataFrame) -> bool:
    """``--keep-best``, else on for a GAN's target (``fid_test`` or ``fid``), as GAN users keep their best snapshot."""
    if args.keep_best is not None:
        return bool(args.keep_best)
    gan = ("fid_test", "fid")
    judged_by_default = args.target is None and "test_accuracy" not in curves
    return args.target in gan or (judged_by_default and any(t in curves for t in gan))


def _print_analysis(analysis: Analysis, configuration: ConfigurationChoice | None) -> None:
    """What the intervals are for, the table of rows (as recommendations.md shows it), and the hindsight ceiling."""
    import pandas as pd

    from analysis import as_given, configuration_note, person_table

    print(
        f"Intervals ({analysis.interval:.0%}): mean regret and epochs saved, and the best and selected models' "
        f"regret and compute used, of a new search of {analysis.new_configs} configurations; held out: "
        f"{analysis.split.describe() if analysis.split is not None else 'nothing'}."
    )
    with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_colwidth", 80):
        print(person_table(analysis, configuration).to_string(index=False))
    if (note := configuration_note(analysis, configuration)) is not None:
        print(note)
    ceiling = analysis.ceiling
    if ceiling is not None and ceiling.n_curves:
        print(
            f"Ceiling: stopping each of these {ceiling.n_curves} complete curves at its best moment in hindsight "
            f"saves at most {ceiling.epochs_saved:.1%} of the epochs within the "
            f"{as_given(analysis, ceiling.tolerance)} tolerance on the mean per-curve regret; no stopping rule "
            "can save more on these curves at that regret. Judged by the search's best model, as the stopping "
            "configurations and ASHA are, a rule may save more."
        )


def _stopped_metrics(record: ExperimentRecord | None, curves: pd.DataFrame) -> list[tuple[str, str]] | None:
    """The default metrics present, and every metric the experiment's stoppers stopped on (None: defaults)."""
    from analysis import default_metrics, holds_no_number

    if record is None or record.stopped_metrics is None:
        return None
    metrics = default_metrics(list(curves.columns))
    for pair in record.stopped_metrics:
        if pair[0] in curves and pair not in metrics:
            metrics.append(pair)
    # Not asked for by --metric: a metric that holds no number is left out, and said so.
    empty = [metric for metric, _ in metrics if holds_no_number(curves[metric])]
    for metric in empty:
        print(
            f"tune-stop: note: {metric} holds no number (every value is missing or NaN): left out of the metrics "
            "to stop on",
            file=sys.stderr,
        )
    return [pair for pair in metrics if pair[0] not in empty] or None


def _replay_settings(
    record: ExperimentRecord | None, grace_period: int | None
) -> dict[str, dict[str, dict[str, object]]]:
    """The stoppers' fixed arguments to replay with: the experiment's own, ``--grace-period`` on top."""
    from tune_stop.stoppers import FAMILIES

    recorded = record.replay_settings if record is not None else {}
    # Experiments recorded before replay settings existed have none.
    settings = {family: per_metric for family, per_metric in recorded.items() if family in FAMILIES}
    if settings:
        listed = "; ".join(
            f"{family} on {metric}: " + ", ".join(f"{name} {value}" for name, value in arguments.items())
            for family, per_metric in settings.items()
            for metric, arguments in per_metric.items()
        )
        print(f"Replayed with the experiment's stopper settings: {listed}")
    if grace_period is not None:
        settings["threshold"] = _with_grace(settings.get("threshold", {}), grace_period)
        settings["patience"] = _with_grace(settings.get("patience", {}), grace_period)
    return settings


def _with_grace(per_metric: dict[str, dict[str, object]], grace_period: int) -> dict[str, dict[str, object]]:
    """``per_metric`` with ``grace_period`` for every metric (``"*"`` stands for those not listed)."""
    graced: dict[str, dict[str, object]] = {"*": {"grace_period": grace_period}}
    graced.update({metric: {**arguments, "grace_period": grace_period} for metric, arguments in per_metric.items()})
    return graced


def _recorded_asha(record: ExperimentRecord | None, workers: int) -> AshaSpec:
    """The ASHA the experiment's space runs, from its record."""
    from analysis import AshaSpec

    if record is None or not record.runs_asha:
        raise UsageError(
            "--asha: the experiment records no ASHA scheduler (a CSV, an experiment written without tune-stop or "
            "by an older one, or a space that runs FIFO)"
        )
    scheduler = record.replayed_scheduler
    try:
        return AshaSpec.from_scheduler(scheduler, record.metric, record.mode, workers)
    except ValueError as error:
        raise UsageError(f"--asha: the experiment's recorded scheduler {scheduler} is unusable ({error})") from None


def _why_no_configurations(curves: pd.DataFrame, whole: bool) -> str | None:
    """Why whole stopping configurations cannot be judged on these curves (None: they can), before any analysis;
    ``whole``: whether every curve ran its budget (:func:`_whole_curves`)."""
    if curves["config_id"].nunique() >= curves["trial_id"].nunique():
        return (
            "judging a stopping configuration takes configurations with several curves each (a config_id column: "
            "the folds of one configuration)"
        )
    if (count := curves["config_id"].nunique()) < 4:
        return f"the curves hold {counted(count, 'configuration')}; judging takes at least 4"
    if not whole:
        return (
            "judging a stopping configuration takes whole curves; some were cut short. Record them: tune-stop "
            "search SPACE --full-curves"
        )
    return None


def _whole_curves(curves: pd.DataFrame) -> bool:
    """Whether every curve ran its whole epoch budget (its last epoch reaches ``config/max_epochs``)."""
    from analysis import CurveSet

    try:
        return bool(CurveSet.from_frame(curves).complete.all())
    except ValueError:
        return False  # analyse names what is wrong with the curves


def _note_doubtful_flags(args: argparse.Namespace, objective: str, curves: pd.DataFrame) -> None:
    """One note per flag value that is valid but probably not what was meant."""
    from analysis import infer_mode

    given = args.tolerance is not None
    notes = [note] if given and (note := tolerance_note(args.tolerance)) is not None else []
    if args.penalty is not None and objective != "tradeoff":
        notes.append(f"--penalty weighs only --objective tradeoff; it plays no part with --objective {objective}")
    if args.grace_period is not None and args.grace_period >= (longest := int(curves["epoch"].max())):
        notes.append(
            f"--grace-period {args.grace_period} leaves threshold and patience no epoch to fire on: the longest "
            f"curve has {longest}"
        )
    if args.mode is not None:
        for metric in args.metric or []:
            if args.mode != infer_mode(metric):
                notes.append(f"--mode {args.mode} for {metric}, whose name suggests {infer_mode(metric)}")
    for note in notes:
        print(f"tune-stop: note: {note}", file=sys.stderr)
