"""``tune-stop recommend --configurations``: whole stopping configurations judged, printed and written."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tune_stop.app._shared import UsageError

if TYPE_CHECKING:
    from analysis import Analysis, ConfigurationChoice
    from tune_stop.experiment import ExperimentRecord

__all__ = ["report_configurations"]

#: Peers printed beside the chosen configuration: Ray's ASHA at its defaults, and its median rule.
_PEERS = (
    ({"name": "asha", "grace_period": 1, "reduction_factor": 4.0}, "Ray's default ASHA (grace 1, rf 4)"),
    ({"name": "median", "grace_period": 3, "min_samples_required": 3}, "the median rule (grace 3)"),
)


def report_configurations(
    analysis: Analysis, record: ExperimentRecord | None, out: Path, source: str, workers: int
) -> ConfigurationChoice:
    """Judges the stopping configurations, writes ``configurations.csv`` and ``configuration.yaml``, prints them."""
    from analysis import StoppingConfig, judge_configurations
    from analysis._usage import CONFIGURATION_FILE, configuration_yaml

    scheduler = record.replayed_scheduler if record is not None else None
    try:
        choice = judge_configurations(analysis, workers=workers, scheduler=scheduler)
    except ValueError as error:
        raise UsageError(f"--configurations: {error}") from None
    table = choice.table.copy()
    table["scheduler"] = table["scheduler"].map(str)
    try:
        table.to_csv(out / "configurations.csv", index=False)
        target = out / CONFIGURATION_FILE
        if choice.answer is not None:
            policy = choice.answer.policy
            metrics = [analysis.selection[0], *([policy.metric] if policy is not None else [])]
            target.write_text(configuration_yaml(choice, metrics, source))
        elif target.exists():
            target.unlink()  # an older answer must not pass for this one
    except OSError as error:
        raise UsageError(f"--out {out}: cannot write the configurations ({error.strerror or error})") from None
    head = (
        f"Stopping configurations: {len(choice.configs)} judged on {choice.draws} simulated next searches "
        f"({choice.new_configs} configurations each, {choice.workers} at once, random orders)"
    )
    peers = []
    for entry, name in (*_PEERS, *([(dict(scheduler), "the space's scheduler")] if scheduler else [])):
        row = choice.row(StoppingConfig(entry))
        if row is not None:
            peers.append(f"{name} {row['compute_used']:.1%} (lost > tolerance in {row['exceeded']:.0%})")
    if choice.answer is None or choice.chosen is None:
        print(f"{head}: none kept the models within the tolerance in {1 - choice.risk:.0%} of them.")
        return choice
    chosen = choice.table.iloc[choice.chosen]
    risk = choice.stated_risk
    beyond = (
        f", more than the {choice.risk:.0%} asked: a trade-off, not a safe answer" if risk > choice.risk + 1e-12 else ""
    )
    held = (
        f"{choice.held_out_exceeded:.0%} of held-out halves"
        if choice.held_out_splits
        else "no held-out halves: fewer than 8 configurations"
    )
    print(
        f"{head}: {choice.answer.describe()} uses {chosen['compute_used']:.1%} of full training; "
        f"risk {risk:.0%} that the next search's best or selected model loses more than the "
        f"{choice.tolerance:.1%} tolerance ({chosen['exceeded']:.0%} of these searches, {held}{beyond}). Beside it: "
        + "; ".join(peers)
        + f". Run it: tune-stop search SPACE --stoppers {out / CONFIGURATION_FILE}"
    )
    return choice
