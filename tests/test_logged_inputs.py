"""Curves as users have them: folders of Lightning's CSVLogger and TensorBoard logs, Keras' CSVLogger files.

The files are written by the real loggers (Lightning's ``Trainer`` with its ``CSVLogger``
and ``TensorBoardLogger``, Keras' ``model.fit`` with its ``CSVLogger``) on tiny runs, and
``tune-stop recommend`` goes from them to an answer.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import torch

from analysis import load_curves

pytestmark = pytest.mark.e2e

RUNS, EPOCHS = 6, 8


def _data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(96, 4, generator=generator)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def _lightning_runs(root) -> None:
    """RUNS tiny Lightning runs, each logged by a CSVLogger and a TensorBoardLogger under ``root``."""
    pl = pytest.importorskip("pytorch_lightning")
    from torch.utils.data import DataLoader, TensorDataset

    class Model(pl.LightningModule):
        def __init__(self, lr: float) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 2)
            self.lr = lr

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.cross_entropy(self.layer(x), y)
            self.log("train_loss", loss, on_epoch=True, on_step=False)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            logits = self.layer(x)
            self.log("val_loss", torch.nn.functional.cross_entropy(logits, y))
            # The quality judged: accuracy on the second half, held out from the first.
            self.log("test_accuracy", (logits[48:].argmax(1) == y[48:]).float().mean())

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=self.lr)

    for run in range(RUNS):
        pl.seed_everything(run, verbose=False)
        x, y = _data(run)
        loader = DataLoader(TensorDataset(x, y), batch_size=32)
        trainer = pl.Trainer(
            max_epochs=EPOCHS,
            logger=[
                pl.loggers.CSVLogger(root / "csv", name="runs"),
                pl.loggers.TensorBoardLogger(root / "tb", name="runs"),
            ],
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            log_every_n_steps=1,
            accelerator="cpu",
        )
        trainer.fit(Model(lr=0.05 * (run + 1)), loader, DataLoader(TensorDataset(x, y), batch_size=96))


def test_lightning_csv_and_tensorboard_folders_go_through_recommend_to_an_answer(tmp_path, capsys):
    from tune_stop.app.cli import main

    _lightning_runs(tmp_path)
    with pytest.warns(UserWarning, match="6 Lightning CSVLogger runs; epochs they count from 0"):
        csv = load_curves(tmp_path / "csv")
    with pytest.warns(UserWarning, match="6 TensorBoard runs"):
        tb = load_curves(tmp_path / "tb")
    for curves in (csv, tb):
        assert curves["trial_id"].nunique() == RUNS
        assert (curves.groupby("trial_id")["epoch"].agg(["min", "max", "count"]) == [1, EPOCHS, EPOCHS]).all().all()
    # The same runs read from either logger hold the same values, epoch by epoch.
    columns = ["trial_id", "epoch", "val_loss", "test_accuracy"]
    csv_rows = csv[columns].assign(trial_id=csv["trial_id"].str.replace("runs/", ""))
    tb_rows = tb[columns].assign(trial_id=tb["trial_id"].str.replace("runs/", ""))
    merged = csv_rows.merge(tb_rows, on=["trial_id", "epoch"], suffixes=("_csv", "_tb"))
    assert len(merged) == RUNS * EPOCHS
    assert np.allclose(merged["val_loss_csv"], merged["val_loss_tb"], rtol=1e-6)
    for folder in ("csv", "tb"):
        out = tmp_path / f"report-{folder}"
        argv = ["recommend", str(tmp_path / folder), "--metric", "val_loss", "--tolerance", "0.5", "--out", str(out)]
        assert main(argv) == 0
        printed = capsys.readouterr().out
        assert "- Run: " in printed and (out / "stoppers.yaml").is_file(), printed[-1500:]


def test_keras_csv_logger_files_go_through_recommend(tmp_path, capsys):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    from tune_stop.app.cli import main

    logs = tmp_path / "logs"
    logs.mkdir()
    for run in range(RUNS):
        keras.utils.set_random_seed(run)
        x, y = (t.numpy() for t in _data(run))
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.05 * (run + 1)), loss="sparse_categorical_crossentropy")
        logger = keras.callbacks.CSVLogger(str(logs / f"run{run}.csv"))
        model.fit(x[:48], y[:48], validation_data=(x[48:], y[48:]), epochs=EPOCHS, verbose=0, callbacks=[logger])
    with pytest.warns(UserWarning, match="6 Keras CSVLogger files"):
        curves = load_curves(logs)
    assert sorted(curves["trial_id"].unique()) == [f"run{run}" for run in range(RUNS)]
    assert set(curves["epoch"]) == set(range(1, EPOCHS + 1))
    first = pd.read_csv(logs / "run0.csv")
    assert first["epoch"].tolist() == list(range(EPOCHS))  # what Keras wrote: from 0
    assert np.allclose(curves[curves["trial_id"] == "run0"]["val_loss"], first["val_loss"])
    out = tmp_path / "report"
    # Keras logs no test metric: the validation loss judges (a user names the target they logged).
    argv = ["recommend", str(logs), "--metric", "val_loss", "--target", "loss", "--target-mode", "min"]
    assert main([*argv, "--tolerance", "0.5", "--out", str(out)]) == 0
    assert "- Run: " in capsys.readouterr().out
    with pytest.warns(UserWarning, match="a Keras CSVLogger file"):
        assert load_curves(logs / "run1.csv")["trial_id"].unique().tolist() == ["run1"]
