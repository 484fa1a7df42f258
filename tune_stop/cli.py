"""The ``tune-stop`` command line: ``search``, ``spaces``, ``recommend`` and ``report``.

Bad input of any kind ends with one line on stderr and exit code 2, no traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import pandas as pd

    from analysis import AshaSpec
    from tune_stop.search import SearchSummary

__all__ = ["main"]

EXIT_OK, EXIT_TRIALS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """``argparse`` that reports a usage error in one line instead of the usage block.

    Abbreviated flags are refused (``--num-sample 2`` must not start a search).
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _number(kind: type[int] | type[float], minimum: float, inclusive: bool = True) -> Callable[[str], float]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {'an integer' if kind is int else 'a number'}, got {text!r}"
            ) from None
        if not math.isfinite(value) or value < minimum or (not inclusive and value == minimum):
            relation = ">=" if inclusive else ">"
            raise argparse.ArgumentTypeError(f"must be {relation} {minimum:g}, got {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _level(text: str) -> float:
    """A probability strictly between 0 and 1 (an interval's level)."""
    value = _number(float, 0, inclusive=False)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be < 1, got {text!r}")
    return value


def _name(text: str) -> str:
    if not text or text in (".", "..") or os.sep in text or (os.altsep and os.altsep in text):
        raise argparse.ArgumentTypeError(f"must be a plain folder name, got {text!r}")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tune-stop", description="Search early-stopping policies with Ray Tune.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    search = commands.add_parser("search", help="run a search space with Ray Tune")
    search.add_argument("space", nargs="?", help="a built-in space (see `tune-stop spaces`) or a .yaml/.toml file")
    search.add_argument("--resume", metavar="EXPERIMENT", help="finish an interrupted search (instead of SPACE)")
    search.add_argument("--num-samples", type=_number(int, 1), help="configurations to sample")
    search.add_argument("--max-epochs", type=_number(int, 1), help="epoch budget of every trial (and ASHA's max_t)")
    search.add_argument("--scheduler", choices=("asha", "fifo"), help="override the space's scheduler")
    search.add_argument(
        "--full-curves",
        action="store_true",
        help="train every trial to its budget (FIFO, only the non-finite guard) to record "
        "whole curves for `tune-stop recommend`",
    )
    search.add_argument(
        "--stoppers",
        metavar="FILE",
        help="run the stoppers of FILE instead of the space's: a stoppers.yaml from `tune-stop recommend` or any "
        "YAML/TOML file with a stoppers: list",
    )
    search.add_argument(
        "--calibrate",
        type=_number(int, 2),
        metavar="N",
        help="one command for the whole loop: train N of the samples to the budget, recommend from them, run the "
        "rest with the recommended stoppers beside the space's scheduler and audit trials (default "
        "--audit-fraction 0.1), and compare predicted with realized; run it again to continue after an interrupt",
    )
    search.add_argument(
        "--audit-fraction",
        type=_audit_fraction,
        metavar="F",
        help="with --stoppers from tune-stop recommend: train this share of the configurations to the budget "
        "(the stoppers only record, ASHA never cuts them) to measure the policy's realized regret in this search",
    )
    search.add_argument("--storage-path", help="where the experiment folder goes (default ~/ray_results)")
    search.add_argument("--name", type=_name, help="experiment folder name (default <space>-<time>)")
    search.add_argument("--cpus-per-trial", type=_number(float, 0, inclusive=False), default=1.0)
    search.add_argument("--gpus-per-trial", type=_number(float, 0), default=0.0)
    search.add_argument("--max-concurrent", type=_number(int, 1), help="most trials at once")
    search.add_argument("--seed", type=_number(int, 0), help="sampling seed (trial seeds are seed + config_id)")
    search.add_argument(
        "--data-root",
        help="folder of torchvision datasets (default $TUNE_STOP_DATA or ~/.cache/tune-stop/data)",
    )
    search.add_argument("--download", action="store_true", help="let torchvision download missing datasets")
    search.add_argument("--fid-weights", help="local FID Inception weights file (for fid_features: inception)")
    search.add_argument("--amp", action="store_true", help="mixed precision for GAN spaces (float16 on CUDA)")
    search.add_argument(
        "--checkpoint-frequency",
        type=_number(int, 0),
        default=5,
        help="checkpoint every N epochs (0: at the end only)",
    )
    search.add_argument(
        "--report-interval",
        type=_number(float, 0),
        default=0.5,
        help="seconds a trial trains between reports to the driver; stops stay exact (0: every epoch)",
    )
    search.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files")
    search.add_argument(
        "--address", help="Ray cluster to join (auto, ray://host:port); default $RAY_ADDRESS or a local Ray"
    )
    search.add_argument(
        "--max-failures", type=_number(int, 0), default=0, help="retries of a crashed trial from its last checkpoint"
    )
    search.add_argument("--num-cpus", type=_number(int, 1), help="CPUs of a locally started Ray (default: all)")
    output = search.add_mutually_exclusive_group()
    output.add_argument("--quiet", action="store_true", help="no progress output, only the summary")
    output.add_argument(
        "--verbose", action="store_true", help="Ray Tune's own status tables and logs instead of the progress line"
    )

    commands.add_parser("spaces", help="list the built-in search spaces")

    recommend = commands.add_parser(
        "recommend",
        help="recommend stopping parameters for the next search, with prediction intervals",
        description="Replays every stopping policy on recorded curves and recommends each one's parameter for "
        "the next search. EXPERIMENT is a Ray Tune experiment folder (tune-stop's or any other) or a CSV of "
        "curves, one row per (trial, epoch), with the columns trial_id, epoch (or Ray's training_iteration), "
        "the metrics (e.g. val_loss) and the target (e.g. test_accuracy); optional: config_id (the folds of one "
        "configuration share it), fold, config/max_epochs (the epoch budget; default: the longest curve) and "
        "config/<key> columns.",
    )
    recommend.add_argument("experiment", help="a Ray Tune experiment folder, or a CSV of curves")
    recommend.add_argument(
        "--metric",
        action="append",
        help="metric to stop on (repeatable; default: val_loss, val_accuracy, fid present)",
    )
    recommend.add_argument(
        "--mode", choices=("min", "max"), help="direction of --metric (default: max for accuracies, else min)"
    )
    recommend.add_argument("--target", help="quality judged at the stop epoch (default: test_accuracy, else fid)")
    recommend.add_argument("--target-mode", choices=("min", "max"), help="direction of --target (default: inferred)")
    # Checked against the family registry when the command runs, so --help needs no Ray import.
    recommend.add_argument(
        "--policy", default="all", help="policy family to tune (see the README's policy table), or all (default)"
    )
    recommend.add_argument(
        "--grace-period",
        type=_number(int, 0),
        help="leading epochs that threshold and patience ignore, on every metric "
        "(default: the experiment's stoppers' grace_period, else 0)",
    )
    recommend.add_argument(
        "--tolerance",
        type=_number(float, 0),
        default=0.01,
        help="largest relative regret, met by the upper end of its interval (default 0.01 = 1%%)",
    )
    recommend.add_argument(
        "--interval", type=_level, default=0.8, help="level of the prediction intervals (default 0.8)"
    )
    recommend.add_argument(
        "--new-configs",
        type=_number(int, 1),
        help="configurations in the next search the intervals are for (default: as many as the experiment has)",
    )
    recommend.add_argument(
        "--objective",
        choices=("auto", "search", "tolerance", "tradeoff"),
        default="auto",
        help="search: the least compute whose best and selected models stay within the tolerance (needs whole "
        "curves); tolerance: the most epochs saved whose mean per-curve regret stays within it; tradeoff: see "
        "--penalty; auto (default): search when every curve ran its whole budget, else tolerance",
    )
    recommend.add_argument(
        "--penalty",
        type=_number(float, 0),
        help="weight of epochs saved for --objective tradeoff (default 0.05)",
    )
    recommend.add_argument(
        "--asha",
        action="store_true",
        help="replay the ASHA the experiment's space runs (recorded by tune-stop search) beside every policy, "
        "and add ASHA alone as a baseline; needs whole curves (--full-curves)",
    )
    recommend.add_argument(
        "--asha-workers", type=_number(int, 1), default=1, help="trials ASHA runs at once in the replay (default 1)"
    )
    recommend.add_argument("--out", help="report folder (default ./<experiment>-report); never inside the experiment")

    report = commands.add_parser("report", help="print per-trial stop reasons and the best trials")
    report.add_argument("experiment", help="a tune-stop experiment folder")
    report.add_argument(
        "--metric", help="metric that ranks the trials (default: the experiment's own metric, else val_loss)"
    )
    report.add_argument("--mode", choices=("min", "max"), help="direction of --metric (default: inferred)")
    report.add_argument("--top", type=_number(int, 1), default=5, help="best trials to show")
    return parser


def _cmd_spaces() -> int:
    from search_spaces import builtin_spaces, load_space

    for name in builtin_spaces():
        space = load_space(name)
        print(f"{name:<20} {space.description}")
    return EXIT_OK


def _check_data(space: object, data_root: str | None, download: bool) -> None:
    from tune_stop.data import DatasetNotFoundError, load_dataset

    for dataset in sorted({config["dataset"] for config in space.trial_configs()}):  # type: ignore[attr-defined]
        try:
            load_dataset(dataset, data_root, download=download)
        except DatasetNotFoundError as error:
            raise UsageError(str(error)) from None


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


def _check_writable_folder(folder: Path, flag: str) -> None:
    """Refuses, in one line, a folder that cannot be created or written (checked before any work).

    Raises:
        UsageError: If ``folder`` is a file, lies under a file, or its nearest existing
            folder is not writable.
    """
    try:
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{flag} {folder} is a file, not a folder")
        existing = folder
        while not existing.exists():
            existing = existing.parent
    except OSError as error:  # e.g. a parent folder that cannot be searched
        raise UsageError(f"{flag} {folder} cannot be reached: {error.strerror or error}") from None
    if not existing.is_dir():
        raise UsageError(f"{flag} {folder} cannot be created: {existing} is a file")
    try:  # a real write, since permissions say nothing of read-only file systems (or to root)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(
            f"{flag} {folder} cannot be written: creating a file in {existing} failed ({error.strerror or error})"
        ) from None


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


