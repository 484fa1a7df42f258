"""The digits-MLP trial without tune-stop, for the search-overhead baselines.

The same loop runs in a process pool (:func:`bare_trial`) and as the function trainable
a Ray Tune user would write (:func:`ray_trial`). Imports only what the training needs
(torch, scikit-learn's digits, the project's model and loop; Ray inside ``ray_trial``),
so a pool worker pays no Ray import that a bare script would not pay.
"""

from __future__ import annotations

import math
import tempfile
from typing import Any

import torch

from tune_stop.data import load_dataset, split_dataset
from tune_stop.training import OPTIMIZERS, Objective, build_model, epoch_metrics, train_epoch


def one_thread() -> None:
    """Pool initializer: one torch thread per worker, as Ray gives a 1-CPU trial."""
    torch.set_num_threads(1)


def warm_up(config: dict[str, Any]) -> None:
    """Loads the dataset and builds an optimizer once, so forked workers inherit a warm parent.

    The first optimizer imports ``torch._dynamo`` (about a second) and the first load
    imports scikit-learn when the disk cache is cold; whether the parent already did
    depends on what ran before.
    """
    load_dataset(config["dataset"], config["data_root"])
    OPTIMIZERS[config["optimizer"]](torch.nn.Linear(1, 1).parameters(), lr=0.1)


class BareTrial:
    """What ``PerceptronTrainable`` does for one trial, without Ray: build, then train and evaluate epochs."""

    def __init__(self, config: dict[str, Any]) -> None:
        torch.manual_seed(int(config["seed"]))
        self.generator = torch.Generator()
        self.generator.manual_seed(int(config["seed"]))
        dataset = load_dataset(config["dataset"], config["data_root"])
        self.split = split_dataset(dataset, num_folds=int(config["num_folds"]), fold=int(config["fold"]), seed=0)
        self.model = build_model(math.prod(dataset.input_shape), dataset.num_classes, config["hidden_sizes"])
        self.objective = Objective(perceptron=not config["hidden_sizes"], num_classes=dataset.num_classes)
        self.optimizer = OPTIMIZERS[config["optimizer"]](self.model.parameters(), lr=float(config["lr"]))
        self.batch_size = int(config["batch_size"])
        self.max_epochs = int(config["max_epochs"])
        self.epoch = 0

    def step(self) -> dict[str, float]:
        """One epoch: the metrics the trainable reports."""
        split = self.split
        train_loss, train_accuracy = train_epoch(
            self.model, self.optimizer, self.objective, split.x_train, split.y_train, self.batch_size, self.generator
        )
        self.epoch += 1
        return {"epoch": self.epoch, **epoch_metrics(self.model, self.objective, split, train_loss, train_accuracy)}

    def save(self, folder: str) -> None:
        """The checkpoint Tune keeps at the end of a trial."""
        torch.save({"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict()}, f"{folder}/s.pt")


def bare_trial(config: dict[str, Any]) -> None:
    """One trial in a pool worker: every epoch, then the final checkpoint."""
    trial = BareTrial(config)
    for _ in range(trial.max_epochs):
        trial.step()
    with tempfile.TemporaryDirectory() as folder:
        trial.save(folder)


def ray_trial(config: dict[str, Any]) -> None:
    """The same trial as a plain Ray Tune function trainable: a report per epoch, a checkpoint with the last."""
    from ray import tune

    trial = BareTrial(config["trial"])
    for _ in range(trial.max_epochs - 1):
        tune.report(trial.step())
    metrics = trial.step()
    with tempfile.TemporaryDirectory() as folder:
        trial.save(folder)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def empty_trial(config: dict[str, Any]) -> None:
    """A plain Ray Tune trial that trains nothing: one result with a checkpoint (Ray's own cost per trial)."""
    from ray import tune

    with tempfile.TemporaryDirectory() as folder:
        with open(f"{folder}/s.txt", "w") as file:
            file.write(str(config["trial"]["seed"]))
        tune.report({"val_loss": 1.0, "epoch": 1}, checkpoint=tune.Checkpoint.from_directory(folder))
