"""``tune-stop search``: a space run with Ray Tune (or resumed), checked before Ray starts."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from tune_stop.app._shared import (
    EXIT_TERMINATED,
    UsageError,
    check_writable_folder,
    read_record_or_none,
    tolerance_note,
    warnings_printed,
)
from tune_stop.app._signals import sigterm_stops_the_search
from tune_stop.app._summaries import calibrated_search, format_summary, print_audit, search_exit_code
from tune_stop.defaults import DEFAULT_TOLERANCE_SD
from tune_stop.experiment import is_uri, path_exists, read_record

__all__ = ["default_sds", "run_search_command"]


def run_search_command(args: argparse.Namespace) -> int:
    """``tune-stop search``: checks everything it can before Ray starts, runs (or resumes) and summarises."""
    if (args.space is None) == (args.resume is None):
        raise UsageError("give a SPACE to search, or --resume EXPERIMENT to finish one (not both)")
    if args.resume is not None:
        return _resume(args)
    from tune_stop.app.search import SearchOptions, experiment_path, init_ray, run_search
    from tune_stop.cluster import StorageError

    space = _space(args)
    overrides = _overrides(args, space)
    options = SearchOptions(
        storage_path=args.storage_path,
        name=args.name,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
        max_concurrent=args.max_concurrent,
        checkpoint_frequency=args.checkpoint_frequency,
        address=args.address or os.environ.get("RAY_ADDRESS"),
        num_cpus=args.num_cpus,
        **_output(args),
        max_failures=args.max_failures,
        report_interval_s=args.report_interval,
        tensorboard=args.tensorboard,
    )
    path = experiment_path(space, options)
    if path_exists(path) and args.calibrate is None:
        raise UsageError(f"experiment folder {path} already exists; choose another --name")
    if isinstance(path, Path):
        check_writable_folder(path, "--storage-path" if args.storage_path else "results folder")
    options = SearchOptions(**{**vars(options), "name": str(path).rstrip("/").rsplit("/", 1)[1]})
    if args.calibrate is not None:  # a continued loop chooses as it first did (checked before Ray starts)
        from tune_stop.app.calibrate import (
            CALIBRATION_TOLERANCE,
            OtherTolerance,
            check_same_tolerance,
            recorded_tolerance,
            report_folder,
        )

        report = report_folder(space, options)
        args.default_sds = default_sds(args, space, recorded_tolerance(report))
        try:
            check_same_tolerance(
                report,
                CALIBRATION_TOLERANCE if args.tolerance is None else args.tolerance,
                args.tolerance_points,
                args.tolerance_sd,
                args.default_sds,
            )
        except OtherTolerance as error:
            raise UsageError(str(error)) from None
    _check_local_gpus(options)
    init_ray(options)
    _check_resources(options.cpus_per_trial, options.gpus_per_trial)
    with sigterm_stops_the_search() as terminated:
        if args.calibrate is not None:
            code = calibrated_search(args, space, options, overrides)
        else:
            try:
                summary = run_search(space, options, overrides)
            except StorageError as error:
                raise UsageError(str(error)) from None
            print(format_summary(summary))
            print_audit(summary.experiment_path)
            code = search_exit_code(summary)
    return EXIT_TERMINATED if terminated() else code


def default_sds(args: argparse.Namespace, space: Any, recorded: dict[str, Any] | None) -> float | None:
    """The loop's tolerance in SDs where no tolerance flag is given: a continued loop's recorded one (it chooses as
    it first did), else :data:`DEFAULT_TOLERANCE_SD` for a GAN space (its FID moves by several percent from one
    epoch to the next by chance; as ``recommend``'s default on curves that carry the estimator's SD, the share
    holds where the calibration has no usable SD), said on stderr; None where a flag is given or for other spaces.
    """
    if (args.tolerance, args.tolerance_points, args.tolerance_sd) != (None, None, None):
        return None
    if recorded is not None:
        value = recorded.get("default_sds")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if space.trainable != "gan":
        return None
    print(
        f"tune-stop: note: a GAN's loop chooses within {DEFAULT_TOLERANCE_SD:g} SDs of its FID estimate by default "
        f"(as --tolerance-sd {DEFAULT_TOLERANCE_SD:g}); --tolerance gives a share, --tolerance-points FID points",
        file=sys.stderr,
    )
    return DEFAULT_TOLERANCE_SD


def _check_calibration(args: argparse.Namespace, space: Any) -> None:
    """What ``--calibrate`` and ``--tolerance-sd`` ask of the space, checked before anything trains.

    Raises:
        UsageError: For a calibration size the space cannot split, or SDs of an estimator its trainable does not
            report.
    """
    if args.calibrate is not None and not 2 <= args.calibrate < space.num_samples:
        raise UsageError(
            f"--calibrate must be at least 2 and below the space's {space.num_samples} samples (--num-samples), "
            f"but got --calibrate {args.calibrate}"
        )
    if args.tolerance_sd is not None and space.trainable != "gan":
        raise UsageError(
            f"--tolerance-sd needs the estimator's own SD in the curves (a <metric>_sd column), which only the "
            f"GAN trainable reports (fid_sd), not {space.trainable}: give --tolerance or --tolerance-points"
        )


def _space(args: argparse.Namespace) -> Any:
    """The space to search, with the command line's overrides, stoppers, full curves and audit applied."""
    from search_spaces import SpaceError, load_space

    if args.full_curves and args.scheduler in ("asha", "median"):
        raise UsageError(f"--full-curves trains every trial to its budget; drop --scheduler {args.scheduler}")
    if args.full_curves and args.stoppers:
        raise UsageError("--full-curves runs no stopper but the non-finite guard; drop --stoppers")
    if args.calibrate is not None and (args.full_curves or args.stoppers):
        flag = "--full-curves" if args.full_curves else "--stoppers"
        raise UsageError(f"--calibrate records whole curves and chooses the stoppers itself; drop {flag}")
    tolerances = (
        ("--tolerance", args.tolerance),
        ("--tolerance-points", args.tolerance_points),
        ("--tolerance-sd", args.tolerance_sd),
    )
    for flag, value in tolerances:
        if value is not None and args.calibrate is None:
            raise UsageError(
                f"{flag} is the tolerance --calibrate chooses within; without --calibrate, choose with "
                f"tune-stop recommend EXPERIMENT {flag}"
            )
    if args.tolerance is not None and (note := tolerance_note(args.tolerance)) is not None:
        print(f"tune-stop: note: {note}", file=sys.stderr)
    try:
        with warnings_printed("note"):
            space = load_space(args.space).with_overrides(
                num_samples=args.num_samples, max_epochs=args.max_epochs, scheduler=args.scheduler, seed=args.seed
            )
        if args.stoppers:
            before = dict(space.scheduler)
            space = space.with_stoppers(Path(args.stoppers).expanduser())
            if args.scheduler is not None and space.scheduler.get("name") != args.scheduler:
                raise UsageError(
                    f"--scheduler {args.scheduler} and --stoppers {args.stoppers}, whose scheduler is "
                    f"{_scheduler_words(space.scheduler)}: give one"
                )
            if dict(space.scheduler) != before:
                now = _scheduler_words(space.scheduler)
                print(
                    f"tune-stop: note: --stoppers {args.stoppers} sets the scheduler: {now} replaces the space's "
                    f"{_scheduler_words(before)}",
                    file=sys.stderr,
                )
            _note_same_configurations(space)
        if args.full_curves:
            space = space.full_curves()
        _check_calibration(args, space)
        if args.audit_fraction and args.calibrate is None:
            if space.prediction is None:
                raise UsageError(
                    "--audit-fraction measures a recommended policy: give --stoppers with a stoppers.yaml written "
                    "by tune-stop recommend"
                )
            space = space.with_audit(args.audit_fraction)
    except SpaceError as error:
        raise UsageError(str(error)) from None
    return space


