"""Named datasets as tensors, with a held-out test split and a K-fold validation split.

``digits`` (scikit-learn's bundled 8x8 handwritten digits) is the embedded default and
needs no network. ``mnist``, ``fashion-mnist`` and ``cifar10`` are read by
``torchvision.datasets`` from a local ``data_root``; they are downloaded only when the
caller asks for it. ``xor`` is the four points of the classic perceptron example.

Images are float32 in ``[0, 1]`` with shape ``(N, C, H, W)``; labels are int64.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tune_stop._cache import cache_dir, npz_cached

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetNotFoundError",
    "Split",
    "default_data_root",
    "fold_indices",
    "load_dataset",
    "split_dataset",
]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing or fail torchvision's checks (and no download was asked for)."""


@dataclass(frozen=True)
class Dataset:
    """A dataset with its official train/test partition.

    Attributes:
        name: Registered dataset name.
        x_train, y_train: The training split (K-fold validation folds come from here).
        x_test, y_test: The held-out test split, never used for training or stopping.
        num_classes: Number of classes.
        holdout: ``False`` for ``xor``, whose four points are the training, validation
            and test set at once (there is nothing to hold out).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    holdout: bool = True

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 8, 8)`` for digits or ``(2,)`` for xor."""
        return tuple(self.x_train.shape[1:])


@dataclass(frozen=True)
class Split:
    """Training, validation and test tensors for one fold."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def default_data_root() -> Path:
    """``$TUNE_STOP_DATA`` if set, else ``~/.cache/tune-stop/data``."""
    env = os.environ.get("TUNE_STOP_DATA")
    return Path(env) if env else Path.home() / ".cache" / "tune-stop" / "data"


def _xor(root: Path, download: bool) -> Dataset:
    x = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([0, 1, 1, 0])
    return Dataset("xor", x, y, x, y, num_classes=2, holdout=False)


@functools.cache
def _sklearn_version() -> str:
    """scikit-learn's version, read without importing it (the import takes about a second)."""
    return importlib.metadata.version("scikit-learn")


def _digits_arrays() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None, :, :]  # (1797, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    # A fixed stratified 20% test split: digits has no official one.
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.2, stratify=labels, random_state=0)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def _digits(root: Path, download: bool) -> Dataset:
    # Cached on disk so that trial workers skip importing scikit-learn.
    arrays = npz_cached(cache_dir() / "datasets" / f"digits-sklearn-{_sklearn_version()}.npz", _digits_arrays)
    return Dataset(
        "digits",
        torch.from_numpy(arrays["x_train"]),
        torch.from_numpy(arrays["y_train"]),
        torch.from_numpy(arrays["x_test"]),
        torch.from_numpy(arrays["y_test"]),
        num_classes=10,
    )