def _cmd_resume(args: argparse.Namespace) -> int:
    from tune_stop.search import SearchOptions, is_uri, resume_search

    path: Path | str = args.resume if is_uri(args.resume) else Path(args.resume).expanduser().resolve()
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
        )
        if value is not None
    ]
    if ignored:
        raise UsageError(f"--resume continues the experiment as it was; drop {', '.join(ignored)}")
    options = SearchOptions(
        address=args.address or os.environ.get("RAY_ADDRESS"), num_cpus=args.num_cpus, **_output(args)
    )
    try:
        summary = resume_search(path, options)
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    print(_format_summary(summary))
    _print_audit(summary.experiment_path)
    return _search_exit_code(summary)


def _points(share: float) -> str:
    """A share in percentage points with 2 decimals, never ``-0.00``."""
    return f"{round(100 * share, 2) + 0.0:.2f}"


def _print_audit(experiment: Path | str) -> None:
    """Predicted against realized on the experiment's audit trials, each realized value outside flagged."""
    from analysis import audit_table, load_experiment

    metadata = _metadata(Path(experiment)) if not isinstance(experiment, str) or "://" not in experiment else {}
    if not metadata.get("audited_configs") or not metadata.get("prediction"):
        return
    try:
        table = audit_table(load_experiment(experiment), metadata)
    except ValueError as error:
        print(f"tune-stop: warning: no audit comparison: {error}", file=sys.stderr)
        return
    if table is None:
        return
    block: dict[str, Any] = metadata["prediction"]  # type: ignore[assignment]
    audited: list[int] = metadata["audited_configs"]  # type: ignore[assignment]
    count = f"{len(audited)} configuration{'s' if len(audited) != 1 else ''}"
    print(
        f"\nAudit: {count} trained to the budget. Predicted by tune-stop recommend "
        f"({float(block['interval']):.0%} intervals, for {block['new_configs']} configurations) against realized "
        "in this search:"
    )
    scheduler = metadata.get("replayed_scheduler")
    unpredicted_asha = block.get("asha") is None and isinstance(scheduler, dict) and scheduler.get("name") == "asha"
    if block.get("asha") is not None:
        print(
            "  (ASHA never cuts an audit trial: regrets and epochs saved are predicted for the policy alone, compute "
            "for the policy beside ASHA)"
        )
    elif unpredicted_asha:
        print(
            "  (the prediction assumed no ASHA, and this search ran ASHA beside the policy: its compute is lower; "
            "`tune-stop recommend --asha` predicts for the policy beside ASHA)"
        )
    if len(audited) < int(block["new_configs"]):
        print(
            f"  (the intervals are for a search of {block['new_configs']} configurations; the per-curve ones are "
            f"rescaled to the audit's {count}, and its best and selected models, the best of {count}, are not "
            "compared)"
        )
    if not table.attrs.get("fired"):
        print(
            f"  (the policy fired on none of the {table.attrs.get('audit_curves', 0)} audit curves: this audit "
            "measures it only where it does nothing)"
        )
    for row in table.to_dict("records"):
        flag = {"above": "  ABOVE the interval", "below": "  BELOW the interval", "not comparable": ""}.get(
            row["side"], ""
        )
        if unpredicted_asha and row["quantity"] == "compute_used" and row["side"] == "below":
            flag = "  below the interval: ASHA cut trials the prediction did not assume"
        print(
            f"  {row['quantity']:<16} predicted {_points(row['predicted']):>6}% "
            f"[{_points(row['low'])}%, {_points(row['high'])}%]  realized {_points(row['realized']):>6}% "
            f"on {row['judged_on']}{flag}"
        )


