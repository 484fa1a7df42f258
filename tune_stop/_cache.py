"""A per-node disk cache for things a trial computes at start and that never change.

Light on purpose (no torch): ``tune_stop.data`` uses it so that a trial worker reads the
digits arrays and its fold indices from disk instead of importing scikit-learn.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

__all__ = ["cache_dir", "disk_cached", "npz_cached"]

T = TypeVar("T")


def cache_dir() -> Path:
    """Per-node cache: ``$TUNE_STOP_CACHE``, else ``~/.cache/tune-stop``."""
    env = os.environ.get("TUNE_STOP_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "tune-stop"


def disk_cached(path: Path, load: Callable[[Path], T], compute: Callable[[], T], save: Callable[[T, Path], None]) -> T:
    """``load(path)`` if the file exists, else ``compute()`` and save it atomically.

    A file lock makes processes that ask at the same time (trials starting together on
    one node) compute once; the others wait and load the result.
    """
    from filelock import FileLock

    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            return load(path)
        value = compute()
        temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
        save(value, temporary)
        os.replace(temporary, path)
        return value


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _save_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    named: dict[str, Any] = dict(arrays)  # names, not savez's keyword options
    with path.open("wb") as stream:
        np.savez(stream, **named)


def npz_cached(path: Path, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """:func:`disk_cached` for a dict of NumPy arrays stored as one ``.npz`` file.

    The cache only saves start-up time, so one that cannot be used (a read-only or full
    disk) is skipped and the arrays are computed in memory.
    """
    computed: list[dict[str, np.ndarray]] = []

    def compute_once() -> dict[str, np.ndarray]:
        computed.append(compute())
        return computed[0]

    try:
        return disk_cached(path, _load_npz, compute_once, _save_npz)
    except OSError:
        # Either the cache failed (compute without it) or compute did (it raises again).
        return computed[0] if computed else compute()
