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


def test_more_gpus_than_this_machine_has_is_refused_before_a_local_ray_starts(tmp_path, capsys, monkeypatch):
    import ray
    import torch

    if torch.cuda.device_count():
        pytest.skip("this machine has a GPU")

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started before the GPUs were checked")

    monkeypatch.setattr(ray, "init", no_ray)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    argv = ["search", "perceptron-xor", "--gpus-per-trial", "1", "--storage-path", str(tmp_path), "--name", "x"]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "tune-stop: error: --gpus-per-trial 1 exceeds the cluster's 0 GPUs"
    ]
    assert not any(tmp_path.iterdir())


def test_folds_too_small_to_validate_on_are_noted_before_the_search_starts(tmp_path, capsys, monkeypatch):
    from tune_stop.app import search

    def stop_here(options):
        raise KeyboardInterrupt  # the note comes before Ray would start

    monkeypatch.setattr(search, "init_ray", stop_here)
    for folds, noted in ((100, True), (3, False)):
        space = tmp_path / f"folds{folds}.yaml"
        space.write_text(f"trainable: perceptron\nmetric: val_loss\nnum_folds: {folds}\nconfig: {{dataset: digits}}\n")
        assert main(["search", str(space), "--storage-path", str(tmp_path / "runs"), "--name", f"f{folds}"]) == 130
        err = capsys.readouterr().err
        assert ("tune-stop: note: num_folds 100 leaves about 14 validation examples per fold of digits" in err) is noted


@pytest.mark.e2e
def test_sigterm_stops_a_search_cleanly_with_exit_143_and_the_resume_command(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import tempfile
    import time
    from pathlib import Path

    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": tempfile.mkdtemp(prefix="ts-term-")}
    script = Path(sys.executable).with_name("tune-stop")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "tune_stop.app.cli"]
    argv = [
        *command,
        "search",
        "perceptron-digits",
        "--max-epochs",
        "400",
        "--num-samples",
        "2",
        "--scheduler",
        "fifo",
        "--storage-path",
        str(tmp_path),
        "--name",
        "term",
        "--num-cpus",
        "1",  # one trial actor to start (each imports torch), as much as the signal needs
        "--quiet",
    ]
    search = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env
    )
    try:
        deadline = time.monotonic() + 240
        # Ready when a trial has reported: its result file holds a line.
        while not any(p.stat().st_size for p in (tmp_path / "term").glob("*/result.json")):
            assert search.poll() is None, search.communicate()[1][-2000:]
            assert time.monotonic() < deadline, "no trial reported within 240 s"
            time.sleep(0.2)  # polling for the first result, not waiting for the test to pass
        search.send_signal(signal.SIGTERM)
        out, err = search.communicate(timeout=240)
    finally:
        if search.poll() is None:
            search.kill()
    assert search.returncode == 143, err[-3000:]
    assert f"`tune-stop search --resume {tmp_path / 'term'}`" in out
    assert "did not finish" in out
    assert "core dumped" not in err and "Aborted" not in err and "Traceback" not in err