def _calibrated_search(args: argparse.Namespace, space: Any, options: Any, overrides: dict[str, object]) -> int:
    """``search --calibrate N``: the whole loop, then one summary of it."""
    from tune_stop.calibrate import CALIBRATION_TOLERANCE, calibrate_and_search

    with _warnings_printed("note"):
        result = calibrate_and_search(
            space,
            options,
            overrides,
            calibration_configs=args.calibrate,
            audit_fraction=0.1 if args.audit_fraction is None else args.audit_fraction,
        )
    print(_format_summary(result.search))
    print(
        f"\nCalibrated search: {result.calibration.num_trials} calibration trials trained to the budget "
        f"({result.calibration.experiment_path}); "
        + (
            f"report and stoppers.yaml: {result.report}."
            if result.recommended is not None
            else f"report: {result.report} (no stoppers.yaml: no policy was chosen within the tolerance)."
        )
    )
    print(
        "Policy: "
        + (
            f"{result.recommended} (chosen by --objective search: the least compute keeping the best and "
            "selected models within 1% of full training, checked on held-out splits of the calibration's "
            "configurations; recommendations.md says why)"
            if result.recommended
            else "none within the 1% tolerance, so the search ran the space's own stoppers"
            + (
                f" (beside ASHA: ASHA alone's best-model regret reaches {result.asha_alone_high:.1%} at the upper "
                "end of its interval)"
                if result.asha_alone_high is not None
                else ""
            )
            + (
                f"; {', '.join(result.failed_check)} stayed within it on these configurations but cost the best "
                "or selected model of held-out splits more than that too often"
                if result.failed_check
                else ""
            )
            + (
                f"; the best model moves by {result.best_model_noise:.1%} from one epoch to the next by chance, "
                "more than the tolerance"
                if result.best_model_noise > CALIBRATION_TOLERANCE
                else ""
            )
        )
    )
    print(
        f"Compute used: {result.compute_used:.1%} of training the search's trials to the budget "
        f"({result.compute_with_calibration:.1%} counting the calibration)."
    )
    sign = 1.0 if space.mode == "min" else -1.0
    found: list[tuple[str, dict[str, Any]]] = [
        (part, summary.best)
        for part, summary in (("search", result.search), ("calibration", result.calibration))
        if summary.best is not None and space.metric in summary.best
    ]
    if found:
        part, best = min(found, key=lambda item: sign * float(item[1][space.metric]))
        print(
            f"Best model found: {space.metric} {float(best[space.metric]):.4g} at epoch {best.get('epoch')} of "
            f"trial {best.get('trial_id')} (config_id {best.get('config_id')}, in the {part})."
        )
    _print_audit(result.search.experiment_path)
    return _search_exit_code(result.search)


