"""Curves as other tools log them: Lightning's ``CSVLogger``, Keras' ``CSVLogger`` and TensorBoard event files.

Each run (one training run: a trial) becomes the rows ``trial_id, epoch, <metrics>`` of
:func:`analysis.load_curves`, epochs counted from 1 (these loggers count from 0, and it is
said). What each logger writes:

* Lightning ``CSVLogger``: ``<dir>/<name>/version_<n>/metrics.csv``, with ``epoch`` and
  ``step`` columns and, per epoch, the validation metrics on one row and the epoch-level
  training metrics on another (step-level rows in between); each epoch keeps the last
  value logged of every metric.
* Keras ``CSVLogger``: one CSV per run, ``epoch`` first, one row per epoch.
* TensorBoard: ``events.out.tfevents.*`` files; every folder holding them is a run, the
  scalars by tag (TF1 ``simple_value`` and TF2 scalar tensors); where an ``epoch`` scalar is
  logged (as Lightning does) it maps steps to epochs, else the step is the epoch, counted
  from 0 where the first is 0. Keras' ``TensorBoard`` callback writes a run as ``train/``
  and ``validation/`` folders: they are one run, its ``epoch_*`` tags read as Keras' own
  names (``loss``, ``val_loss``). Read with the protocol buffers of ``tensorboardX`` (which
  Ray Tune installs), so no TensorFlow or TensorBoard is needed.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["logged_runs"]

EVENTS = "events.out.tfevents.*"
#: The folders Keras' ``TensorBoard`` callback writes a run's epochs into, and the prefix of each one's names.
KERAS_PARTS = {"train": "", "validation": "val_"}


def logged_runs(path: Path) -> tuple[pd.DataFrame, str] | None:
    """``(curves, what was read, in words)`` from a logger's folder or file; None where ``path`` is none of these.

    Raises:
        ValueError: If the files are a logger's but cannot be read, naming the file.
    """
    if path.is_file():
        frame = _keras_csv(path)
        return None if frame is None else (frame.assign(trial_id=path.stem), "a Keras CSVLogger file")
    if not path.is_dir() or any(path.glob("experiment_state-*.json")):
        return None
    lightning = sorted(path.rglob("metrics.csv"))
    if lightning:
        runs = [_lightning_csv(file).assign(trial_id=_run_name(file.parent, path)) for file in lightning]
        return pd.concat(runs, ignore_index=True), f"{len(runs)} Lightning CSVLogger runs"
    events = sorted({file.parent for file in path.rglob(EVENTS)})
    if events:
        # Keras: <run>/train and <run>/validation are one run.
        grouped: dict[Path, list[Path]] = {}
        for folder in events:
            grouped.setdefault(folder.parent if folder.name in KERAS_PARTS else folder, []).append(folder)
        frames = [_tensorboard(parts).assign(trial_id=_run_name(run, path)) for run, parts in grouped.items()]
        return pd.concat(frames, ignore_index=True), f"{len(frames)} TensorBoard runs"
    keras = [(file, _keras_csv(file)) for file in sorted(path.glob("*.csv"))]
    frames = [frame.assign(trial_id=file.stem) for file, frame in keras if frame is not None]
    if frames:
        return pd.concat(frames, ignore_index=True), f"{len(frames)} Keras CSVLogger files"
    return None


def _run_name(folder: Path, root: Path) -> str:
    return str(folder.relative_to(root)) if folder != root else root.name


def _per_epoch(frame: pd.DataFrame, source: Path, *, from_zero: bool = True) -> pd.DataFrame:
    """One row per epoch, the last value logged of every metric, epochs from 1 (``from_zero``: they count from 0)."""
    epochs = pd.to_numeric(frame["epoch"], errors="coerce")
    frame = frame[epochs.notna()].assign(epoch=epochs[epochs.notna()].astype(int))
    if frame.empty:
        raise ValueError(f"{source}: no row has an epoch")
    grouped = frame.groupby("epoch", sort=True).last().reset_index()
    return grouped.assign(epoch=grouped["epoch"] + int(from_zero))


def _lightning_csv(file: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(file)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise ValueError(f"{file}: cannot read it as Lightning's metrics.csv ({type(error).__name__})") from None
    if "epoch" not in frame:
        raise ValueError(f"{file}: no epoch column, so it is not what Lightning's CSVLogger writes")
    return _per_epoch(frame.drop(columns=["step"], errors="ignore"), file)


def _keras_csv(file: Path) -> pd.DataFrame | None:
    """A Keras ``CSVLogger`` file (``epoch`` first, no ``trial_id``), else None."""
    try:
        frame = pd.read_csv(file)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError):
        return None
    if not len(frame.columns) or frame.columns[0] != "epoch" or "trial_id" in frame:
        return None
    return _per_epoch(frame, file)


def _records(file: Path) -> list[bytes]:
    """The records of a TFRecord file: each a length (uint64), its CRC, the data and its CRC (CRCs unchecked)."""
    data = file.read_bytes()
    records, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        start = offset + 12
        if start + length + 4 > len(data):
            warnings.warn(f"{file}: its last record is cut off (a writer stopped mid-record): left out", stacklevel=2)
            break
        records.append(data[start : start + length])
        offset = start + length + 4
    return records


#: TensorFlow's dtype numbers of the scalars read from a TF2 summary tensor.
_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 9: np.int64}


def _scalar(value: object) -> float | None:
    """A summary value's number: a TF1 ``simple_value`` or a TF2 scalar tensor; None for anything else."""
    if value.HasField("simple_value"):  # type: ignore[attr-defined]
        return float(value.simple_value)  # type: ignore[attr-defined]
    if not value.HasField("tensor"):  # type: ignore[attr-defined]
        return None
    tensor = value.tensor  # type: ignore[attr-defined]
    if len(tensor.tensor_shape.dim):  # not a scalar (a histogram, a PR curve, an image)
        return None
    if tensor.tensor_content and tensor.dtype in _DTYPES:
        return float(np.frombuffer(tensor.tensor_content, dtype=_DTYPES[tensor.dtype])[0])
    for field in ("float_val", "double_val", "int_val", "int64_val"):
        values = getattr(tensor, field)
        if len(values):
            return float(values[0])
    return None