def _overrides(args: argparse.Namespace, space: Any) -> dict[str, object]:
    """Fixed config values of every trial: the data root, downloads, and a GAN's FID weights and precision."""
    data_root = str(Path(args.data_root).expanduser().resolve()) if args.data_root else None
    _check_data(space, data_root, args.download)
    overrides: dict[str, object] = {"data_root": data_root, "download": args.download}
    if space.trainable == "gan":
        overrides.update(_check_fid_weights(space, args.fid_weights))
        if args.amp:
            overrides["amp"] = True
    elif args.fid_weights or args.amp:
        flag = "--fid-weights" if args.fid_weights else "--amp"
        raise UsageError(f"{flag} applies to GAN spaces, and {space.name} trains a {space.trainable}")
    return overrides


def _scheduler_words(scheduler: dict[str, Any]) -> str:
    """``asha (grace_period 1, reduction_factor 4)``: a scheduler entry as the notes say it."""
    settings = ", ".join(
        f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
        for key, value in scheduler.items()
        if key != "name"
    )
    return f"{scheduler['name']}" + (f" ({settings})" if settings else "")


def _note_same_configurations(space: Any) -> None:
    """Says so when the recommendation came from a search of this space with this seed: the same draws."""
    source = (space.prediction or {}).get("source")
    if not source:
        return
    recorded = read_record_or_none(Path(str(source)))
    if recorded is not None and recorded.space == space.name and recorded.seed == space.seed:
        print(
            f"tune-stop: note: --stoppers was recommended from {source}, a search of {space.name} with seed "
            f"{space.seed}: this search draws the same configurations, so its audit judges the recommendation on "
            f"curves it was chosen on. Give --seed {space.seed + 1} (or any other) for configurations it never saw.",
            file=sys.stderr,
        )


