"""Perceptron and MLP classifiers as a Ray Tune class ``Trainable``.

With no hidden layers the model is the single-layer perceptron of the classic
example: one linear layer with a sigmoid, trained on one-hot targets with mean
squared error and SGD. With hidden layers it is an MLP trained with cross-entropy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from tune_stop.data import Split, load_dataset, split_dataset
from tune_stop.trainables._common import (
    EpochTrainable,
    inject_fault,
    merged_config,
    seed_everything,
    select_device,
)
from tune_stop.training import OPTIMIZERS, Objective, build_model, epoch_metrics, train_epoch

#: Every config key of :class:`PerceptronTrainable` with its default; ``{}`` works.
PERCEPTRON_DEFAULTS: dict[str, Any] = {
    "dataset": "digits",
    "data_root": None,
    "download": False,
    "hidden_sizes": [],
    "optimizer": "sgd",
    "lr": 0.5,
    "momentum": 0.0,
    "weight_decay": 0.0,
    "batch_size": 32,
    "max_epochs": 30,
    "num_folds": 3,
    "fold": 0,
    "split_seed": 0,
    "seed": 0,
    "fail_at_epoch": None,
    "fail_marker_dir": None,
}

#: The metrics one ``step()`` reports.
PERCEPTRON_METRICS = (
    "epoch",
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "test_loss",
    "test_accuracy",
    "fold",
)


def check_perceptron_config(config: Mapping[str, Any]) -> None:
    """Validates a full perceptron config.

    Raises:
        ValueError: Naming the first bad key and its value.
    """
    hidden = config["hidden_sizes"]
    if not isinstance(hidden, (list, tuple)) or not all(
        isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in hidden
    ):
        raise ValueError(f"hidden_sizes must be a list of positive integers, but got hidden_sizes={hidden!r}.")
    if config["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, but got optimizer={config['optimizer']!r}.")
    for key in ("batch_size", "max_epochs"):
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be an integer >= 1, but got {key}={value!r}.")
    if config["dataset"] != "xor" and int(config["num_folds"]) < 2:
        raise ValueError(
            f"num_folds must be >= 2 for dataset {config['dataset']!r} (the validation fold "
            f"comes from K-fold), but got num_folds={config['num_folds']!r}."
        )
    lr = config["lr"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a positive number, but got lr={lr!r}.")


class PerceptronTrainable(EpochTrainable):
    """Trains a perceptron or MLP one epoch per ``step()``.

    Config keys and defaults are in :data:`PERCEPTRON_DEFAULTS`; ``{}`` trains the
    perceptron on digits. Each step reports :data:`PERCEPTRON_METRICS` as floats and
    ``done`` once ``max_epochs`` epochs have run. The validation fold ``fold`` of
    ``num_folds`` comes from the training split; the test split is only reported.
    """

    checkpoint_file = "perceptron.pt"

    def _build(self, config: Mapping[str, Any]) -> None:
        self.settings = merged_config(PERCEPTRON_DEFAULTS, config)
        check_perceptron_config(self.settings)
        s = self.settings
        self.device = select_device()
        self.rng = seed_everything(int(s["seed"]))
        dataset = load_dataset(s["dataset"], s["data_root"], download=bool(s["download"]))
        split = split_dataset(dataset, num_folds=int(s["num_folds"]), fold=int(s["fold"]), seed=int(s["split_seed"]))
        self.split = Split(*(t.to(self.device) for t in vars(split).values()))
        in_features = math.prod(dataset.input_shape)
        self.model = build_model(in_features, dataset.num_classes, s["hidden_sizes"]).to(self.device)
        self.objective = Objective(perceptron=not s["hidden_sizes"], num_classes=dataset.num_classes)
        options: dict[str, Any] = {"lr": float(s["lr"]), "weight_decay": float(s["weight_decay"])}
        if s["optimizer"] == "sgd":
            options["momentum"] = float(s["momentum"])
        self.optimizer = OPTIMIZERS[s["optimizer"]](self.model.parameters(), **options)
        self.epoch = 0

    def step(self) -> dict[str, Any]:
        split = self.split
        train_loss, train_accuracy = train_epoch(
            self.model,
            self.optimizer,
            self.objective,
            split.x_train,
            split.y_train,
            int(self.settings["batch_size"]),
            self.rng,
        )
        self.epoch += 1
        inject_fault(self.settings, self.epoch, self.trial_id)
        return {
            "epoch": self.epoch,
            **epoch_metrics(self.model, self.objective, split, train_loss, train_accuracy),
            "fold": float(self.settings["fold"]),
            "done": self.epoch >= int(self.settings["max_epochs"]),
        }

    def stateful(self) -> dict[str, Any]:
        return {"model": self.model, "optimizer": self.optimizer}
