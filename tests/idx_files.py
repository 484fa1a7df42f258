"""Tiny datasets in the real MNIST IDX on-disk format, for the torchvision loaders."""

from __future__ import annotations

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
