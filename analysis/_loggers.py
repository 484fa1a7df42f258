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
  scalars by tag; where an ``epoch`` scalar is logged (as Lightning does) it maps steps to
  epochs, else the step is the epoch. Read with the protocol buffers of ``tensorboardX``
  (which Ray Tune installs), so no TensorFlow or TensorBoard is needed.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pandas as pd

__all__ = ["logged_runs"]

EVENTS = "events.out.tfevents.*"


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
        runs = [_tensorboard(folder).assign(trial_id=_run_name(folder, path)) for folder in events]
        return pd.concat(runs, ignore_index=True), f"{len(runs)} TensorBoard runs"
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
    """The records of a TFRecord file: each a length (uint64), its CRC, the data and its CRC."""
    data = file.read_bytes()
    records, offset = [], 0
    while offset + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, offset)
        start = offset + 12
        if start + length + 4 > len(data):
            break  # a record cut off as the writer was stopped: the rest is left out
        records.append(data[start : start + length])
        offset = start + length + 4
    return records


def _tensorboard(folder: Path) -> pd.DataFrame:
    """The scalars of a folder's event files, one column per tag, one row per epoch."""
    from tensorboardX.proto.event_pb2 import Event

    values: dict[str, dict[int, float]] = {}
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
                if value.HasField("simple_value"):
                    number = float(value.simple_value)
                elif value.HasField("tensor") and value.tensor.float_val:
                    number = float(value.tensor.float_val[0])
                elif value.HasField("tensor") and value.tensor.double_val:
                    number = float(value.tensor.double_val[0])
                else:
                    continue
                values.setdefault(value.tag, {})[int(event.step)] = number
    if not values:
        raise ValueError(f"{folder}: its event files hold no scalars")
    frame = pd.DataFrame(values).sort_index()
    frame.index.name = "step"
    if "epoch" in frame:  # steps to epochs: the epoch logged at (or before) each step
        frame["epoch"] = frame["epoch"].ffill().bfill()
    else:
        frame["epoch"] = frame.index
    from_zero = "epoch" in values or int(frame["epoch"].min()) == 0
    return _per_epoch(frame.reset_index(drop=True), folder, from_zero=from_zero)
