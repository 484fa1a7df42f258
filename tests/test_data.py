"""Datasets, the held-out test split and the K-fold validation split."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.idx_files import make_cifar10, make_mnist
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


def test_cifar10_batches_load_through_torchvision_as_channels_first(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    # torchvision checks each batch against the md5 of the real 163 MB archive's files; the
    # tiny batches here have the real format but not those bytes, so only existence is checked.
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda path, md5=None: Path(path).is_file())
    images, labels = make_cifar10(tmp_path, per_batch=4)
    data = load_dataset("cifar10", tmp_path)
    assert data.input_shape == (3, 32, 32)
    assert len(data.x_train) == 20 and len(data.x_test) == 4
    assert data.x_train.is_contiguous()
    assert torch.equal(data.x_train * 255.0, torch.from_numpy(images).float())  # red plane first, as written
    assert data.y_train.tolist() == labels.tolist()
    assert float(data.x_train.max()) <= 1.0


def test_cifar10_with_wrong_checksums_is_reported_as_corrupted(tmp_path):
    make_cifar10(tmp_path, per_batch=2)  # real format, but not the real archive's bytes
    with pytest.raises(DatasetNotFoundError, match=r"'cifar10' incomplete or corrupted at .*cifar-10-batches-py"):
        load_dataset("cifar10", tmp_path)


def test_mnist_with_a_missing_file_is_reported_as_incomplete(tmp_path):
    make_mnist(tmp_path, "MNIST")
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"'mnist' incomplete or corrupted at .*MNIST/raw: put the MNIST"):
        load_dataset("mnist", tmp_path)


_LOAD_SPLIT = """
import sys, hashlib
from tune_stop.data import load_dataset, split_dataset
split = split_dataset(load_dataset("digits"), num_folds=3, fold=1, seed=0)
digest = hashlib.sha1(split.x_train.numpy().tobytes() + split.y_val.numpy().tobytes()).hexdigest()
print("sklearn" in sys.modules, digest)
"""


@pytest.mark.e2e  # slower: a new interpreter; the whole suite runs it
def test_digits_and_folds_come_from_the_disk_cache_without_importing_sklearn(tmp_path, monkeypatch):
    import hashlib
    import os
    import subprocess
    import sys

    from tune_stop.data import _load_cached, load_dataset, split_dataset

    # This process computes with scikit-learn and fills the cache ...
    monkeypatch.setenv("TUNE_STOP_CACHE", str(tmp_path))
    _load_cached.cache_clear()  # forget the tensors other tests loaded in this process
    split = split_dataset(load_dataset("digits"), num_folds=3, fold=1, seed=0)
    digest = hashlib.sha1(split.x_train.numpy().tobytes() + split.y_val.numpy().tobytes()).hexdigest()
    assert len(list((tmp_path / "datasets").glob("digits-*.npz"))) == 1
    assert len(list((tmp_path / "folds").glob("*.npz"))) == 1
    # ... and a trial worker starting later reads it without importing scikit-learn.
    env = {**os.environ, "TUNE_STOP_CACHE": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", _LOAD_SPLIT], env=env, capture_output=True, text=True, check=True)
    assert run.stdout.split() == ["False", digest]


def test_cached_folds_are_keyed_by_the_labels_and_match_scikit_learn(tmp_path, monkeypatch):
    from sklearn.model_selection import StratifiedKFold

    monkeypatch.setenv("TUNE_STOP_CACHE", str(tmp_path))
    rng = np.random.default_rng(0)
    for labels in (rng.integers(0, 3, 60), rng.integers(0, 3, 60), rng.integers(0, 4, 61)):
        splits = list(StratifiedKFold(n_splits=4, shuffle=True, random_state=5).split(np.zeros(len(labels)), labels))
        for fold, (train_idx, val_idx) in enumerate(splits):
            for _ in range(2):  # computed, then read back from the cache
                cached = fold_indices(labels, num_folds=4, fold=fold, seed=5)
                assert np.array_equal(cached[0], train_idx) and np.array_equal(cached[1], val_idx)
    assert len(list((tmp_path / "folds").glob("*.npz"))) == 3


def test_an_unusable_cache_is_skipped(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("TUNE_STOP_CACHE", str(blocker))
    labels = np.arange(40) % 4
    train_idx, val_idx = fold_indices(labels, num_folds=4, fold=2, seed=1)
    assert len(val_idx) == 10 and not set(train_idx) & set(val_idx)
    assert blocker.read_text() == "a file where the cache folder should be"
