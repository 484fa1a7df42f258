"""The experiment folder: its typed record (``tune-stop.json``) and the file I/O, local or URI.

Every module that reads or writes what a search recorded about itself goes through
:class:`ExperimentRecord` and the functions here; none reads ``tune-stop.json`` by string
keys. A folder is a local path or a URI (``s3://``, ``gs://``, ``file://``) that pyarrow
opens.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tune_stop.reasons import STOP_REASONS_FILE

__all__ = [
    "METADATA_FILE",
    "PARAM_SPACE_FILE",
    "RECORD_VERSION",
    "REPORT_PLAN_FILE",
    "ExperimentRecord",
    "default_storage_path",
    "is_uri",
    "path_exists",
    "read_bytes",
    "read_record",
    "read_stop_reasons",
    "write_bytes",
    "write_record",
]

METADATA_FILE = "tune-stop.json"
PARAM_SPACE_FILE = "tune-stop-param-space.pkl"
REPORT_PLAN_FILE = "tune-stop-report-plan.pkl"

#: The record's layout; records written before it had a version read as version 0.
RECORD_VERSION = 1

_REQUIRED = ("space", "trainable", "metric", "mode", "num_folds")

#: The names of ``tune_stop.trainables.TRAINABLES`` (a test keeps them equal), so that reading a record does
#: not import torch.
TRAINABLE_NAMES = frozenset({"perceptron", "gan"})


@dataclass(frozen=True)
class ExperimentRecord:
    """What a tune-stop search recorded about itself, in ``tune-stop.json``.

    Attributes:
        space: The search space's name.
        trainable: The registered trainable (``tune_stop.trainables.TRAINABLES``).
        metric, mode: The space's metric and direction (what the scheduler and a user select by).
        num_folds: Data folds each configuration ran on.
        seed: The sampling seed (the same space and seed draw the same configurations).
        replay_settings: The stoppers' fixed arguments, ``{family: {metric: {argument: value}}}``,
            that ``recommend`` replays them with.
        stopped_metrics: ``(metric, mode)`` of every tunable stopper of the space (None: not recorded).
        replayed_scheduler: The space's scheduler (``{"name": "asha", ...}`` or ``{"name": "fifo"}``),
            also when the search itself ran FIFO to record whole curves.
        stoppers_from: The stoppers file the search ran, or None.
        stoppers: The stopper specs the search ran.
        prediction: The ``recommendation:`` block of that file, or None.
        audit_fraction: Share of the configurations trained to the budget as audit trials.
        audited_configs: Their ``config_id``s.
        cpus_per_trial, gpus_per_trial: Resources of one trial (a resume asks for the same).
        version: The record's layout (:data:`RECORD_VERSION`).
    """

    space: str
    trainable: str
    metric: str
    mode: str
    num_folds: int
    seed: int | None = None
    replay_settings: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    stopped_metrics: list[tuple[str, str]] | None = None
    replayed_scheduler: dict[str, Any] = field(default_factory=lambda: {"name": "fifo"})
    stoppers_from: str | None = None
    stoppers: list[dict[str, Any]] = field(default_factory=list)
    prediction: dict[str, Any] | None = None
    audit_fraction: float = 0.0
    audited_configs: list[int] = field(default_factory=list)
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    version: int = RECORD_VERSION

    @property
    def runs_asha(self) -> bool:
        """Whether the space's scheduler (the one replayed) is ASHA."""
        return self.replayed_scheduler.get("name") == "asha"

    def to_json(self) -> str:
        """The record as ``tune-stop.json`` holds it."""
        data = asdict(self)
        if data["stopped_metrics"] is not None:
            data["stopped_metrics"] = [list(pair) for pair in data["stopped_metrics"]]
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str, where: str = METADATA_FILE) -> ExperimentRecord:
        """Reads a record; entries of the wrong shape in the optional fields are left out.

        Raises:
            ValueError: If ``text`` is not JSON, or lacks a required key (naming ``where``).
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise ValueError(f"{where} is not valid JSON") from None
        if not isinstance(data, dict):
            raise ValueError(f"{where} is not a tune-stop record (not a mapping)")
        missing = [key for key in _REQUIRED if key not in data]
        if missing:
            raise ValueError(f"{where} is not a tune-stop record (missing: {', '.join(missing)})")
        if data["mode"] not in ("min", "max"):
            raise ValueError(f"{where} is not a tune-stop record (mode {data['mode']!r} is not 'min' or 'max')")
        try:
            num_folds = int(data["num_folds"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where} is not a tune-stop record ({error})") from None
        return cls(
            space=str(data["space"]),
            trainable=str(data["trainable"]),
            metric=str(data["metric"]),
            mode=str(data["mode"]),
            num_folds=num_folds,
            seed=_integer(data.get("seed")),
            replay_settings=_settings(data.get("replay_settings")),
            stopped_metrics=_pairs(data.get("stopped_metrics")),
            replayed_scheduler=_mapping(data.get("replayed_scheduler")) or {"name": "fifo"},
            stoppers_from=_text(data.get("stoppers_from")),
            stoppers=[dict(s) for s in _list(data.get("stoppers")) if isinstance(s, dict)],
            prediction=_mapping(data.get("prediction")) or None,
            audit_fraction=_number(data.get("audit_fraction"), 0.0),
            audited_configs=[c for c in _list(data.get("audited_configs")) if _integer(c) is not None],
            cpus_per_trial=_number(data.get("cpus_per_trial"), 1.0),
            gpus_per_trial=_number(data.get("gpus_per_trial"), 0.0),
            version=_integer(data.get("version")) or 0,
        )


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else default


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _pairs(value: Any) -> list[tuple[str, str]] | None:
    """``[[metric, mode], ...]`` as pairs; None when the record has no list."""
    if not isinstance(value, list):
        return None
    return [(str(p[0]), str(p[1])) for p in value if isinstance(p, list | tuple) and len(p) == 2]


def _settings(value: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """``{family: {metric: {argument: value}}}``, keeping the entries of that shape."""
    if not isinstance(value, dict):
        return {}
    return {
        str(family): {str(m): dict(a) for m, a in per_metric.items() if isinstance(a, dict)}
        for family, per_metric in value.items()
        if isinstance(per_metric, dict)
    }


def default_storage_path() -> Path:
    """Ray's own default: ``~/ray_results``."""
    return Path.home() / "ray_results"


