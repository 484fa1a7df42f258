"""`tune-stop search` (`tune_stop.app.cmd_search`): what is checked before Ray starts, and the notes it prints."""

from __future__ import annotations

import json

import pytest

from tests.cli_files import run_main
from tune_stop.app.cli import main


@pytest.mark.e2e  # starts Ray to learn the cluster's resources
def test_more_gpus_than_the_cluster_has(ray_session, capsys, tmp_path):
    code = run_main(["search", "perceptron-xor", "--gpus-per-trial", "64", "--storage-path", str(tmp_path)])
    assert code == 2
    assert "--gpus-per-trial 64 exceeds the cluster's" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_search_refuses_an_unwritable_storage_path_before_ray_starts(tmp_path, capsys, monkeypatch):
    import ray

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started before the storage path was checked")

    monkeypatch.setattr(ray, "init", no_ray)

    (tmp_path / "afile").write_text("x")
    for storage, message in ((tmp_path / "afile", "is a file"), ("/proc/tune-stop", "cannot be written")):
        assert main(["search", "perceptron-xor", "--storage-path", str(storage), "--name", "x"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"tune-stop: error: --storage-path {storage}") and message in err


def test_search_with_stoppers_says_when_it_would_draw_the_configurations_they_were_chosen_on(tmp_path, capsys):
    from types import SimpleNamespace

    from tune_stop.app.cmd_search import _note_same_configurations

    source = tmp_path / "mlp-full"
    source.mkdir()
    recorded = {"space": "mlp-digits", "trainable": "perceptron", "metric": "val_loss", "mode": "min", "num_folds": 3}
    (source / "tune-stop.json").write_text(json.dumps({**recorded, "seed": 0}))
    for seed, noted in ((0, True), (1, False)):
        space = SimpleNamespace(name="mlp-digits", seed=seed, prediction={"source": str(source)})
        _note_same_configurations(space)
        err = capsys.readouterr().err
        assert ("this search draws the same configurations" in err) is noted
        assert ("Give --seed 1" in err) is noted
    # Another space, a CSV source or no recorded seed (older experiments): nothing to say.
    for name, where in (("perceptron-digits", source), ("mlp-digits", tmp_path / "curves.csv")):
        _note_same_configurations(SimpleNamespace(name=name, seed=0, prediction={"source": str(where)}))
    (source / "tune-stop.json").write_text(json.dumps(recorded))
    _note_same_configurations(SimpleNamespace(name="mlp-digits", seed=0, prediction={"source": str(source)}))
    assert capsys.readouterr().err == ""
