"""Datasets, the held-out test split and the K-fold validation split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.idx_files import make_mnist
from tune_stop.data import DatasetNotFoundError, fold_indices, load_dataset, split_dataset


def test_digits_is_embedded_with_a_fixed_stratified_test_split():
    data = load_dataset("digits")
    assert data.input_shape == (1, 8, 8)
    assert len(data.x_train) + len(data.x_test) == 1797
    assert len(data.x_test) == 360
    assert float(data.x_train.min()) >= 0.0 and float(data.x_train.max()) <= 1.0
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    # Stratified: every class is in the test split.
    assert set(data.y_test.tolist()) == set(range(10))
    # Train and test share no image.
    train = {tuple(x.flatten().tolist()) for x in data.x_train}
    overlap = sum(tuple(x.flatten().tolist()) in train for x in data.x_test)
    assert overlap < 5  # digits has a few exact duplicate images, not a leak


def test_xor_is_the_classic_four_points():
    data = load_dataset("xor")
    assert data.x_train.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]
    assert data.y_train.tolist() == [0, 1, 1, 0]
    split = split_dataset(data, num_folds=1, fold=0)
    assert torch.equal(split.x_val, data.x_train) and torch.equal(split.x_test, data.x_train)


@pytest.mark.parametrize("num_folds", [2, 3, 5])
def test_folds_are_disjoint_cover_the_training_split_and_are_stable(num_folds):
    labels = load_dataset("digits").y_train.numpy()
    seen = []
    for fold in range(num_folds):
        train_idx, val_idx = fold_indices(labels, num_folds=num_folds, fold=fold)
        assert not set(train_idx) & set(val_idx)
        assert len(train_idx) + len(val_idx) == len(labels)
        again = fold_indices(labels, num_folds=num_folds, fold=fold)[1]
        assert np.array_equal(val_idx, again)
        # Stratified: class proportions of the fold within 2 points of the whole.
        for cls in range(10):
            assert abs(np.mean(labels[val_idx] == cls) - np.mean(labels == cls)) < 0.02
        seen.append(val_idx)
    assert sorted(np.concatenate(seen).tolist()) == list(range(len(labels)))


def test_split_seed_changes_the_folds():
    labels = load_dataset("digits").y_train.numpy()
    a = fold_indices(labels, num_folds=3, fold=0, seed=0)[1]
    b = fold_indices(labels, num_folds=3, fold=0, seed=1)[1]
    assert not np.array_equal(np.sort(a), np.sort(b))


def test_split_never_touches_the_test_split():
    data = load_dataset("digits")
    split = split_dataset(data, num_folds=3, fold=2)
    assert torch.equal(split.x_test, data.x_test)
    assert len(split.x_train) + len(split.x_val) == len(data.x_train)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_folds": 1, "fold": 0}, "num_folds=1"),
        ({"num_folds": 3, "fold": 3}, "fold=3"),
        ({"num_folds": 3, "fold": -1}, "fold=-1"),
        ({"num_folds": 2.0, "fold": 0}, "num_folds=2.0"),
        ({"num_folds": 5000, "fold": 0}, "exceeds"),
    ],
)
def test_bad_fold_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fold_indices(np.arange(100) % 10, **kwargs)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="dataset='imagenet'"):
        load_dataset("imagenet")


@pytest.mark.parametrize(
    ("name", "folder"),
    [("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw"), ("cifar10", "cifar-10-batches-py")],
)
def test_missing_dataset_names_dataset_path_and_remedy(tmp_path, name, folder):
    with pytest.raises(DatasetNotFoundError) as caught:
        load_dataset(name, tmp_path)
    message = str(caught.value)
    assert repr(name) in message
    assert str(tmp_path / folder) in message
    assert "--download" in message


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_idx_files_load_through_torchvision(tmp_path, name, folder):
    images, labels = make_mnist(tmp_path, folder)
    data = load_dataset(name, tmp_path)
    assert data.input_shape == (1, 28, 28)
    assert len(data.x_train) == 60 and len(data.x_test) == 20
    assert torch.allclose(data.x_train[:, 0] * 255.0, torch.from_numpy(images).float())
    assert data.y_train.tolist() == labels.tolist()
    split = split_dataset(data, num_folds=3, fold=1)
    assert len(split.x_val) == 20 and len(split.x_train) == 40
