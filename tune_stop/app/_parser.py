"""The command line's grammar: every command, flag and help text, and the types that check the values."""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from typing import Any, NoReturn

from tune_stop.app._shared import EXIT_USAGE
from tune_stop.defaults import (
    DEFAULT_AUDIT_FRACTION,
    DEFAULT_INTERVAL,
    DEFAULT_PENALTY,
    DEFAULT_TOLERANCE,
    DEFAULT_TOLERANCE_SD,
)

__all__ = ["build_parser"]


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


def _audit_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``tune-stop`` parser with its commands: ``search``, ``spaces``, ``recommend``, ``report``."""
    parser = _Parser(prog="tune-stop", description="Search early-stopping policies with Ray Tune.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_search(commands.add_parser("search", help="run a search space with Ray Tune"))
    commands.add_parser("spaces", help="list the built-in search spaces")
    _add_recommend(commands)
    _add_report(commands)
    return parser


def _add_tolerances(
    command: argparse.ArgumentParser, tolerance_help: str, points_help: str, default: float | None = None
) -> None:
    """``--tolerance`` (relative, >= 0), ``--tolerance-points`` (in the target's own units, > 0) or
    ``--tolerance-sd`` (in SDs of the target's estimator, > 0): one of them."""
    tolerances = command.add_mutually_exclusive_group()
    tolerances.add_argument("--tolerance", type=_number(float, 0), default=default, help=tolerance_help)
    tolerances.add_argument(
        "--tolerance-points", type=_number(float, 0, inclusive=False), metavar="POINTS", help=points_help
    )
    tolerances.add_argument(
        "--tolerance-sd",
        type=_number(float, 0, inclusive=False),
        metavar="K",
        help="as --tolerance-points, with K times the estimator's own SD at the best model as the points (a "
        "<metric>_sd column of the target or the search's metric: a GAN's fid_sd)",
    )


def _add_search(search: argparse.ArgumentParser) -> None:
    search.add_argument("space", nargs="?", help="a built-in space (see `tune-stop spaces`) or a .yaml/.toml file")
    search.add_argument("--resume", metavar="EXPERIMENT", help="finish an interrupted search (instead of SPACE)")
    search.add_argument("--num-samples", type=_number(int, 1), help="configurations to sample")
    search.add_argument("--max-epochs", type=_number(int, 1), help="epoch budget of every trial (and ASHA's max_t)")
    search.add_argument("--scheduler", choices=("asha", "median", "fifo"), help="override the space's scheduler")
    search.add_argument(
        "--full-curves",
        action="store_true",
        help="train every trial to its budget (FIFO, only the non-finite guard) to record "
        "whole curves for `tune-stop recommend`",
    )
    search.add_argument(
        "--stoppers",
        metavar="FILE",
        help="run the stoppers of FILE instead of the space's: a stoppers.yaml or configuration.yaml from "
        "`tune-stop recommend` or any YAML/TOML file with a stoppers: list; a scheduler: entry in FILE replaces the "
        "space's scheduler",
    )
    search.add_argument(
        "--calibrate",
        type=_number(int, 2),
        metavar="N",
        help="one command for the whole loop: train N of the samples to the budget, judge the stopping "
        "configurations and per-trial policies on them, run the rest with the chosen configuration (its scheduler "
        "replaces the space's; with N < 4, --scheduler, or a choice to train everything, the recommended stoppers "
        "beside the space's scheduler and "
        "audit trials, "
        f"default --audit-fraction {DEFAULT_AUDIT_FRACTION:g}, predicted against realized); run it again to "
        "continue after an interrupt",
    )
    _add_tolerances(
        search,
        "with --calibrate: the largest relative loss of the best and selected models the stopping is chosen "
        f"within (default {DEFAULT_TOLERANCE:g} = {DEFAULT_TOLERANCE:.0%}%; for a GAN space --tolerance-sd "
        f"{DEFAULT_TOLERANCE_SD:g}: its FID moves more, see docs/gan.md)",
        "with --calibrate, instead of --tolerance: the largest loss in the target's own units (e.g. 3 FID points), "
        "as tune-stop recommend --tolerance-points takes it",
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
    search.add_argument(
        "--cpus-per-trial",
        type=_number(float, 0, inclusive=False),
        default=1.0,
        help="CPUs each trial reserves (default 1; a fraction packs more trials on a node)",
    )
    search.add_argument(
        "--gpus-per-trial",
        type=_number(float, 0),
        default=0.0,
        help="GPUs each trial reserves (default 0; e.g. 0.25 puts four trials on one GPU)",
    )
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


def _add_recommend(commands: Any) -> None:
    recommend = commands.add_parser(
        "recommend",
        help="recommend stopping parameters for the next search, with prediction intervals",
        description="Replays every stopping policy on recorded curves and recommends each one's parameter for "
        "the next search. EXPERIMENT is a Ray Tune experiment folder (tune-stop's or any other) or a CSV of "
        "curves, one row per (trial, epoch), with the columns trial_id, epoch (or Ray's training_iteration), "
        "the metrics (e.g. val_loss) and the target (e.g. test_accuracy); optional: config_id (the folds of one "
        "configuration share it), fold, config/max_epochs (the epoch budget; default: the longest curve) and "
        "config/<key> columns. A folder of Lightning CSVLogger or TensorBoard runs and Keras CSVLogger files "
        "(one per run) are read too, their epochs counted from 0.",
    )
    recommend.add_argument(
        "experiment",
        help="a Ray Tune experiment folder, a CSV of curves, or a folder of Lightning/Keras/TensorBoard logs",
    )
    recommend.add_argument(
        "--metric",
        action="append",
        help="metric to stop on (repeatable; default: val_loss, val_accuracy, fid present)",
    )
    recommend.add_argument(
        "--mode", choices=("min", "max"), help="direction of --metric (default: max for accuracies, else min)"
    )
    recommend.add_argument(
        "--target", help="quality judged at the stop epoch (default: test_accuracy, else fid_test, else fid)"
    )
    recommend.add_argument("--target-mode", choices=("min", "max"), help="direction of --target (default: inferred)")
    # Checked against the family registry when the command runs, so --help needs no Ray import.
    recommend.add_argument(
        "--policy", default="all", help="policy family to tune (see docs/stoppers.md), or all (default)"
    )
    recommend.add_argument(
        "--grace-period",
        type=_number(int, 0),
        help="leading epochs that threshold and patience ignore, on every metric "
        "(default: the experiment's stoppers' grace_period, else 0)",
    )
    _add_tolerances(
        recommend,
        f"largest relative regret, met by the upper end of its interval (default {DEFAULT_TOLERANCE:g} = "
        f"{DEFAULT_TOLERANCE:.0%}%; on curves that carry their estimator's SD, a GAN's fid_sd, the default is "
        f"--tolerance-sd {DEFAULT_TOLERANCE_SD:g})",
        "instead of --tolerance: the largest loss in the target's own units (e.g. 2 FID points); every regret is "
        "then a loss in those units divided by the best model's target trained to the budget here",
    )
    recommend.add_argument(
        "--interval",
        type=_level,
        default=DEFAULT_INTERVAL,
        help=f"level of the prediction intervals (default {DEFAULT_INTERVAL:g})",
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
        help=f"weight of epochs saved for --objective tradeoff (default {DEFAULT_PENALTY:g})",
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
    recommend.add_argument(
        "--configurations",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="judge whole stopping configurations (ASHA, the median rule, patience, alone and together) on "
        "simulated searches made of halves and quarters of these configurations (at most 200 and 100; the risk "
        "it states is for searches that large; --new-configs plays no part); writes configurations.csv and "
        "configuration.yaml (none when the choice is to train everything). Default: whenever the curves allow "
        "it (whole curves of at least 4 configurations, each with several folds by config_id; otherwise it says "
        "why); --configurations insists (an error where they do not allow it); --no-configurations skips them",
    )
    recommend.add_argument(
        "--concurrency",
        type=_number(int, 1),
        default=4,
        help="trials the next search runs at once, for the stopping configurations (default 4)",
    )
    recommend.add_argument(
        "--keep-best",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="judge each stop by the best snapshot up to it (the epoch with the best selection metric, as a user "
        "who keeps the best checkpoint gets; training everything keeps its best too) rather than the model at the "
        "stop (default: on when the target is a GAN's fid_test or fid, off otherwise)",
    )
    recommend.add_argument("--out", help="report folder (default ./<experiment>-report); never inside the experiment")
    _add_retried_trials(recommend)


def _add_report(commands: Any) -> None:
    report = commands.add_parser("report", help="print per-trial stop reasons and the best trials")
    report.add_argument("experiment", help="a tune-stop experiment folder")
    report.add_argument(
        "--metric", help="metric that ranks the trials (default: the experiment's own metric, else val_loss)"
    )
    report.add_argument("--mode", choices=("min", "max"), help="direction of --metric (default: inferred)")
    report.add_argument("--top", type=_number(int, 1), default=5, help="best trials to show")
    _add_retried_trials(report)


def _add_retried_trials(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--retried-trials",
        action="store_true",
        help="a CSV of curves holds trials retried from checkpoints: an epoch reported again replaces the earlier "
        "report and drops the epochs after it (without this flag a repeated epoch is an error)",
    )