def is_uri(path: str | os.PathLike[str] | None) -> bool:
    """Whether a storage path is a URI (``s3://``, ``gs://``, ``file://``) rather than a local path."""
    return path is not None and "://" in str(path)


def _open_uri(uri: str, name: str) -> Any:
    """A pyarrow input stream for ``<uri>/<name>``, or None if there is no such file."""
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(uri)
    target = f"{root.rstrip('/')}/{name}"
    if filesystem.get_file_info(target).type != pyarrow.fs.FileType.File:
        return None
    return filesystem.open_input_stream(target)


def path_exists(path: Path | str) -> bool:
    """Whether an experiment folder (local or URI) already exists."""
    if not is_uri(path):
        return Path(path).exists()
    import pyarrow.fs

    filesystem, root = pyarrow.fs.FileSystem.from_uri(str(path))
    return filesystem.get_file_info(root).type != pyarrow.fs.FileType.NotFound


def write_bytes(folder: Path | str, name: str, data: bytes) -> None:
    """Writes ``<folder>/<name>``: locally through a temporary file and a rename, so readers never see half."""
    if is_uri(folder):
        import pyarrow.fs

        filesystem, root = pyarrow.fs.FileSystem.from_uri(str(folder))
        filesystem.create_dir(root, recursive=True)
        with filesystem.open_output_stream(f"{root.rstrip('/')}/{name}") as stream:
            stream.write(data)
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    temporary = Path(folder) / f".{name}.tmp"
    temporary.write_bytes(data)
    os.replace(temporary, Path(folder) / name)


def read_bytes(folder: Path | str, name: str) -> bytes | None:
    """The bytes of ``<folder>/<name>``, or None if there is no such file."""
    if is_uri(folder):
        stream = _open_uri(str(folder), name)
        if stream is None:
            return None
        with stream:
            return bytes(stream.read())
    file = Path(folder) / name
    return file.read_bytes() if file.is_file() else None


def write_record(folder: Path | str, record: ExperimentRecord) -> None:
    """Writes ``tune-stop.json`` into the experiment folder."""
    write_bytes(folder, METADATA_FILE, record.to_json().encode())


def read_record(path: Path | str) -> ExperimentRecord:
    """What the search recorded about the experiment in ``path``.

    Raises:
        FileNotFoundError: If the folder holds no tune-stop experiment.
        ValueError: If the record is not valid JSON with the expected keys and a known trainable.
    """
    data = read_bytes(path, METADATA_FILE)
    if data is None:
        raise FileNotFoundError(f"{path} holds no tune-stop experiment ({METADATA_FILE} is missing)")
    record = ExperimentRecord.from_json(data.decode(), f"{path}/{METADATA_FILE}")
    if record.trainable not in TRAINABLE_NAMES:
        raise ValueError(f"{path}/{METADATA_FILE} is not a tune-stop record (unknown trainable {record.trainable!r})")
    return record


def read_stop_reasons(experiment_path: Path | str) -> list[dict[str, str]]:
    """The rows of an experiment's ``stop_reasons.csv`` (empty if it has none); local or URI."""
    data = read_bytes(experiment_path, STOP_REASONS_FILE)
    if data is None:
        return []
    return list(csv.DictReader(io.StringIO(data.decode(), newline="")))