def _search_exit_code(summary: SearchSummary) -> int:
    """130 when the search was interrupted (trials left unfinished), 1 when trials failed, else 0."""
    if summary.num_trials > len(summary.stop_reasons):
        return EXIT_INTERRUPTED
    return EXIT_TRIALS_FAILED if summary.num_errors else EXIT_OK


def _cmd_search(args: argparse.Namespace) -> int:
    from search_spaces import SpaceError, load_space

    if (args.space is None) == (args.resume is None):
        raise UsageError("give a SPACE to search, or --resume EXPERIMENT to finish one (not both)")
    if args.resume is not None:
        return _cmd_resume(args)
    from tune_stop.cluster import StorageError
    from tune_stop.search import SearchOptions, experiment_path, init_ray, path_exists, run_search

    if args.full_curves and args.scheduler == "asha":
        raise UsageError("--full-curves trains every trial to its budget; drop --scheduler asha")
    if args.full_curves and args.stoppers:
        raise UsageError("--full-curves runs no stopper but the non-finite guard; drop --stoppers")
    if args.calibrate is not None and (args.full_curves or args.stoppers):
        flag = "--full-curves" if args.full_curves else "--stoppers"
        raise UsageError(f"--calibrate records whole curves and chooses the stoppers itself; drop {flag}")
    try:
        with _warnings_printed("note"):
            space = load_space(args.space).with_overrides(
                num_samples=args.num_samples, max_epochs=args.max_epochs, scheduler=args.scheduler, seed=args.seed
            )
        if args.stoppers:
            space = space.with_stoppers(Path(args.stoppers).expanduser())
            _note_same_configurations(space)
        if args.full_curves:
            space = space.full_curves()
        if args.calibrate is not None and not 2 <= args.calibrate < space.num_samples:
            raise UsageError(
                f"--calibrate must be at least 2 and below the space's {space.num_samples} samples (--num-samples), "
                f"but got --calibrate {args.calibrate}"
            )
        if args.audit_fraction and args.calibrate is None:
            if space.prediction is None:
                raise UsageError(
                    "--audit-fraction measures a recommended policy: give --stoppers with a stoppers.yaml written "
                    "by tune-stop recommend"
                )
            space = space.with_audit(args.audit_fraction)
    except SpaceError as error:
        raise UsageError(str(error)) from None
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
        _check_writable_folder(path, "--storage-path" if args.storage_path else "results folder")
    options = SearchOptions(**{**vars(options), "name": str(path).rstrip("/").rsplit("/", 1)[1]})
    init_ray(options)
    _check_resources(options.cpus_per_trial, options.gpus_per_trial)
    if args.calibrate is not None:
        return _calibrated_search(args, space, options, overrides)
    try:
        summary = run_search(space, options, overrides)
    except StorageError as error:
        raise UsageError(str(error)) from None
    print(_format_summary(summary))
    _print_audit(summary.experiment_path)
    return _search_exit_code(summary)