def _tensorboard(folders: list[Path]) -> pd.DataFrame:
    """The scalars of a run's event files (in one folder, or Keras' ``train``/``validation``), one column per
    tag, one row per epoch."""
    from tensorboardX.proto.event_pb2 import Event

    values: dict[str, dict[int, float]] = {}
    keras = any(folder.name in KERAS_PARTS for folder in folders)
    for folder in folders:
        prefix = KERAS_PARTS.get(folder.name, "") if keras else ""
        for file in sorted(folder.glob(EVENTS)):
            try:
                records = _records(file)
            except OSError as error:
                raise ValueError(f"{file}: cannot read it ({error.strerror or error})") from None
            for record in records:
                event = Event()
                try:
                    event.ParseFromString(record)
                except Exception as error:  # protobuf's DecodeError has no stable import path
                    raise ValueError(f"{file}: not a TensorBoard event file ({type(error).__name__})") from None
                for value in event.summary.value:
                    number = _scalar(value)
                    if number is None:
                        continue
                    tag = value.tag
                    if keras:  # epoch_loss -> loss, val_loss; per-iteration tags are not epochs
                        if not tag.startswith("epoch_"):
                            continue
                        tag = prefix + tag.removeprefix("epoch_")
                    values.setdefault(tag, {})[int(event.step)] = number
    where = folders[0].parent if keras else folders[0]
    if not values:
        raise ValueError(f"{where}: its event files hold no scalars")
    frame = pd.DataFrame(values).sort_index()
    frame.index.name = "step"
    logged_epochs = "epoch" in values
    if logged_epochs:  # steps to epochs: the epoch logged at (or before) each step
        frame["epoch"] = frame["epoch"].ffill().bfill()
    else:
        frame["epoch"] = frame.index
    from_zero = logged_epochs or int(frame["epoch"].min()) == 0
    return _per_epoch(frame.reset_index(drop=True), where, from_zero=from_zero)
