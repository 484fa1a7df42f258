"""The perceptron and MLP models with their training loop, in plain PyTorch (no Ray).

:class:`tune_stop.trainables.PerceptronTrainable` runs these one epoch per step; the
search-overhead benchmark runs the same loop in a bare process pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from tune_stop.data import Split

__all__ = ["OPTIMIZERS", "Objective", "Perceptron", "build_model", "epoch_metrics", "evaluate", "train_epoch"]

OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


class Perceptron(nn.Module):
    """A single linear layer with a sigmoid: the classic perceptron (delta rule)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.linear(x.flatten(1)))


def build_model(in_features: int, num_classes: int, hidden_sizes: Sequence[int]) -> nn.Module:
    """The perceptron (no hidden layers) or an MLP with ReLU hidden layers."""
    if not hidden_sizes:
        return Perceptron(in_features, 1 if num_classes == 2 else num_classes)
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for size in hidden_sizes:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


class Objective:
    """Loss and predicted class for the perceptron (MSE) or the MLP (cross-entropy)."""

    def __init__(self, perceptron: bool, num_classes: int) -> None:
        self.perceptron = perceptron
        self.num_classes = num_classes

    def loss(self, output: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if not self.perceptron:
            return nn.functional.cross_entropy(output, labels)
        if output.shape[1] == 1:
            target = labels.float()[:, None]
        else:
            target = nn.functional.one_hot(labels, self.num_classes).float()
        return nn.functional.mse_loss(output, target)

    def predict(self, output: torch.Tensor) -> torch.Tensor:
        if output.shape[1] == 1:
            return (output[:, 0] > 0.5).long()
        return output.argmax(dim=1)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    objective: Objective,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    generator: torch.Generator,
) -> tuple[float, float]:
    """One pass over shuffled mini-batches.

    Returns:
        ``(mean training loss, training accuracy)`` over the batches of this epoch.
    """
    model.train()
    order = torch.randperm(len(x), generator=generator).to(x.device)
    total_loss, correct = 0.0, 0
    for start in range(0, len(x), batch_size):
        batch = order[start : start + batch_size]
        output = model(x[batch])
        loss = objective.loss(output, y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(batch)
        correct += int((objective.predict(output.detach()) == y[batch]).sum())
    return total_loss / len(x), correct / len(x)


@torch.no_grad()
def evaluate(model: nn.Module, objective: Objective, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """``(loss, accuracy)`` of the model on ``(x, y)`` in eval mode."""
    model.eval()
    output = model(x)
    loss = float(objective.loss(output, y))
    accuracy = float((objective.predict(output) == y).float().mean())
    return loss, accuracy


def epoch_metrics(
    model: nn.Module, objective: Objective, split: Split, train_loss: float, train_accuracy: float
) -> dict[str, float]:
    """An epoch's reported metrics: its training figures, then the model evaluated on validation and test."""
    val_loss, val_accuracy = evaluate(model, objective, split.x_val, split.y_val)
    test_loss, test_accuracy = evaluate(model, objective, split.x_test, split.y_test)
    return {
        "train_loss": train_loss,
        "val_loss": val_loss,
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
    }