def _note_same_configurations(space: Any) -> None:
    """Says so when the recommendation came from a search of this space with this seed: the same draws."""
    source = (space.prediction or {}).get("source")
    if not source:
        return
    recorded = _metadata(Path(str(source)))
    if recorded.get("space") == space.name and recorded.get("seed") == space.seed:
        print(
            f"tune-stop: note: --stoppers was recommended from {source}, a search of {space.name} with seed "
            f"{space.seed}: this search draws the same configurations, so its audit judges the recommendation on "
            f"curves it was chosen on. Give --seed {space.seed + 1} (or any other) for configurations it never saw.",
            file=sys.stderr,
        )


def _audit_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _format_summary(summary: SearchSummary) -> str:
    configs = summary.num_trials // max(summary.num_folds, 1)
    lines = [
        "",
        f"tune-stop: {summary.num_trials} trials of {summary.space_name} ({configs} configurations x "
        f"{summary.num_folds} folds) in {summary.wall_time_s:.1f} s, {summary.num_errors} failed.",
        "Stop reasons: " + ", ".join(f"{reason} {count}" for reason, count in summary.reason_counts().most_common()),
    ]
    best = summary.best
    if best is not None:
        extra = ", ".join(
            f"{key} {best[key]:.4g}" for key in ("val_accuracy", "test_accuracy", "test_loss") if key in best
        )
        lines.append(
            f"Best {summary.metric}: {best[summary.metric]:.4g} at epoch {best.get('epoch')} of trial "
            f"{best.get('trial_id')} (config_id {best.get('config_id')}, fold {int(best.get('fold', 0))})"
            + (f"; {extra}" if extra else "")
        )
    unfinished = summary.num_trials - len(summary.stop_reasons)
    if unfinished > 0:
        lines.append(
            f"{unfinished} trials did not finish (interrupted?): finish them with "
            f"`tune-stop search --resume {summary.experiment_path}`"
        )
    lines.append(f"Results: {summary.experiment_path}")
    lines.append(
        "  stop reasons: stop_reasons.csv there; curves: analysis.load_experiment(<results>) "
        "(one row per trial and epoch; Ray's ExperimentAnalysis repeats the epochs a retried trial re-ran)"
    )
    lines.append(
        f"Next: `tune-stop report {summary.experiment_path}` (stop reasons, best trials); "
        f"`tune-stop recommend {summary.experiment_path}` (which stopping parameters to use next time)"
    )
    return "\n".join(lines)


