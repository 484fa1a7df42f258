"""Curves with known answers, shared by the analysis' tests (replay, policies, recommend, report)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import Policy

EPOCHS = 30


def u_curve(
    trial_id: str, fold: int = 0, minimum_at: int = 10, length: int = EPOCHS, budget: int = EPOCHS
) -> list[dict]:
    """val_loss = (t - m)^2 / 100 + 0.1 (minimum 0.1 at epoch m); test_accuracy = 1 - val_loss."""
    rows = []
    for epoch in range(1, length + 1):
        val = (epoch - minimum_at) ** 2 / 100 + 0.1
        rows.append(
            {
                "trial_id": trial_id,
                "config_id": trial_id,
                "fold": fold,
                "epoch": epoch,
                "val_loss": val,
                "train_loss": 1.0 / epoch,
                "test_accuracy": 1.0 - val,
                "config/max_epochs": budget,
            }
        )
    return rows


def random_curves(seed: int, n: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        length = int(rng.integers(3, 45))
        t = np.arange(1, length + 1)
        val = 1 / t + 0.01 * t * rng.uniform() + rng.normal(0, 0.02, length)
        train = 1 / t + 0.05 + rng.normal(0, 0.005, length)
        if i % 5 == 0:
            val[rng.integers(0, length)] = rng.choice([np.nan, np.inf, -np.inf])
        if i % 11 == 0:
            train[rng.integers(0, length)] = np.nan
        if i % 13 == 0:
            val[:] = np.round(val, 1)  # ties
        for epoch in range(length):
            rows.append(
                {
                    "trial_id": f"t{i:03d}",
                    "fold": i % 3,
                    "epoch": epoch + 1,
                    "val_loss": val[epoch],
                    "train_loss": train[epoch],
                    "val_accuracy": 1 - val[epoch],
                    "test_accuracy": 1 - val[epoch],
                }
            )
    return pd.DataFrame(rows)


POLICIES = [
    Policy("threshold", "val_loss", "min", (0.6, 0.3, 0.2, 0.1, 0.05, 0.0)),
    Policy("threshold", "val_accuracy", "max", (0.4, 0.8, 0.9, 0.95)),
    Policy("threshold", "val_loss", "min", (0.6, 0.3, 0.2, 0.1), settings={"grace_period": 4}),
    Policy("threshold", "val_accuracy", "max", (0.4, 0.8, 0.9), settings={"grace_period": 1}),
    Policy("patience", "val_loss", "min", (0.0, 2.0, 4.0), settings={"min_delta": 0.01, "grace_period": 3}),
    Policy("patience", "val_loss", "min", (0.0, 1.0, 2.0, 3.0, 5.0)),
    Policy("patience", "val_loss", "min", (0.0, 2.0, 4.0), settings={"min_delta": 0.01}),
    Policy("patience", "val_accuracy", "max", (1.0, 3.0)),
    Policy("gl", "val_loss", "min", (0.0, 0.5, 1.0, 2.0, 5.0, 20.0)),
    Policy("pq", "val_loss", "min", (0.05, 0.2, 0.5, 1.0, 3.0), train_metric="train_loss", settings={"strip": 3}),
    Policy("pq", "val_loss", "min", (0.5,), train_metric="train_loss", settings={"strip": 5}),
    Policy("up", "val_loss", "min", (1.0, 2.0, 3.0), settings={"strip": 3}),
    Policy("up", "val_loss", "min", (1.0, 2.0), settings={"strip": 5}),
]


def folded_curves(seed: int = 0) -> pd.DataFrame:
    """U-shaped curves whose minimum varies, in 4 folds."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(40):
        rows += u_curve(f"t{i:02d}", fold=i % 4, minimum_at=int(rng.integers(6, 20)))
    frame = pd.DataFrame(rows)
    frame["val_loss"] += rng.normal(0, 0.003, len(frame))
    return frame


def complete_curves(seed: int, n: int, epochs: int) -> pd.DataFrame:
    """Noisy rising accuracy curves that all ran their whole budget."""
    rng = np.random.default_rng(seed)
    accuracy = np.clip(0.5 + np.cumsum(rng.normal(0.02, 0.03, (n, epochs)), axis=1), 0.01, 1.0)
    return pd.DataFrame(
        [
            {"trial_id": f"t{i:02d}", "fold": i % 3, "epoch": k + 1, "val_loss": 1 - a, "test_accuracy": a}
            for i, row in enumerate(accuracy)
            for k, a in enumerate(row)
        ]
    )


def misleading_start_curves() -> pd.DataFrame:
    """d_accuracy starts near 1 and dips before it climbs for good; fid improves until epoch 8.

    A threshold on d_accuracy with no grace fires at epoch 1 on every curve, where fid is
    worst; its live stopper has ``grace_period=3``, so the replay must not stop before epoch 4.
    """
    rows = []
    for trial in range(12):
        peak = 0.99 + 0.0005 * trial
        for epoch in range(1, 13):
            accuracy = peak if epoch == 1 else 0.6 + 0.03 * epoch
            rows.append(
                {
                    "trial_id": f"g{trial:02d}",
                    "fold": trial % 3,
                    "epoch": epoch,
                    "d_accuracy": accuracy,
                    "fid": 30.0 + (epoch - 8) ** 2 + trial,
                }
            )
    return pd.DataFrame(rows)
