"""Inputs of the command-line tests: space files, curves and folders, good and bad; ``main`` as the script runs it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tune_stop.app.cli import main

BAD_SPACE = (
    "trainable: perceptron\nmetric: val_loss\nstoppers:\n  - {policy: patience, metric: val_loss, patience: -1}\n"
)


MNIST_SPACE = "trainable: perceptron\nmetric: val_loss\nnum_folds: 2\nconfig: {dataset: mnist}\n"


def folder_digest(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def make_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The bad and odd inputs the command-line tests feed in, in a fresh folder that is also the working one."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))  # an empty torch hub cache
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")  # reports default to ./<experiment>-report
    (tmp_path / "inception.yaml").write_text(
        "trainable: gan\nmetric: fid\nnum_folds: 2\nconfig: {fid_features: inception}\n"
    )
    (tmp_path / "bad.yaml").write_text(BAD_SPACE)
    (tmp_path / "nostoppers.yaml").write_text("metric: val_loss\n")
    (tmp_path / "unreported.yaml").write_text("stoppers:\n  - {policy: patience, metric: bleu, patience: 2}\n")
    (tmp_path / "notalist.yaml").write_text("stoppers: 5\n")
    (tmp_path / "broken.yaml").write_text("config: [\n")
    (tmp_path / "mnist.yaml").write_text(MNIST_SPACE)
    (tmp_path / "folder.yaml").mkdir()
    existing = tmp_path / "results" / "taken"
    existing.mkdir(parents=True)
    (existing / "stop_reasons.csv").write_text("trial_id,stop_reason\nabc,completed\n")
    (tmp_path / "curves.csv").write_text(
        "trial_id,fold,epoch,val_loss,test_accuracy\n"
        + "".join(f"t{i},{i % 2},{e},{1 / e},{e / 10}\n" for i in range(4) for e in range(1, 6))
    )
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "experiment_state-2026.json").write_text("garbage{")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "accuracy.yaml").write_text(
        "trainable: perceptron\nmetric: val_loss\nnum_folds: 2\n"
        "stoppers:\n  - {policy: threshold, metric: val_accuracy, mode: max, threshold: 1.5}\n"
    )
    (tmp_path / "exp").mkdir()
    (tmp_path / "exp" / "experiment_state-2026.json").write_text("{}")
    (tmp_path / "badepoch.csv").write_text("trial_id,epoch,val_loss\na,-1,1.0\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("trial_id,epoch,val_loss,test_accuracy\n")
    (tmp_path / "words.csv").write_text("trial_id,epoch,val_loss,test_accuracy\na,1,low,0.5\na,2,lower,0.6\n")
    return tmp_path


def run_main(argv: list[str]) -> int:
    """``main`` as the console script runs it: argparse errors exit via SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