def _load(source: str) -> pd.DataFrame:
    """The curves, with what loading noticed (damaged rows, disagreeing stop reasons) printed as warnings."""
    from analysis import ExperimentError, load_curves

    with _warnings_printed("warning"):
        try:
            return load_curves(source)
        except ExperimentError as error:
            raise UsageError(str(error)) from None


def _metadata(source: Path) -> dict[str, object]:
    """The experiment's ``tune-stop.json``; empty for a CSV of curves or an experiment without tune-stop."""
    from tune_stop.search import read_metadata

    try:
        return dict(read_metadata(source))
    except FileNotFoundError:  # a CSV of curves, or an experiment written without tune-stop
        return {}
    except (OSError, ValueError) as error:
        print(f"tune-stop: warning: {error}; the experiment's stopper settings are not used", file=sys.stderr)
        return {}


def _stopped_metrics(metadata: dict[str, object], curves: pd.DataFrame) -> list[tuple[str, str]] | None:
    """The default metrics present, and every metric the experiment's stoppers stopped on (None: defaults)."""
    from analysis import default_metrics

    recorded = metadata.get("stopped_metrics")
    if not isinstance(recorded, list):
        return None
    metrics = default_metrics(list(curves.columns))
    for pair in recorded:
        if isinstance(pair, list) and len(pair) == 2 and pair[0] in curves and tuple(pair) not in metrics:
            metrics.append((str(pair[0]), str(pair[1])))
    return metrics or None


def _replay_settings(metadata: dict[str, object], grace_period: int | None) -> dict[str, dict[str, dict[str, object]]]:
    """The stoppers' fixed arguments to replay with: the experiment's own, ``--grace-period`` on top."""
    from tune_stop.stoppers import FAMILIES

    recorded = metadata.get("replay_settings")
    settings: dict[str, dict[str, dict[str, object]]] = {}
    if isinstance(recorded, dict):  # experiments recorded before replay settings existed have none
        for family, per_metric in recorded.items():
            if family in FAMILIES and isinstance(per_metric, dict):
                settings[family] = {str(m): dict(a) for m, a in per_metric.items() if isinstance(a, dict)}
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