def _torchvision(name: str, folder: str, how_to_get: str) -> Callable[[Path, bool], Dataset]:
    def load(root: Path, download: bool) -> Dataset:
        import torchvision.datasets as tvd

        cls = {"mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST, "cifar10": tvd.CIFAR10}[name]
        try:
            train = cls(str(root), train=True, download=download)
            test = cls(str(root), train=False, download=download)
        except RuntimeError as error:
            if "not found" not in str(error).lower():
                raise
            where = root / folder
            # torchvision says "not found or corrupted" for both; a folder with files in it is the latter.
            state = "incomplete or corrupted at" if where.is_dir() and any(where.iterdir()) else "not found at"
            raise DatasetNotFoundError(
                f"dataset {name!r} {state} {where}: {how_to_get}, "
                "or pass --download (config download=True) where there is network access"
            ) from None

        def tensors(split: object) -> tuple[torch.Tensor, torch.Tensor]:
            data = torch.as_tensor(np.asarray(split.data))  # type: ignore[attr-defined]
            images = data.float().div_(255.0)
            images = images[:, None] if images.ndim == 3 else images.permute(0, 3, 1, 2)
            labels = torch.as_tensor(np.asarray(split.targets), dtype=torch.int64)  # type: ignore[attr-defined]
            return images.contiguous(), labels

        x_train, y_train = tensors(train)
        x_test, y_test = tensors(test)
        return Dataset(name, x_train, y_train, x_test, y_test, num_classes=10)

    return load


_MNIST_FILES = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"

DATASETS: dict[str, Callable[[Path, bool], Dataset]] = {
    "xor": _xor,
    "digits": _digits,
    "mnist": _torchvision("mnist", "MNIST/raw", f"put the MNIST IDX files ({_MNIST_FILES}) there"),
    "fashion-mnist": _torchvision(
        "fashion-mnist", "FashionMNIST/raw", f"put the Fashion-MNIST IDX files ({_MNIST_FILES}) there"
    ),
    "cifar10": _torchvision(
        "cifar10", "cifar-10-batches-py", "unpack cifar-10-python.tar.gz into that folder's parent"
    ),
}


@functools.lru_cache(maxsize=8)
def _load_cached(name: str, root: str, download: bool) -> Dataset:
    return DATASETS[name](Path(root), download)


def load_dataset(name: str, data_root: str | os.PathLike[str] | None = None, *, download: bool = False) -> Dataset:
    """Loads a named dataset, once per process (later calls return the cached tensors).

    Args:
        name: One of :data:`DATASETS`.
        data_root: Folder holding torchvision datasets; :func:`default_data_root` if None.
        download: Let torchvision download missing files (needs network access).

    Raises:
        ValueError: If ``name`` is not a known dataset.
        DatasetNotFoundError: If the files are missing or corrupted, naming the path and how to get them.
    """
    if name not in DATASETS:
        raise ValueError(f"dataset must be one of {sorted(DATASETS)}, but got dataset={name!r}.")
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    return _load_cached(name, str(root.resolve()), bool(download))


def fold_indices(
    labels: np.ndarray | torch.Tensor, *, num_folds: int, fold: int, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Training and validation indices of one fold of a K-fold split.

    Uses ``StratifiedKFold`` (shuffled with ``seed``), or ``KFold`` when a class has
    fewer than ``num_folds`` examples. The same arguments always give the same fold.

    Args:
        labels: Class labels of the training split.
        num_folds: Number of folds K (``>= 2``).
        fold: Which fold is the validation fold (``0 <= fold < num_folds``).
        seed: Shuffling seed of the split.

    Returns:
        ``(train_indices, val_indices)``, disjoint and together covering all examples.

    Raises:
        ValueError: If ``num_folds`` or ``fold`` is out of range for these labels.
    """
    y = np.asarray(labels)
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise ValueError(f"num_folds must be an integer >= 2, but got num_folds={num_folds!r}.")
    if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < num_folds:
        raise ValueError(f"fold must be an integer in [0, {num_folds}), but got fold={fold!r}.")
    if num_folds > len(y):
        raise ValueError(f"num_folds={num_folds} exceeds the {len(y)} training examples.")

    def all_folds() -> dict[str, np.ndarray]:
        from sklearn.model_selection import KFold, StratifiedKFold

        _, counts = np.unique(y, return_counts=True)
        splitter: KFold | StratifiedKFold
        if counts.min() >= num_folds:
            splitter = StratifiedKFold(n_splits=num_folds, shuffle=True, random_state=seed)
        else:
            splitter = KFold(n_splits=num_folds, shuffle=True, random_state=seed)
        arrays = {}
        for k, (train_idx, val_idx) in enumerate(splitter.split(np.zeros(len(y)), y)):
            arrays[f"train_{k}"], arrays[f"val_{k}"] = train_idx, val_idx
        return arrays

    # Every fold of a split, cached on disk by the labels' content: trial workers skip importing scikit-learn.
    labels_key = hashlib.sha1(np.ascontiguousarray(y).tobytes() + str((y.dtype.str, y.shape)).encode()).hexdigest()
    name = f"{labels_key[:20]}-k{num_folds}-seed{seed}-sklearn-{_sklearn_version()}.npz"
    folds = npz_cached(cache_dir() / "folds" / name, all_folds)
    return folds[f"train_{fold}"], folds[f"val_{fold}"]


def split_dataset(dataset: Dataset, *, num_folds: int, fold: int, seed: int = 0) -> Split:
    """The training/validation tensors of one fold, plus the held-out test split.

    ``xor`` has no holdout: its four points serve as all three sets.
    """
    if not dataset.holdout:
        x, y = dataset.x_train, dataset.y_train
        return Split(x, y, x, y, dataset.x_test, dataset.y_test)
    train_idx, val_idx = fold_indices(dataset.y_train, num_folds=num_folds, fold=fold, seed=seed)
    train_t, val_t = torch.from_numpy(train_idx), torch.from_numpy(val_idx)
    return Split(
        dataset.x_train[train_t],
        dataset.y_train[train_t],
        dataset.x_train[val_t],
        dataset.y_train[val_t],
        dataset.x_test,
        dataset.y_test,
    )
