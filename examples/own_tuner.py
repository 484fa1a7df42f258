"""tune-stop's stoppers, scheduler and trainable inside your own ``tune.Tuner``.

Run: ``python examples/own_tuner.py [--num-samples N] [--storage-path DIR] [--address ADDRESS] [--stopping FILE]``.

With ``--stopping`` (a ``configuration.yaml`` or ``stoppers.yaml`` that ``tune-stop recommend``
wrote), the Tuner runs that recommendation's scheduler and stoppers, loaded with
:func:`tune_stop.stopping.load_stopping`; without it, each trial samples its own
``val_loss`` threshold beside a patience rule and ASHA.

It starts a local Ray of its own (never joining another Ray running on the machine)
unless ``--address`` (or ``RAY_ADDRESS``) names a cluster to join.
"""

from __future__ import annotations

import argparse
import os
import tempfile

import ray
from ray import tune
from ray.tune import Stopper
from ray.tune.schedulers import TrialScheduler

from tune_stop.reasons import StopReasonsCallback
from tune_stop.schedulers import RecordingASHAScheduler, RecordingMedianStoppingRule
from tune_stop.stoppers import AnyStopper, NonFiniteStopper, PatienceStopper, ThresholdStopper
from tune_stop.stopping import load_stopping
from tune_stop.trainables import PerceptronTrainable


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--num-samples", type=int, default=8)
    parser.add_argument("--storage-path", default=tempfile.mkdtemp(prefix="tune-stop-example-"))
    parser.add_argument("--address", default=os.environ.get("RAY_ADDRESS"), help="Ray cluster to join")
    parser.add_argument("--stopping", help="a configuration.yaml or stoppers.yaml written by tune-stop recommend")
    args = parser.parse_args()
    if args.address:
        ray.init(address=args.address, log_to_driver=False)
    else:  # "local": a new Ray of this script's own, whatever else runs on the machine
        ray.init(address="local", include_dashboard=False, log_to_driver=False)

    max_epochs = 20
    stopper: Stopper
    scheduler: TrialScheduler
    if args.stopping:  # the recommendation, as tune-stop judged it
        stopping = load_stopping(args.stopping, max_epochs=max_epochs)
        stopper, scheduler = stopping.stopper, stopping.scheduler
    else:  # each trial samples its own threshold; the stopper reads it from the trial's config
        stopper = AnyStopper(
            NonFiniteStopper(["train_loss", "val_loss"]),
            ThresholdStopper("val_loss", "min", threshold_key="val_loss_threshold"),
            PatienceStopper("val_loss", "min", patience=5, min_delta=1e-3),
        )
        scheduler = RecordingASHAScheduler(time_attr="epoch", grace_period=3, reduction_factor=3)
    # The recording schedulers say which trials they stopped (stop_reasons.csv); FIFO stops none.
    recording = scheduler if isinstance(scheduler, (RecordingASHAScheduler, RecordingMedianStoppingRule)) else None
    tuner = tune.Tuner(
        PerceptronTrainable,
        param_space={
            "dataset": "digits",
            "hidden_sizes": [64],
            "optimizer": "adam",
            "lr": tune.loguniform(1e-3, 1e-2),
            "max_epochs": max_epochs,
            "val_loss_threshold": tune.loguniform(0.08, 0.3),
        },
        tune_config=tune.TuneConfig(
            metric="val_loss",
            mode="min",
            scheduler=scheduler,
            num_samples=args.num_samples,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            storage_path=args.storage_path,
            stop=stopper,
            callbacks=[StopReasonsCallback(stopper, recording)],
            verbose=0,
        ),
    )
    results = tuner.fit()
    best = results.get_best_result(scope="all")
    reasons = f"{results.experiment_path}/stop_reasons.csv"
    print(f"best val_loss {best.metrics['val_loss']:.4f}; stop reasons in {reasons}")
    ray.shutdown()


if __name__ == "__main__":
    main()