def _cmd_recommend(args: argparse.Namespace) -> int:

    from analysis import RECOMMENDATION_COLUMNS, analyse, infer_mode, write_report
    from tune_stop.stoppers import FAMILIES

    if args.policy != "all" and args.policy not in FAMILIES:
        raise UsageError(f"--policy must be one of {', '.join(FAMILIES)} or all, but got --policy {args.policy}")
    source = Path(args.experiment).expanduser().resolve()
    out = Path(args.out).expanduser().resolve() if args.out else Path.cwd() / f"{source.stem}-report"
    if source.is_dir() and (out == source or source in out.parents):
        raise UsageError(f"--out {out} is inside the experiment folder; reports never write there")
    _check_writable_folder(out, "--out")
    curves = _load(str(source))
    metadata = _metadata(source)
    metrics = (
        [(m, args.mode or infer_mode(m)) for m in args.metric] if args.metric else _stopped_metrics(metadata, curves)
    )
    families = tuple(FAMILIES) if args.policy == "all" else (args.policy,)
    settings = _replay_settings(metadata, args.grace_period)
    objective = args.objective
    if objective == "auto":
        objective = "search" if _whole_curves(curves) else "tolerance"
        why = "every curve ran its whole budget" if objective == "search" else "some curves were cut short"
        chosen_by = f"Objective: {objective} ({why}; --objective chooses)."
    else:
        chosen_by = f"Objective: {objective}."
    asha = _recorded_asha(metadata, args.asha_workers) if args.asha else None
    selected_by = str(metadata.get("metric", ""))
    selection = (selected_by, str(metadata.get("mode") or infer_mode(selected_by))) if selected_by in curves else None
    with _warnings_printed("warning"):
        try:
            analysis = analyse(
                curves,
                metrics=metrics,
                target=args.target,
                target_mode=args.target_mode,
                families=families,
                tolerance=args.tolerance,
                objective=objective,
                selection=selection,
                asha=asha,
                penalty=0.05 if args.penalty is None else args.penalty,
                settings=settings,
                interval=args.interval,
                new_configs=args.new_configs,
            )
        except ValueError as error:
            raise UsageError(str(error)) from None
    _note_doubtful_flags(args, objective, curves)
    try:
        written = write_report(analysis, out, tolerance=args.tolerance, source=str(source))
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write the report ({error.strerror or error})") from None
    import pandas as pd

    shown = [
        column
        for column in RECOMMENDATION_COLUMNS
        if column.startswith(("regret", "epochs_saved"))
        or column in ("policy", "metric", "parameter", "recommended", "cv_within_tolerance", "n_censored", "kind")
        or column in ("best_regret", "best_regret_high", "selected_regret_high", "compute_used")
    ]
    print(chosen_by if asha is None else f"{chosen_by} Beside {asha.describe()}, replayed on the curves.")
    print(
        f"Intervals ({analysis.interval:.0%}): mean regret and epochs saved, and the best and selected models' "
        f"regret and compute used, of a new search of {analysis.new_configs} configurations; held out: "
        f"{analysis.split.describe() if analysis.split is not None else 'nothing'}."
    )
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        table = analysis.recommendations[shown].round(4)
        numeric = table.select_dtypes("number").columns
        table[numeric] = table[numeric] + 0.0  # no -0.0 where a regret rounds to nothing
        print(table.to_string(index=False))
    ceiling = analysis.ceiling
    if ceiling is not None and ceiling.n_curves:
        print(
            f"Ceiling: no stopping rule saves more than {ceiling.epochs_saved:.1%} of the epochs of these "
            f"{ceiling.n_curves} complete curves at a mean per-curve regret within the {ceiling.tolerance:.1%} "
            "tolerance (hindsight bound; the best model alone can allow more)."
        )
    print(f"Report: {out} ({', '.join(p.name for p in written)})")
    recommendation = analysis.recommended()
    if recommendation is not None:
        print(
            f"Recommended: {recommendation.row['description']} ({recommendation.row['policy']} on "
            f"{recommendation.row['metric']}). Run it: tune-stop search SPACE --stoppers {out / 'stoppers.yaml'}"
        )
    else:
        print("Recommended: no policy saves epochs within the tolerance, so no stoppers.yaml (see recommendations.md).")
    return EXIT_OK


def _note_doubtful_flags(args: argparse.Namespace, objective: str, curves: pd.DataFrame) -> None:
    """One note per flag value that is valid but probably not what was meant."""
    from analysis import infer_mode

    notes = []
    if args.tolerance >= 1:
        notes.append(
            f"--tolerance {args.tolerance:g} allows a regret of {args.tolerance:.0%}: it is a share (0.02 is 2%)"
        )
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


