"""The digits-MLP trial without Ray, for the search-overhead baseline.

Imports only what the training needs (torch, scikit-learn's digits, the project's model
and loop), so a pool worker pays no Ray import that a bare script would not pay.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from typing import Any

import torch

from tune_stop.data import load_dataset, split_dataset
from tune_stop.training import OPTIMIZERS, Objective, build_model, evaluate, train_epoch


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


def bare_trial(config: dict[str, Any]) -> tuple[float, float]:
    """What ``PerceptronTrainable`` does for one trial: build, train and evaluate every epoch, save.

    Returns:
        The wall clock at the start of the first epoch and at the end of the last.
    """
    torch.manual_seed(int(config["seed"]))
    generator = torch.Generator()
    generator.manual_seed(int(config["seed"]))
    dataset = load_dataset(config["dataset"], config["data_root"])
    split = split_dataset(dataset, num_folds=int(config["num_folds"]), fold=int(config["fold"]), seed=0)
    model = build_model(math.prod(dataset.input_shape), dataset.num_classes, config["hidden_sizes"])
    objective = Objective(perceptron=not config["hidden_sizes"], num_classes=dataset.num_classes)
    optimizer = OPTIMIZERS[config["optimizer"]](model.parameters(), lr=float(config["lr"]))
    batch_size = int(config["batch_size"])
    started = time.time()
    for _ in range(int(config["max_epochs"])):
        train_epoch(model, optimizer, objective, split.x_train, split.y_train, batch_size, generator)
        evaluate(model, objective, split.x_val, split.y_val)
        evaluate(model, objective, split.x_test, split.y_test)
    # The final checkpoint, as Tune keeps one per trial.
    with tempfile.TemporaryDirectory() as folder:
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, os.path.join(folder, "s.pt"))
    return started, time.time()
