"""Judging a stop by the best snapshot up to it (``keep_best``), as a user who keeps the best checkpoint does."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from analysis import analyse
from analysis._snapshot import kept_columns, kept_name, unkept
from tests.test_intervals import synthetic_search


def test_the_kept_target_is_the_target_at_the_best_monitored_epoch_so_far():
    frame = pd.DataFrame(
        {
            "trial_id": ["a"] * 5 + ["b"] * 3,
            "epoch": [1, 2, 3, 4, 5, 1, 2, 3],
            "val_loss": [np.nan, 0.5, 0.3, 0.4, 0.3, 0.9, np.inf, 0.8],
            "test_accuracy": [0.1, 0.6, 0.8, 0.9, 0.95, 0.2, 0.3, 0.4],
        }
    )
    kept, target, monitor = kept_columns(frame, "val_loss", "min", target="test_accuracy")
    assert (target, monitor) == (kept_name("test_accuracy", "val_loss"), kept_name("val_loss", "val_loss"))
    # Before a finite value: the epoch itself; a tie (0.3 again at epoch 5) keeps the earlier snapshot.
    assert kept[target].tolist() == [0.1, 0.6, 0.8, 0.8, 0.8, 0.2, 0.2, 0.4]
    assert np.isnan(kept[monitor].iloc[0]) and kept[monitor].tolist()[1:] == [0.5, 0.3, 0.3, 0.3, 0.9, 0.9, 0.8]
    assert kept.index.equals(frame.index) and unkept(target, ("val_loss", "min")) == "test_accuracy"


def test_keep_best_judges_stops_and_full_training_by_their_best_snapshots():
    frame = synthetic_search(20, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = analyse(frame, metrics=[("val_loss", "min")], objective="search")
        kept = analyse(frame, metrics=[("val_loss", "min")], objective="search", keep_best=True)
    assert kept.kept_by == ("val_loss", "min") and plain.kept_by is None
    assert kept.target == "test_accuracy (best val_loss snapshot)" and kept.selection[0].startswith("val_loss (best")
    # The same stops: only how each is judged changes (the rules still see the raw val_loss).
    for (a, _, _), (b, _, _) in zip(plain.replays, kept.replays, strict=True):
        assert np.array_equal(a.stop_epoch, b.stop_epoch)
    # A stop's kept snapshot is never later than the stop, so it never scores above the best epoch in hindsight.
    regret = np.concatenate([result.regret[result.evaluable] for result, _, _ in kept.replays])
    assert (regret >= -1e-12).all()


def test_recommend_keeps_the_best_snapshot_when_asked_and_says_what_to_keep(tmp_path, capsys):
    from tune_stop.app.cli import main

    synthetic_search(20, seed=3).to_csv(tmp_path / "curves.csv", index=False)
    # The per-trial rule's file is what this test reads; the stopping configurations are another test's.
    argv = ["recommend", str(tmp_path / "curves.csv"), "--metric", "val_loss", "--tolerance", "0.05"]
    argv.append("--no-configurations")
    assert main([*argv, "--keep-best", "--out", str(tmp_path / "kept")]) == 0
    printed = capsys.readouterr().out
    assert 'checkpoint_score_attribute="val_loss"' in printed
    import yaml

    block = yaml.safe_load((tmp_path / "kept" / "stoppers.yaml").read_text())["recommendation"]
    assert block["target"] == "test_accuracy" and block["kept_by"] == ["val_loss", "min"]
    assert block["selection"] == ["val_loss", "min"]
    # The file runs: its guard and rule read the metrics the curves (and a search) report, not the kept columns.
    from search_spaces import load_space
    from tune_stop.stopping import load_stopping

    stoppers = yaml.safe_load((tmp_path / "kept" / "stoppers.yaml").read_text())["stoppers"]
    assert all("snapshot" not in str(entry) for entry in stoppers)
    load_space("mlp-digits").with_stoppers(tmp_path / "kept" / "stoppers.yaml").build_stopper()
    stopper = load_stopping(tmp_path / "kept" / "stoppers.yaml", max_epochs=30).stopper
    # A result with the raw metrics only is read (a kept column in the guard raised KeyError here); a NaN in the
    # search's own metric stops the trial at once, as the guard must.
    assert stoppers[0] == {"policy": "non_finite", "metrics": ["val_loss"]}
    assert stopper("t", {"epoch": 1, "val_loss": 1e9, "train_loss": 1.0, "config": {}}) is False  # far from any stop
    assert stopper("u", {"epoch": 1, "val_loss": float("nan"), "train_loss": 1.0, "config": {}}) is True
    assert main([*argv, "--out", str(tmp_path / "plain")]) == 0
    assert "checkpoint_score_attribute" not in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--keep-best", "--no-keep-best"])
def test_the_flag_parses(flag):
    from tune_stop.app._parser import build_parser

    args = build_parser().parse_args(["recommend", "x.csv", flag])
    assert args.keep_best is (flag == "--keep-best")