def _recorded_asha(metadata: dict[str, object], workers: int) -> AshaSpec:
    """The ASHA the experiment's space runs, from its metadata."""
    from analysis import AshaSpec

    scheduler = metadata.get("replayed_scheduler")
    if not isinstance(scheduler, dict) or scheduler.get("name") != "asha":
        raise UsageError(
            "--asha: the experiment records no ASHA scheduler (a CSV, an experiment written without tune-stop or "
            "by an older one, or a space that runs FIFO)"
        )
    try:
        return AshaSpec(
            str(metadata["metric"]),
            str(metadata["mode"]),
            grace_period=int(scheduler.get("grace_period", 1)),
            reduction_factor=float(scheduler.get("reduction_factor", 3)),
            max_t=int(scheduler["max_t"]) if "max_t" in scheduler else None,
            workers=workers,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise UsageError(f"--asha: the experiment's recorded scheduler {scheduler} is unusable ({error})") from None


def _whole_curves(curves: pd.DataFrame) -> bool:
    """Whether every curve ran its whole epoch budget (its last epoch reaches ``config/max_epochs``)."""
    from analysis import CurveSet

    try:
        return bool(CurveSet.from_frame(curves).complete.all())
    except ValueError:
        return False  # analyse names what is wrong with the curves


def _cmd_report(args: argparse.Namespace) -> int:
    import pandas as pd

    from analysis import infer_mode

    curves = _load(args.experiment)
    recorded = _metadata(Path(args.experiment).expanduser().resolve())
    if args.metric is None:
        args.metric = str(recorded.get("metric", "val_loss"))
        args.mode = args.mode or recorded.get("mode")
    if args.metric not in curves:
        reported = ", ".join(c for c in curves.columns if not str(c).startswith("config/"))
        raise UsageError(f"metric {args.metric!r} is not in the curves; give --metric, one of: {reported}")
    mode = args.mode or infer_mode(args.metric)
    sign = 1.0 if mode == "min" else -1.0
    ranked = curves.assign(_score=sign * pd.to_numeric(curves[args.metric], errors="coerce"))
    per_trial = ranked.loc[ranked.groupby("trial_id")["_score"].idxmin().dropna()]
    reasons = [c for c in ("stop_reason", "stop_epoch") if c in per_trial]
    trials = per_trial[["trial_id", "config_id", "fold", *reasons, "epoch", args.metric]].rename(
        columns={"epoch": "best_epoch", args.metric: f"best_{args.metric}"}
    )
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(f"Trials ({len(trials)}), best {args.metric} ({mode}) of each:")
        print(trials.sort_values(["config_id", "fold"]).to_string(index=False))
        if "stop_reason" in per_trial:
            counts = per_trial["stop_reason"].fillna("unknown").value_counts()
            print("\nStop reasons: " + ", ".join(f"{reason} {count}" for reason, count in counts.items()))
        print(f"\nBest {args.top} trials by {args.metric}:")
        print(trials.sort_values(f"best_{args.metric}", ascending=mode == "min").head(args.top).to_string(index=False))
    _print_audit(Path(args.experiment).expanduser().resolve())
    return EXIT_OK


@contextlib.contextmanager
def _warnings_printed(label: str) -> Iterator[None]:
    """Prints the ``UserWarning``s of a block that ends normally as ``tune-stop: <label>: ...`` lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        yield
    # Each notice once: an analysis beside ASHA runs the same analysis without it, which warns again.
    messages = dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, UserWarning))
    for message in messages:
        print(f"tune-stop: {label}: {message}", file=sys.stderr)


@contextlib.contextmanager
def _output_settings_restored() -> Iterator[None]:
    """Puts back what :func:`_output` changes (Ray's output engine and log levels) when a command ends."""
    saved_env = os.environ.get("RAY_AIR_NEW_OUTPUT")
    loggers = [logging.getLogger(name) for name in ("ray.tune", "ray.train")]
    saved_levels = [logger.level for logger in loggers]
    try:
        yield
    finally:
        if saved_env is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = saved_env
        for logger, level in zip(loggers, saved_levels, strict=True):
            logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tune-stop`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with _output_settings_restored():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Runs the parsed command; bad input and Ctrl-C become one line and an exit code."""
    try:
        if args.command == "spaces":
            return _cmd_spaces()
        if args.command == "recommend":
            return _cmd_recommend(args)
        if args.command == "report":
            return _cmd_report(args)
        return _cmd_search(args)
    except UsageError as error:
        print(f"tune-stop: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except FileExistsError as error:
        print(f"tune-stop: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("tune-stop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