#: Fewer validation examples than this in a fold is noted: each fold's validation metrics are that noisy.
_FEW_VALIDATION_EXAMPLES = 50


def _check_data(space: Any, data_root: str | None, download: bool) -> None:
    """Every dataset the space trains on is there; a fold too small to validate on is noted."""
    from tune_stop.data import DatasetNotFoundError, load_dataset

    for name in sorted({config["dataset"] for config in space.trial_configs()}):
        try:
            dataset = load_dataset(name, data_root, download=download)
        except DatasetNotFoundError as error:
            raise UsageError(str(error)) from None
        examples = len(dataset.y_train)
        if dataset.holdout and space.num_folds > 1 and examples / space.num_folds < _FEW_VALIDATION_EXAMPLES:
            print(
                f"tune-stop: note: num_folds {space.num_folds} leaves about {examples // space.num_folds} "
                f"validation examples per fold of {name}'s {examples} training examples, so each trial's "
                f"validation metrics are that noisy, and the search runs {space.num_folds} trials per configuration",
                file=sys.stderr,
            )


def _check_local_gpus(options: Any) -> None:
    """Before a local Ray starts: a trial that asks for more GPUs than this machine has can never run."""
    import ray

    if options.address or ray.is_initialized() or options.gpus_per_trial <= 0:
        return
    import torch

    count = torch.cuda.device_count()
    if options.gpus_per_trial > count:
        raise UsageError(f"--gpus-per-trial {options.gpus_per_trial:g} exceeds the cluster's {count:g} GPUs")


def _check_fid_weights(space: object, fid_weights: str | None) -> dict[str, object]:
    from tune_stop.metrics import InceptionWeightsError, inception_weights_path

    configs = space.trial_configs()  # type: ignore[attr-defined]
    if not any(config["fid_features"] == "inception" for config in configs):
        return {"fid_weights": str(Path(fid_weights).expanduser().resolve())} if fid_weights else {}
    try:
        path = inception_weights_path(fid_weights or configs[0]["fid_weights"])
    except InceptionWeightsError as error:
        raise UsageError(str(error)) from None
    return {"fid_weights": str(path.resolve())}


def _check_resources(cpus: float, gpus: float) -> None:
    import ray

    available = ray.cluster_resources()
    if cpus > available.get("CPU", 0):
        raise UsageError(f"--cpus-per-trial {cpus:g} exceeds the cluster's {available.get('CPU', 0):g} CPUs")
    if gpus > available.get("GPU", 0):
        raise UsageError(f"--gpus-per-trial {gpus:g} exceeds the cluster's {available.get('GPU', 0):g} GPUs")


def _output(args: argparse.Namespace) -> dict[str, Any]:
    """What a search prints while it runs: the progress line by default, Ray's tables with --verbose."""
    if args.verbose:
        return {"verbose": 1, "progress": False}
    # Ray Tune's other output (a box per experiment, "Wrote the latest version...") goes with its
    # tables: its older output engine prints nothing at verbosity 0, and its INFO lines are hidden.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    return {"verbose": 0, "progress": not args.quiet}


def _resume(args: argparse.Namespace) -> int:
    from tune_stop.app.search import SearchOptions, init_ray, resume_search

    path: Path | str = args.resume if is_uri(args.resume) else Path(args.resume).expanduser().resolve()
    if not path_exists(path):
        raise UsageError(f"--resume {path}: no such experiment folder")
    ignored = [
        flag
        for flag, value in (
            ("--num-samples", args.num_samples),
            ("--max-epochs", args.max_epochs),
            ("--scheduler", args.scheduler),
            ("--name", args.name),
            ("--seed", args.seed),
            ("--full-curves", args.full_curves or None),
            ("--stoppers", args.stoppers),
            ("--audit-fraction", args.audit_fraction),
            ("--calibrate", args.calibrate),
            ("--tolerance", args.tolerance),
            ("--tolerance-points", args.tolerance_points),
            ("--tolerance-sd", args.tolerance_sd),
        )
        if value is not None
    ]
    if ignored:
        raise UsageError(f"--resume continues the experiment as it was; drop {', '.join(ignored)}")
    options = SearchOptions(
        address=args.address or os.environ.get("RAY_ADDRESS"), num_cpus=args.num_cpus, **_output(args)
    )
    try:
        read_record(path)  # a folder that is no tune-stop experiment is refused before Ray starts
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    init_ray(options)
    with sigterm_stops_the_search() as terminated:
        try:
            summary = resume_search(path, options)
        except (FileNotFoundError, ValueError) as error:
            raise UsageError(str(error)) from None
        print(format_summary(summary))
        print_audit(summary.experiment_path)
    return EXIT_TERMINATED if terminated() else search_exit_code(summary)
