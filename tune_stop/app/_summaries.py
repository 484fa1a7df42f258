"""What a search prints when it ends: its summary, the calibrated loop's, and predicted against realized."""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tune_stop._count import counted
from tune_stop.app._shared import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TRIALS_FAILED,
    UsageError,
    read_record_or_none,
    warnings_printed,
)
from tune_stop.defaults import DEFAULT_AUDIT_FRACTION
from tune_stop.experiment import is_uri
from tune_stop.stoppers import mode_sign

if TYPE_CHECKING:
    from tune_stop.app.search import SearchSummary

__all__ = ["calibrated_search", "format_summary", "print_audit", "search_exit_code"]


def format_summary(summary: SearchSummary) -> str:
    configs = summary.num_trials // max(summary.num_folds, 1)
    lines = [
        "",
        f"tune-stop: {counted(summary.num_trials, 'trial')} of {summary.space_name} "
        f"({counted(configs, 'configuration')} x {counted(summary.num_folds, 'fold')}) in {summary.wall_time_s:.1f} s, "
        f"{summary.num_errors} failed.",
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
            + kept_snapshot(best)
        )
    unfinished = summary.num_trials - len(summary.stop_reasons)
    if unfinished > 0:
        lines.append(
            f"{counted(unfinished, 'trial')} did not finish (interrupted?): finish them with "
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


def search_exit_code(summary: SearchSummary) -> int:
    """130 when the search was interrupted (trials left unfinished), 1 when trials failed, else 0."""
    if summary.num_trials > len(summary.stop_reasons):
        return EXIT_INTERRUPTED
    return EXIT_TRIALS_FAILED if summary.num_errors else EXIT_OK


def _points(share: float) -> str:
    """A share in percentage points with 2 decimals, never ``-0.00``."""
    return f"{round(100 * share, 2) + 0.0:.2f}"


def _points_scale(block: dict[str, Any]) -> float | None:
    """The one number a prediction made with a tolerance in points (``--tolerance-points``/``--tolerance-sd``)
    states its regrets as shares of, else None."""
    if block.get("tolerance_points") is None or block.get("regret_scale") is None:
        return None
    return float(block["regret_scale"])


def _audited(quantity: str, scale: float | None, share: float) -> str:
    """An audit figure: a regret in the target's points where the prediction was made in points, else in %."""
    if scale is not None and quantity.endswith("regret"):
        from analysis._format import regret

        return f"{regret(share, scale)} pts"
    return f"{_points(share)}%"


def print_audit(experiment: Path | str) -> None:
    """Predicted against realized on the experiment's audit trials, each realized value outside flagged."""
    from analysis import audit_table, load_experiment

    record = read_record_or_none(experiment) if not is_uri(experiment) else None
    if record is None or not record.audited_configs or not record.prediction:
        return
    try:
        table = audit_table(load_experiment(experiment), record)
    except ValueError as error:
        print(f"tune-stop: warning: no audit comparison: {error}", file=sys.stderr)
        return
    if table is None:
        return
    block, audited = record.prediction, record.audited_configs
    count = f"{len(audited)} configuration{'s' if len(audited) != 1 else ''}"
    print(
        f"\nAudit: {count} trained to the budget. Predicted by tune-stop recommend "
        f"({float(block['interval']):.0%} intervals, for {block['new_configs']} configurations) against realized "
        "in this search:"
    )
    unpredicted_asha = block.get("asha") is None and record.runs_asha
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
        quantity = str(row["quantity"])
        said = functools.partial(_audited, quantity, _points_scale(block))
        print(
            f"  {quantity:<16} predicted {said(row['predicted']):>7} [{said(row['low'])}, {said(row['high'])}]  "
            f"realized {said(row['realized']):>7} on {row['judged_on']}{flag}"
        )


def kept_snapshot(best: dict[str, Any]) -> str:
    """Where the best trial kept its best snapshot (a GAN's generator and sample grid), or nothing."""
    kept, trial = best.get("kept_epoch"), best.get("trial_path")
    if trial is None or not isinstance(kept, (int, float)) or not kept >= 1:
        return ""  # no trainable that keeps snapshots (the perceptron's results have no kept_epoch)
    from tune_stop.trainables.gan import KEPT_FOLDER, KEPT_GENERATOR, KEPT_SAMPLES

    if not is_uri(str(trial)) and not (Path(trial) / KEPT_FOLDER / KEPT_GENERATOR).is_file():
        return ""  # not synced to the storage path (a trial that failed before its next checkpoint)
    folder = f"{trial}/{KEPT_FOLDER}/"
    return f"; its best snapshot by fid, epoch {int(kept)}: {folder} ({KEPT_GENERATOR}, {KEPT_SAMPLES})"


def calibrated_search(args: argparse.Namespace, space: Any, options: Any, overrides: dict[str, object]) -> int:
    """``search --calibrate N``: the whole loop, then one summary of it."""
    from tune_stop.app._remedies import cli_message
    from tune_stop.app.calibrate import CALIBRATION_TOLERANCE, CannotChoose, LoopInterrupted, calibrate_and_search

    try:
        with warnings_printed("note"):
            result = calibrate_and_search(
                space,
                options,
                overrides,
                calibration_configs=args.calibrate,
                audit_fraction=DEFAULT_AUDIT_FRACTION if args.audit_fraction is None else args.audit_fraction,
                keep_scheduler=args.scheduler is not None,
                tolerance=CALIBRATION_TOLERANCE if args.tolerance is None else args.tolerance,
                tolerance_points=args.tolerance_points,
                tolerance_sd=args.tolerance_sd,
                default_sds=getattr(args, "default_sds", None),
            )
    except CannotChoose as cannot:
        raise UsageError(f"{cli_message(cannot.error)} (the calibration is kept: run again to continue)") from None
    except LoopInterrupted as interrupted:
        print(format_summary(interrupted.summary))
        print("The loop stopped there: run the same command again to continue where it stopped.")
        return EXIT_INTERRUPTED
    print(format_summary(result.search))
    written = ["report"]
    written += ["configuration.yaml"] if result.configuration is not None else []
    written += ["stoppers.yaml"] if result.recommended is not None else []
    print(
        f"\nCalibrated search: {result.calibration.num_trials} calibration trials trained to the budget "
        f"({result.calibration.experiment_path}); "
        + (
            f"{', '.join(written[:-1])} and {written[-1]}: {result.report}."
            if len(written) > 1
            else f"report: {result.report} (no stoppers.yaml: no policy was chosen within the tolerance)."
        )
    )
    if result.points_line is not None:
        print(result.points_line)
    # The tolerance as the user gave it, and measured regrets so too: in the target's points with --tolerance-points.
    said = result.in_points or (lambda share: f"{100 * share:g}%")
    amount = result.in_points or (lambda share: f"{share:.1%}")
    if result.configuration is not None:
        described, paragraph = result.configuration
        print(f"Ran: {described}, the stopping configuration chosen on the calibration.")
        print(paragraph)
    print(
        ("Per-trial policy (recommendations.md; not what this search ran): " if result.configuration else "Policy: ")
        + (
            f"{result.recommended} (chosen by --objective search: the least compute keeping the best and "
            f"selected models within {said(result.tolerance)} of full training, checked on held-out splits of the "
            "calibration's "
            "configurations; recommendations.md says why)"
            if result.recommended
            else f"none within the {said(result.tolerance)} tolerance"
            + (", so the search ran the space's own stoppers" if result.configuration is None else "")
            + (
                f" (beside ASHA: ASHA alone's best-model regret reaches {amount(result.asha_alone_high)} at the upper "
                "end of its interval)"
                if result.asha_alone_high is not None and result.configuration is None  # else judged beside it
                else ""
            )
            + (
                f"; {', '.join(result.failed_check)} stayed within it on these configurations but cost the best "
                "or selected model of held-out splits more than that too often"
                if result.failed_check
                else ""
            )
            + (
                f"; the best model moves by {amount(result.best_model_noise)} from one epoch to the next by chance, "
                "more than the tolerance"
                if result.best_model_noise > result.tolerance
                else ""
            )
        )
    )
    print(
        f"Compute used: {result.compute_used:.1%} of training the search's trials to the budget "
        f"({result.compute_with_calibration:.1%} counting the calibration)."
    )
    sign = mode_sign(space.mode)
    found: list[tuple[str, dict[str, Any]]] = [
        (part, summary.best)
        for part, summary in (("search", result.search), ("calibration", result.calibration))
        if summary.best is not None and space.metric in summary.best
    ]
    if found:
        part, best = min(found, key=lambda item: sign * float(item[1][space.metric]))
        print(
            f"Best model found: {space.metric} {float(best[space.metric]):.4g} at epoch {best.get('epoch')} of "
            f"trial {best.get('trial_id')} (config_id {best.get('config_id')}, in the {part})"
            + kept_snapshot(best)
            + "."
        )
    print_audit(result.search.experiment_path)
    return search_exit_code(result.search)
