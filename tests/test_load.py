"""Loading curves from CSVs and Ray experiments (`analysis._load`)."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from analysis import (
    ExperimentError,
    RepeatedEpochsError,
    analyse,
    load_curves,
    replay,
)
from tests.curves import (
    EPOCHS,
    folded_curves,
    u_curve,
)


def test_curves_from_a_csv_file(tmp_path):
    path = tmp_path / "curves.csv"
    folded_curves().to_csv(path, index=False)
    frame = load_curves(path)
    assert frame["trial_id"].nunique() == 40
    assert analyse(frame).recommendations["n_curves"].eq(40).all()
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ExperimentError, match="lacks the columns trial_id, epoch"):
        load_curves(tmp_path / "bad.csv")


def test_a_retried_trials_later_epochs_are_dropped_as_the_live_stoppers_drop_them(tmp_path):
    from tune_stop.stoppers import PatienceStopper

    # Epochs 1-5 reported, the trial crashed and was retried from its epoch-2 checkpoint.
    losses = [1.0, 0.8, 0.6, 0.5, 0.4, 0.9, 0.95, 0.97]
    epochs = [1, 2, 3, 4, 5, 3, 4, 5]
    frame = pd.DataFrame({"trial_id": "a", "epoch": epochs, "val_loss": losses, "test_accuracy": 0.5})
    frame.to_csv(tmp_path / "curves.csv", index=False)
    with pytest.raises(RepeatedEpochsError, match="3 rows repeat an epoch of their trial"):
        load_curves(tmp_path / "curves.csv")  # nothing says the file holds retried trials
    curves = load_curves(tmp_path / "curves.csv", retried_trials=True)
    assert curves["epoch"].tolist() == [1, 2, 3, 4, 5] and curves["val_loss"].tolist() == [1.0, 0.8, 0.9, 0.95, 0.97]
    live = PatienceStopper("val_loss", "min", patience=2)
    stops = [e for e, v in zip(epochs, losses, strict=True) if live("a", {"epoch": e, "val_loss": v})]
    table = replay(curves, [PatienceStopper("val_loss", "min", patience=2)])
    assert stops[0] == table["stop_epoch"].iloc[0] == 4


def test_a_csv_with_rays_training_iteration_instead_of_epoch_is_read(tmp_path):
    frame = pd.DataFrame(u_curve("a") + u_curve("b", minimum_at=15)).rename(columns={"epoch": "training_iteration"})
    frame.drop(columns=["config_id", "fold"]).to_csv(tmp_path / "curves.csv", index=False)
    curves = load_curves(tmp_path / "curves.csv")
    assert curves.groupby("trial_id")["epoch"].max().tolist() == [EPOCHS, EPOCHS]
    with pytest.warns(UserWarning, match="only 2 configurations"):
        row = analyse(curves, metrics=[("val_loss", "min")], families=("patience",), baselines=False).recommendations
    assert row["cv_unit"].iloc[0] == "trial" and row["n_no_target"].iloc[0] == 0


def test_a_whole_last_row_is_never_taken_for_a_cut_off_one(tmp_path):
    import gzip

    header = "trial_id,epoch,val_loss,note\n"
    cases = {
        "no_newline.csv": (header + "a,1,0.5,x\na,2,0.4,y").encode(),
        "quoted_newline.csv": (header + 'a,1,0.5,x\na,2,0.4,"two\nlines"').encode(),
        "crlf.csv": (header + "a,1,0.5,x\r\na,2,0.4,y").replace("\n", "\r\n").encode(),
        "cr_only.csv": (header + "a,1,0.5,x\ra,2,0.4,y").replace("\n", "\r").encode(),
        "packed.csv.gz": gzip.compress((header + "a,1,0.5,x\na,2,0.4,y\n").encode()),
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no "cut off mid-row"
            curves = load_curves(tmp_path / name)
        assert curves["epoch"].tolist() == [1, 2], name


def _thirty_epoch_curves(trials: int = 6) -> pd.DataFrame:
    rows = [
        {"trial_id": f"t{t}", "epoch": e, "val_loss": 1.0 / e + 0.01 * t, "test_accuracy": 1 - 1.0 / e}
        for t in range(trials)
        for e in range(1, 31)
    ]
    return pd.DataFrame(rows)


def test_a_repeated_epoch_in_a_csv_is_named_and_never_silently_cuts_the_curves(tmp_path):
    frame = _thirty_epoch_curves()
    # Concatenated logs: each trial's epoch-5 row once more at the end of that trial.
    appended = pd.concat(
        [pd.concat([group, group[group["epoch"] == 5]]) for _, group in frame.groupby("trial_id", sort=False)]
    )
    appended.to_csv(tmp_path / "appended.csv", index=False)
    with pytest.raises(RepeatedEpochsError) as refused:
        load_curves(tmp_path / "appended.csv")
    message = str(refused.value)
    assert "6 rows repeat an epoch of their trial (6 trials, e.g. trial t0 epoch 5)" in message
    assert "drops 156 rows and cuts 6 of 6 curves short (trial t0: epoch 5 instead of 30)" in message
    assert "retried_trials=True" in message and "\n" not in message
    # Said to hold retried trials: read as the live stoppers would, with a warning that counts the cut.
    with pytest.warns(UserWarning, match="cuts 6 of 6 curves short"):
        curves = load_curves(tmp_path / "appended.csv", retried_trials=True)
    assert curves.groupby("trial_id")["epoch"].max().eq(5).all()
    # A row repeated right after the original is named too.
    doubled = pd.concat([frame.iloc[:3], frame.iloc[2:3], frame.iloc[3:]])
    with pytest.raises(
        RepeatedEpochsError,
        match=r"1 row repeats an epoch of its trial \(1 trial, e\.g\. trial t0 epoch 3\); .* drops 1 row\.",
    ):
        load_curves(doubled)


def test_the_command_line_refuses_repeated_epochs_unless_told_the_trials_were_retried(tmp_path, capsys):
    from tune_stop.app.cli import main

    frame = _thirty_epoch_curves(4)
    pd.concat([frame, frame[frame["epoch"] == 5]]).to_csv(tmp_path / "appended.csv", index=False)
    out = tmp_path / "report"
    assert main(["recommend", str(tmp_path / "appended.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "4 rows repeat an epoch" in err[0] and "give --retried-trials" in err[0]
    assert not out.exists()
    assert main(["report", str(tmp_path / "appended.csv"), "--metric", "val_loss", "--retried-trials"]) == 0
    assert "cuts 4 of 4 curves short" in capsys.readouterr().err


def test_a_csv_of_curves_counted_from_zero_is_read_and_said(tmp_path):
    frame = pd.DataFrame({"trial_id": ["a", "a", "b", "b"], "epoch": [0, 1, 0, 1], "val_loss": [1.0, 0.5, 1.0, 0.6]})
    with pytest.warns(UserWarning, match="every trial's epochs start at 0"):
        assert load_curves(frame)["epoch"].tolist() == [1, 2, 1, 2]
    mixed = frame.assign(epoch=[0, 1, 1, 2])  # one trial from 0, one from 1: not a count from 0
    with pytest.raises(ExperimentError, match="epoch must hold integers >= 1"):
        load_curves(mixed)


def test_keras_tensorboard_runs_of_tf2_scalar_tensors_are_one_run_each(tmp_path):
    """Keras' TensorBoard callback: <run>/train and <run>/validation, TF2 scalars as tensor_content."""
    import numpy as np
    from tensorboardX.proto.event_pb2 import Event
    from tensorboardX.proto.summary_pb2 import Summary
    from tensorboardX.proto.tensor_pb2 import TensorProto
    from tensorboardX.record_writer import RecordWriter

    def write(folder, tags):
        folder.mkdir(parents=True)
        writer = RecordWriter(str(folder / "events.out.tfevents.1.host"))
        for step in range(4):
            values = [
                Summary.Value(tag=tag, tensor=TensorProto(dtype=1, tensor_content=np.float32(f(step)).tobytes()))
                for tag, f in tags.items()
            ]
            # A per-iteration tag and a non-scalar tensor, as Keras and others also log: not epochs, left out.
            values.append(Summary.Value(tag="evaluation_loss_vs_iterations", simple_value=9.0))
            writer.write(Event(step=step, summary=Summary(value=values)).SerializeToString())
        writer.close()

    for run in ("a", "b"):
        write(tmp_path / run / "train", {"epoch_loss": lambda e: 1.0 / (e + 1)})
        write(tmp_path / run / "validation", {"epoch_loss": lambda e: 1.5 / (e + 1)})
    with pytest.warns(UserWarning, match="2 TensorBoard runs"):
        curves = load_curves(tmp_path)
    assert sorted(curves["trial_id"].unique()) == ["a", "b"]
    assert {"loss", "val_loss"} <= set(curves.columns)
    a = curves[curves["trial_id"] == "a"].sort_values("epoch")
    assert a["epoch"].tolist() == [1, 2, 3, 4] and "evaluation_loss_vs_iterations" not in curves
    assert np.allclose(a["val_loss"], [1.5, 0.75, 0.5, 0.375]) and np.allclose(a["loss"], [1.0, 0.5, 1 / 3, 0.25])
