"""The perceptron/MLP trainable, driven directly (no Ray cluster needed)."""

from __future__ import annotations

import math

import pytest

from tests.idx_files import make_mnist
from tune_stop.trainables import PERCEPTRON_METRICS, PerceptronTrainable

REPORTED = [m for m in PERCEPTRON_METRICS if m != "epoch"]


def run(trainable: PerceptronTrainable, epochs: int) -> list[dict]:
    return [trainable.train() for _ in range(epochs)]


def test_empty_config_trains_the_perceptron_on_digits():
    trainable = PerceptronTrainable(config={})
    try:
        results = run(trainable, 10)
    finally:
        trainable.stop()
    assert [r["epoch"] for r in results] == list(range(1, 11))
    for result in results:
        assert all(isinstance(result[key], float) for key in REPORTED)
        assert all(math.isfinite(result[key]) for key in REPORTED)
    assert results[0]["fold"] == 0.0
    # It learns: validation loss falls and accuracy is far above chance (0.1).
    assert results[-1]["val_loss"] < 0.8 * results[0]["val_loss"]
    assert results[-1]["val_accuracy"] > 0.6


def test_mlp_learns_digits_with_cross_entropy():
    trainable = PerceptronTrainable(config={"hidden_sizes": [32], "optimizer": "adam", "lr": 0.01, "max_epochs": 8})
    try:
        results = run(trainable, 8)
    finally:
        trainable.stop()
    assert results[-1]["val_accuracy"] > 0.9
    assert results[-1]["done"] and not results[-2]["done"]


def test_xor_perceptron_cannot_separate():
    trainable = PerceptronTrainable(config={"dataset": "xor", "lr": 0.5, "batch_size": 4})
    try:
        results = run(trainable, 30)
    finally:
        trainable.stop()
    # A linear model on XOR: at best 3 of 4 points, MSE far from 0.
    assert max(r["train_accuracy"] for r in results) <= 0.75
    assert min(r["val_loss"] for r in results) > 0.1


def test_checkpoint_restores_models_optimiser_epoch_and_rng(tmp_path):
    config = {"hidden_sizes": [16], "optimizer": "adam", "lr": 0.01, "seed": 3}
    reference = PerceptronTrainable(config=config)
    first = run(reference, 3)
    checkpoint = reference.save(str(tmp_path / "ckpt"))
    expected = run(reference, 2)

    restored = PerceptronTrainable(config=config)
    restored.restore(checkpoint)
    resumed = run(restored, 2)
    for trainable in (reference, restored):
        trainable.stop()
    assert [r["epoch"] for r in resumed] == [4, 5]
    for a, b in zip(expected, resumed, strict=True):
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-6)
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
    assert first[-1]["val_loss"] != expected[0]["val_loss"]


def test_reset_config_starts_a_fresh_trial_in_the_same_actor():
    trainable = PerceptronTrainable(config={"seed": 0})
    run(trainable, 3)
    assert trainable.reset_config({"seed": 0, "fold": 1})
    after_reset = run(trainable, 2)
    fresh = PerceptronTrainable(config={"seed": 0, "fold": 1})
    expected = run(fresh, 2)
    for t in (trainable, fresh):
        t.stop()
    assert [r["epoch"] for r in after_reset] == [1, 2]
    assert after_reset[-1]["fold"] == 1.0
    assert after_reset[-1]["val_loss"] == pytest.approx(expected[-1]["val_loss"], rel=1e-6)


def test_same_seed_same_curve_different_seed_different_curve():
    curves = []
    for seed in (0, 0, 1):
        trainable = PerceptronTrainable(config={"seed": seed})
        curves.append([r["val_loss"] for r in run(trainable, 3)])
        trainable.stop()
    assert curves[0] == curves[1]
    assert curves[0] != curves[2]


def test_trains_on_mnist_format_files(tmp_path):
    make_mnist(tmp_path, n_train=90, n_test=30)
    trainable = PerceptronTrainable(config={"dataset": "mnist", "data_root": str(tmp_path), "hidden_sizes": [8]})
    try:
        result = trainable.train()
    finally:
        trainable.stop()
    assert result["epoch"] == 1 and math.isfinite(result["val_loss"])


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"hidden_sizes": [0]}, "hidden_sizes"),
        ({"optimizer": "lbfgs"}, "optimizer='lbfgs'"),
        ({"lr": -1.0}, "lr=-1.0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"max_epochs": 2.5}, "max_epochs=2.5"),
        ({"num_folds": 1}, "num_folds must be >= 2"),
        ({"dataset": "imagenet"}, "dataset='imagenet'"),
    ],
)
def test_bad_config_is_rejected_naming_the_key(config, match):
    with pytest.raises(ValueError, match=match):
        PerceptronTrainable(config=config)


def test_the_suite_writes_nothing_under_the_users_home(tmp_path):
    """Trainables built outside a search write their logs to Ray's default, ~/ray_results: a temporary one here."""
    import os
    import tempfile
    from pathlib import Path

    from ray.train.constants import DEFAULT_STORAGE_PATH

    from tune_stop.trainables import PerceptronTrainable

    home = Path(os.environ["HOME"])
    assert home.is_relative_to(tempfile.gettempdir()) and home.name.startswith("ts-home-")
    assert Path(DEFAULT_STORAGE_PATH).is_relative_to(home)
    trainable = PerceptronTrainable(config={"dataset": "xor", "max_epochs": 1})
    try:
        assert Path(trainable.logdir).is_relative_to(home)
    finally:
        trainable.stop()
