"""A recommendation as the objects a user's own ``tune.Tuner`` runs: ``load_stopping("configuration.yaml")``.

``tune-stop recommend`` writes ``stoppers.yaml`` (a per-trial rule behind a non-finite guard)
and, where whole configurations were judged, ``configuration.yaml`` (a scheduler and the stoppers beside
it). ``tune-stop search --stoppers FILE`` runs either; in your own code::

    from ray import tune
    from tune_stop.stopping import load_stopping

    stopping = load_stopping("report/configuration.yaml", max_epochs=40)
    tuner = tune.Tuner(
        trainable,
        param_space=...,
        tune_config=tune.TuneConfig(metric="val_loss", mode="min", scheduler=stopping.scheduler),
        run_config=tune.RunConfig(stop=stopping.stopper),
    )

The scheduler compares trials on ``epoch`` (report it every epoch) and on the Tuner's
metric and mode. A per-trial rule alone (patience, or a fixed threshold) also runs in
Lightning or Keras: ``EarlyStopping(**stopping.lightning())``,
``keras.callbacks.EarlyStopping(**stopping.keras())``. A file without a ``scheduler:`` entry (a ``stoppers.yaml`` judged
without one) gives FIFO here, while ``tune-stop search --stoppers`` keeps the space's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from ray.tune import Stopper
from ray.tune.schedulers import TrialScheduler
from ray.tune.stopper import NoopStopper

from tune_stop._yaml import parse_yaml
from tune_stop.schedulers import build_scheduler
from tune_stop.stoppers import POLICIES, AnyStopper, EarlyStopping, early_stopping

__all__ = ["Stopping", "load_stopping"]


@dataclass(frozen=True)
class Stopping:
    """What a ``tune.Tuner`` needs to run a recommended stopping configuration.

    Attributes:
        scheduler: For ``tune.TuneConfig(scheduler=...)``.
        stopper: For ``tune.RunConfig(stop=...)``: every stopper of the file, the first to fire stops.
        entries: The file's ``scheduler:`` entry and ``stoppers:`` list, as read.
    """

    scheduler: TrialScheduler
    stopper: Stopper
    entries: dict[str, Any]

    def early_stopping(self) -> EarlyStopping:
        """The file's per-trial rule as Lightning's and Keras' ``EarlyStopping`` arguments, with where they differ.

        Raises:
            ValueError: If the file runs a scheduler (it compares trials, which a callback in one
                training run cannot) or holds other than one rule beside the non-finite guard.
        """
        name = self.entries["scheduler"].get("name", "fifo")
        if name != "fifo":
            raise ValueError(
                f"this configuration runs the {name} scheduler, which compares trials: Lightning's and Keras' "
                "EarlyStopping watch one run; run it in a tune.Tuner with .scheduler and .stopper"
            )
        rules = [entry for entry in self.entries["stoppers"] if entry.get("policy") != "non_finite"]
        if len(rules) != 1:
            raise ValueError(f"EarlyStopping runs one rule; this file holds {len(rules)} beside the non-finite guard")
        return early_stopping(rules[0])

    def lightning(self) -> dict[str, Any]:
        """Keyword arguments of ``pytorch_lightning.callbacks.EarlyStopping`` that stop at the same epoch.

        Raises:
            ValueError: As :meth:`early_stopping`, or where Lightning has no such rule or lacks one of its
                settings (a grace period, a baseline), so it would stop at another epoch.
        """
        arguments = self.early_stopping()
        missing = [note for note in arguments.notes if note.startswith("Lightning has no")]
        if arguments.lightning is None or missing:  # without a grace period or baseline it would stop elsewhere
            raise ValueError(f"Lightning cannot run this rule: {'; '.join(missing or arguments.notes)}")
        return dict(arguments.lightning)

    def keras(self) -> dict[str, Any]:
        """Keyword arguments of ``keras.callbacks.EarlyStopping`` that stop at the same epoch.

        Raises:
            ValueError: As :meth:`early_stopping`, or where Keras has no such rule (a threshold).
        """
        arguments = self.early_stopping()
        if arguments.keras is None:
            raise ValueError(f"Keras cannot run this rule: {'; '.join(arguments.notes)}")
        return dict(arguments.keras)


def load_stopping(path: str | Path, *, max_epochs: int) -> Stopping:
    """The scheduler and stopper of a ``stoppers.yaml`` or ``configuration.yaml``.

    Args:
        path: The file ``tune-stop recommend`` wrote (or any YAML file with a ``stoppers:`` list
            of fixed values and, optionally, a ``scheduler:`` entry).
        max_epochs: The epoch budget of your trials (ASHA's ``max_t`` unless the file gives one).

    Raises:
        ValueError: Naming the file and what is wrong in it.
    """
    path = Path(path)
    try:
        data = parse_yaml(path.read_text())  # YAML 1.2's numbers: threshold: 1e-3 is a number
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: cannot read it ({error})") from None
    if not isinstance(data, dict) or not isinstance(data.get("stoppers"), list):
        raise ValueError(f"{path}: stoppers: is required, a list of stopping policies")
    scheduler_entry = data.get("scheduler", {"name": "fifo"})
    if not isinstance(scheduler_entry, dict):
        raise ValueError(f"{path}: scheduler: must be a mapping such as {{name: asha, grace_period: 2}}")
    stoppers = []
    for index, entry in enumerate(data["stoppers"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("policy"), str) or entry["policy"] not in POLICIES:
            raise ValueError(f"{path}: stoppers[{index}]: policy must be one of {', '.join(sorted(POLICIES))}")
        arguments = {key: value for key, value in entry.items() if key != "policy"}
        try:
            stoppers.append(POLICIES[entry["policy"]](**arguments))
        except (TypeError, ValueError, AssertionError) as error:
            raise ValueError(f"{path}: stoppers[{index}]: {error}") from None
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise ValueError(f"max_epochs must be an integer >= 1, but got {max_epochs!r}")
    try:
        scheduler = build_scheduler(scheduler_entry, max_epochs)
    except (TypeError, ValueError, AssertionError) as error:
        raise ValueError(f"{path}: scheduler: {error}") from None
    stopper: Stopper = AnyStopper(*stoppers) if stoppers else NoopStopper()
    return Stopping(scheduler, stopper, {"scheduler": scheduler_entry, "stoppers": data["stoppers"]})
