"""Tiny datasets in the real on-disk formats (MNIST IDX, CIFAR-10 pickled batches) for torchvision."""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    """Writes an unsigned-byte IDX file (magic 0x08, then the dimension count)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_mnist(
    root: Path, folder: str = "MNIST", n_train: int = 60, n_test: int = 20, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Writes a tiny MNIST-format dataset under ``root/folder/raw``; returns the train arrays."""
    rng = np.random.default_rng(seed)
    raw = root / folder / "raw"
    images = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    labels = np.arange(n_train, dtype=np.uint8) % 10
    write_idx(raw / "train-images-idx3-ubyte", images)
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    write_idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8))
    write_idx(raw / "t10k-labels-idx1-ubyte", np.arange(n_test, dtype=np.uint8) % 10)
    return images, labels


CIFAR10_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")


def make_cifar10(root: Path, per_batch: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Writes tiny CIFAR-10 python batches under ``root/cifar-10-batches-py``.

    Each batch is a pickled dict whose ``data`` rows hold an image's red, green and blue
    planes (3 x 1024 bytes) and whose ``labels`` is a list, as in cifar-10-python.tar.gz.
    Returns the training images (N, 3, 32, 32) and labels, in batch order.
    """
    rng = np.random.default_rng(seed)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    train_images, train_labels = [], []
    for index, name in enumerate(CIFAR10_BATCHES):
        images = rng.integers(0, 256, size=(per_batch, 3, 32, 32), dtype=np.uint8)
        labels = [(index * per_batch + i) % 10 for i in range(per_batch)]
        batch = {"batch_label": name, "labels": labels, "data": images.reshape(per_batch, 3072)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        if name != "test_batch":
            train_images.append(images)
            train_labels.extend(labels)
    meta = {"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return np.concatenate(train_images), np.asarray(train_labels)
