"""The experiment record (`tune_stop.experiment`): one typed record, read and written in one place."""

from __future__ import annotations

import json

import pytest

from tune_stop.experiment import (
    METADATA_FILE,
    RECORD_VERSION,
    ExperimentRecord,
    path_exists,
    read_bytes,
    read_record,
    read_stop_reasons,
    write_bytes,
    write_record,
)

REQUIRED = {"space": "mlp-digits", "trainable": "perceptron", "metric": "val_loss", "mode": "min", "num_folds": 3}


def test_a_record_round_trips_through_its_file(tmp_path):
    record = ExperimentRecord(
        **REQUIRED,
        seed=4,
        replay_settings={"patience": {"val_loss": {"min_delta": 0.001}}},
        stopped_metrics=[("val_loss", "min"), ("val_accuracy", "max")],
        replayed_scheduler={"name": "asha", "grace_period": 3, "reduction_factor": 3},
        stoppers=[{"policy": "patience", "metric": "val_loss", "patience": 4}],
        prediction={"interval": 0.8, "new_configs": 6},
        audit_fraction=0.1,
        audited_configs=[2],
        cpus_per_trial=0.5,
    )
    write_record(tmp_path, record)
    assert read_record(tmp_path) == record
    assert json.loads((tmp_path / METADATA_FILE).read_text())["version"] == RECORD_VERSION
    assert record.runs_asha and not ExperimentRecord(**REQUIRED).runs_asha


def test_a_record_written_before_the_version_reads_with_its_defaults(tmp_path):
    (tmp_path / METADATA_FILE).write_text(json.dumps(REQUIRED))
    record = read_record(tmp_path)
    assert record.version == 0 and record.stopped_metrics is None and record.replay_settings == {}
    assert record.replayed_scheduler == {"name": "fifo"} and record.audited_configs == [] and record.seed is None


def test_entries_of_the_wrong_shape_are_left_out(tmp_path):
    damaged = {
        **REQUIRED,
        "replay_settings": {"patience": {"val_loss": {"min_delta": 0.1}, "val_accuracy": 3}, "up": "x"},
        "stopped_metrics": [["val_loss", "min"], ["bad"], "val_accuracy"],
        "replayed_scheduler": "asha",
        "seed": "zero",
        "audited_configs": [1, "two", 3.5, 4],
        "cpus_per_trial": None,
        "audit_fraction": "a tenth",
    }
    (tmp_path / METADATA_FILE).write_text(json.dumps(damaged))
    record = read_record(tmp_path)
    assert record.replay_settings == {"patience": {"val_loss": {"min_delta": 0.1}}}
    assert record.stopped_metrics == [("val_loss", "min")]
    assert record.replayed_scheduler == {"name": "fifo"} and record.seed is None
    assert record.audited_configs == [1, 4] and record.cpus_per_trial == 1.0 and record.audit_fraction == 0.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{broken", "tune-stop.json is not valid JSON"),
        ("[1, 2]", r"is not a tune-stop record \(not a mapping\)"),
        (json.dumps({"space": "x"}), r"missing: trainable, metric, mode, num_folds"),
        (json.dumps({**REQUIRED, "num_folds": "three"}), r"is not a tune-stop record \(invalid literal"),
        (json.dumps({**REQUIRED, "trainable": "svm"}), r"unknown trainable 'svm'"),
        (json.dumps({**REQUIRED, "mode": "maximize"}), r"mode 'maximize' is not 'min' or 'max'"),
    ],
)
def test_a_damaged_record_is_named_in_one_line(tmp_path, text, message):
    (tmp_path / METADATA_FILE).write_text(text)
    with pytest.raises(ValueError, match=message):
        read_record(tmp_path)


def test_a_folder_without_a_record_is_no_tune_stop_experiment(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no tune-stop experiment"):
        read_record(tmp_path)
    assert read_stop_reasons(tmp_path) == []


def test_files_are_written_whole_and_read_back_locally_and_through_a_uri(tmp_path):
    for folder in (tmp_path / "local", f"file://{tmp_path}/uri"):
        assert not path_exists(folder) and read_bytes(folder, "x.bin") is None
        write_bytes(folder, "x.bin", b"\x00\x01")
        assert path_exists(folder) and read_bytes(folder, "x.bin") == b"\x00\x01"
        write_bytes(folder, "stop_reasons.csv", b"trial_id,stop_reason\r\nt1,threshold\r\n")
        assert read_stop_reasons(folder) == [{"trial_id": "t1", "stop_reason": "threshold"}]
    assert not list((tmp_path / "local").glob(".*.tmp"))  # no temporary file left behind


@pytest.mark.e2e  # a new interpreter
def test_a_record_names_the_registered_trainables_and_reading_one_imports_no_torch(tmp_path):
    import subprocess
    import sys

    from tune_stop.experiment import TRAINABLE_NAMES
    from tune_stop.trainables import TRAINABLES

    assert set(TRAINABLES) == TRAINABLE_NAMES
    record = ExperimentRecord(space="s", trainable="gan", metric="fid", mode="min", num_folds=1)
    write_record(tmp_path, record)
    code = f"import sys; from tune_stop.experiment import read_record; read_record({str(tmp_path)!r}); "
    code += "print('torch' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.stdout.strip() == "False", run.stderr[-2000:]
