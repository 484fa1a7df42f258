"""``tune-stop report``: per-trial stop reasons and the best trials of an experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from tune_stop._count import counted
from tune_stop.app._shared import EXIT_OK, UsageError, load_curves_or_exit, read_record_or_none
from tune_stop.app._summaries import print_audit
from tune_stop.stoppers import mode_sign

__all__ = ["run_report_command"]


def run_report_command(args: argparse.Namespace) -> int:
    """``tune-stop report``: each trial's stop reason and best epoch, the best trials, and the audit."""
    import pandas as pd

    from analysis import infer_mode

    curves = load_curves_or_exit(args.experiment, retried_trials=args.retried_trials)
    recorded = read_record_or_none(Path(args.experiment).expanduser().resolve())
    if args.metric is None:
        args.metric = recorded.metric if recorded is not None else "val_loss"
        args.mode = args.mode or (recorded.mode if recorded is not None else None)
    if args.metric not in curves:
        reported = ", ".join(c for c in curves.columns if not str(c).startswith("config/"))
        raise UsageError(f"metric {args.metric!r} is not in the curves; give --metric, one of: {reported}")
    mode = args.mode or infer_mode(args.metric)
    sign = mode_sign(mode)
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
        print(f"\nBest {counted(args.top, 'trial')} by {args.metric}:")
        print(trials.sort_values(f"best_{args.metric}", ascending=mode == "min").head(args.top).to_string(index=False))
    print_audit(Path(args.experiment).expanduser().resolve())
    return EXIT_OK
