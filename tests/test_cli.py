"""The command line: bad input gives one line and exit code 2; a real search runs."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from analysis import load_curves
from tune_stop.cli import main

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


@pytest.fixture
def files(tmp_path, monkeypatch):
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
    (tmp_path / "badepoch.csv").write_text("trial_id,epoch,val_loss\na,0,1.0\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "header.csv").write_text("trial_id,epoch,val_loss,test_accuracy\n")
    (tmp_path / "words.csv").write_text("trial_id,epoch,val_loss,test_accuracy\na,1,low,0.5\na,2,lower,0.6\n")
    return tmp_path


BAD_INPUT = [
    # argv (with {tmp} for the fixture folder), words the one line must contain
    (["search", "no-such-space"], "unknown space"),
    (["search", "{tmp}/absent.yaml"], "no such file"),
    (["search", "{tmp}/folder.yaml"], "no such file"),
    (["search", "{tmp}/bad.yaml"], "patience=-1"),
    (["search", "{tmp}/broken.yaml"], "not valid YAML"),
    (["search", "{tmp}/mnist.yaml", "--data-root", "{tmp}/data"], "dataset 'mnist' not found at"),
    (["search", "mlp-digits", "--max-epochs", "0"], "--max-epochs: must be >= 1"),
    (["search", "mlp-digits", "--max-epochs", "ten"], "--max-epochs: expected an integer"),
    (["search", "mlp-digits", "--num-samples", "1.5"], "--num-samples: expected an integer"),
    (["search", "mlp-digits", "--cpus-per-trial", "0"], "--cpus-per-trial: must be > 0"),
    (["search", "mlp-digits", "--gpus-per-trial", "-1"], "--gpus-per-trial: must be >= 0"),
    (["search", "mlp-digits", "--gpus-per-trial", "nan"], "--gpus-per-trial: must be >= 0"),
    (["search", "mlp-digits", "--scheduler", "hyperband"], "invalid choice: 'hyperband'"),
    (["search", "mlp-digits", "--seed", "-1"], "--seed: must be >= 0"),
    (["search", "mlp-digits", "--name", "a/b"], "--name: must be a plain folder name"),
    (["search", "mlp-digits", "--bogus"], "unrecognized arguments: --bogus"),
    (["search"], "give a SPACE to search, or --resume EXPERIMENT"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    (["search", "mlp-digits", "--storage-path", "{tmp}/results", "--name", "taken"], "already exists"),
    (["search", "mlp-digits", "--num-sample", "2"], "unrecognized arguments: --num-sample 2"),
    (["search", "mlp-digits", "--stoppers", "{tmp}/none.yaml"], "none.yaml: no such file"),
    (["search", "mlp-digits", "--stoppers", "{tmp}/accuracy.yaml"], "accuracy.yaml: stoppers[0].threshold"),
    (["search", "mlp-digits", "--stoppers", "{tmp}/nostoppers.yaml"], "nostoppers.yaml: stoppers: is required"),
    (["search", "mlp-digits", "--stoppers", "{tmp}/bad.yaml"], "bad.yaml: stoppers[0]: patience must be >= 0"),
    (["search", "mlp-digits", "--stoppers", "{tmp}/bad.yaml", "--full-curves"], "drop --stoppers"),
    (["search", "mlp-digits", "--stoppers", "{tmp}/unreported.yaml"], "unreported.yaml: stoppers[0].metric: 'bleu'"),
    (["search", "mlp-digits", "--stoppers", "{tmp}/notalist.yaml"], "notalist.yaml: stoppers: must be a list"),
    (["search", "mlp-digits", "--calibrate", "1"], "--calibrate: must be >= 2"),
    (["search", "mlp-digits", "--calibrate", "6"], "--calibrate must be at least 2 and below the space's 6 samples"),
    (["search", "mlp-digits", "--calibrate", "3", "--full-curves"], "--calibrate records whole curves"),
    (["search", "mlp-digits", "--audit-fraction", "0.2"], "--audit-fraction measures a recommended policy"),
    (["search", "mlp-digits", "--audit-fraction", "1"], "--audit-fraction: must be in [0, 1)"),
    (["search", "gan-mnist", "--data-root", "{tmp}/data"], "dataset 'mnist' not found at"),
    (["search", "gan-cifar10", "--data-root", "{tmp}/data"], "dataset 'cifar10' not found at"),
    (["search", "{tmp}/inception.yaml"], "FID Inception weights not found: put pt_inception-2015-12-05"),
    (["search", "{tmp}/inception.yaml", "--fid-weights", "{tmp}/no.pth"], "no.pth does not exist"),
    (["search", "mlp-digits", "--fid-weights", "{tmp}/no.pth"], "--fid-weights applies to GAN spaces"),
    (["search", "mlp-digits", "--amp"], "--amp applies to GAN spaces"),
    (["recommend", "{tmp}/nothing"], "no experiment folder at"),
    (["recommend", "{tmp}/corrupt"], "cannot read"),
    (["report", "{tmp}/corrupt"], "cannot read"),
    (["search", "{tmp}/binary.yaml"], "is not UTF-8 text"),
    (["search", "{tmp}/accuracy.yaml"], "1.5 is outside the range of val_accuracy [0, 1]"),
    (["search", "--resume", "{tmp}/results/taken"], "holds no tune-stop experiment"),
    (["search", "--resume", "{tmp}/nothing"], "holds no tune-stop experiment"),
    (["search", "mlp-digits", "--resume", "{tmp}/results/taken"], "give a SPACE to search, or --resume"),
    (["search", "--max-failures", "-1", "mlp-digits"], "--max-failures: must be >= 0"),
    (["search", "mlp-digits", "--full-curves", "--scheduler", "asha"], "--full-curves trains every trial"),
    (["search", "--resume", "{tmp}/results/taken", "--full-curves"], "drop --full-curves"),
    (["search", "mlp-digits", "--report-interval", "-0.5"], "--report-interval: must be >= 0"),
    (["search", "mlp-digits", "--report-interval", "nan"], "--report-interval: must be >= 0"),
    (["recommend", "{tmp}/results/taken"], "is not a Ray Tune experiment folder"),
    (["recommend", "{tmp}/results"], "is not a Ray Tune experiment folder"),
    (["recommend", "{tmp}/bad.yaml"], "cannot read curves from"),
    (
        ["recommend", "{tmp}/curves.csv", "--metric", "val_loss", "--mode", "max", "--policy", "gl"],
        "none of the policies gl applies to val_loss",
    ),
    (["recommend", "{tmp}/curves.csv", "--metric", "val_los"], "metric 'val_los' is not in the curves"),
    (["recommend", "{tmp}/curves.csv", "--target", "fid"], "target 'fid' is not in the curves"),
    (["recommend", "{tmp}/curves.csv", "--tolerance", "-1"], "--tolerance: must be >= 0"),
    (["recommend", "{tmp}/curves.csv", "--grace-period", "-1"], "--grace-period: must be >= 0"),
    (["recommend", "{tmp}/curves.csv", "--grace-period", "2.5"], "--grace-period: expected an integer"),
    (
        ["recommend", "{tmp}/curves.csv", "--policy", "early"],
        "--policy must be one of threshold, patience, gl, pq, up or all, but got --policy early",
    ),
    (["recommend", "{tmp}/badepoch.csv"], "epoch must hold integers >= 1"),
    (["recommend", "{tmp}/empty.csv"], "cannot read curves from"),
    (["recommend", "{tmp}/header.csv"], "header.csv holds no rows of curves (only a header)"),
    (["recommend", "{tmp}/words.csv"], "metric 'val_loss' holds no numbers (e.g. 'low')"),
    (["recommend", "{tmp}/exp", "--out", "{tmp}/exp/report"], "is inside the experiment folder"),
    (["report", "{tmp}/results/taken"], "is not a Ray Tune experiment folder"),
    (["report", "{tmp}/curves.csv", "--metric", "fid"], "metric 'fid' is not in the curves"),
]


def run_main(argv: list[str]) -> int:
    """``main`` as the console script runs it: argparse errors exit via SystemExit."""
    try:
        return main(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)


@pytest.mark.parametrize(("argv", "words"), BAD_INPUT)
def test_bad_input_is_one_line_and_exit_code_2(files, capsys, argv, words):
    before = folder_digest(files)
    code = run_main([part.replace("{tmp}", str(files)) for part in argv])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tune-stop")
    assert words in lines[0]
    assert captured.out == ""
    assert folder_digest(files) == before  # nothing already written changed
    assert not any(Path.cwd().iterdir())  # and nothing new was written


def test_recommend_replays_the_threshold_with_the_given_grace_period(files, capsys):
    argv = ["recommend", str(files / "curves.csv"), "--metric", "val_loss", "--policy", "threshold"]
    assert run_main([*argv, "--out", str(files / "plain")]) == 0
    assert run_main([*argv, "--grace-period", "2", "--out", str(files / "graced")]) == 0
    out = capsys.readouterr().out
    assert "stopper settings" not in out  # a CSV records no search space: nothing is read from one
    plain = pd.read_csv(files / "plain" / "policies.csv").query("policy == 'threshold'")
    graced = pd.read_csv(files / "graced" / "policies.csv").query("policy == 'threshold'")
    # val_loss = 1/epoch: the candidates of the graced replay come from epochs 3 to 5 only.
    assert plain["value"].max() == pytest.approx(1.0) and graced["value"].max() == pytest.approx(1 / 3)
    assert "from epoch 3 on" in (files / "graced" / "recommendations.md").read_text()


def test_recommend_judges_the_search_when_every_curve_ran_its_budget(files, capsys):
    assert run_main(["recommend", str(files / "curves.csv"), "--out", str(files / "whole")]) == 0
    assert "Objective: search (every curve ran its whole budget; --objective chooses)." in capsys.readouterr().out
    table = pd.read_csv(files / "whole" / "recommendations.csv")
    # UP cannot stop these short curves before their budget ends: its rows are empty.
    cannot = table["choice"] == "cannot stop a curve before its epoch budget ends"
    assert table.loc[cannot, "policy"].tolist() == ["up", "prechelt_up3"]
    assert table.loc[~cannot, ["best_regret", "selected_regret_high", "compute_used"]].notna().all().all()
    assert (files / "whole" / "search_val_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # One curve cut short: the search trained to the budget is unknown, so the per-curve objective is used.
    curves = pd.read_csv(files / "curves.csv")
    curves[~((curves["trial_id"] == "t3") & (curves["epoch"] > 3))].to_csv(files / "cut.csv", index=False)
    assert run_main(["recommend", str(files / "cut.csv"), "--out", str(files / "cut")]) == 0
    assert "Objective: tolerance (some curves were cut short; --objective chooses)." in capsys.readouterr().out
    assert pd.read_csv(files / "cut" / "recommendations.csv")["best_regret"].isna().all()
    assert not (files / "cut" / "search_val_loss.png").exists()
    assert run_main(["recommend", str(files / "cut.csv"), "--objective", "search", "--out", str(files / "x")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "tune-stop: error: the search objective needs every curve trained to its budget, but 1 of 4 were cut "
        "short: record them with tune-stop search --full-curves."
    ]
    assert not (files / "x").exists()


def test_recommend_reads_the_stopper_settings_the_search_recorded(tmp_path, capsys):
    from tune_stop.cli import _metadata, _replay_settings

    record = {"space": "gan-digits", "trainable": "gan", "metric": "fid", "mode": "min", "num_folds": 3}
    recorded = {"threshold": {"d_accuracy": {"grace_period": 5}}, "patience": {"val_loss": {"min_delta": 0.001}}}
    (tmp_path / "tune-stop.json").write_text(json.dumps({**record, "replay_settings": recorded}))
    assert _replay_settings(_metadata(tmp_path), None) == recorded
    out = capsys.readouterr().out
    assert "stopper settings: threshold on d_accuracy: grace_period 5; patience on val_loss: min_delta 0.001" in out
    # --grace-period applies to every metric, over what the experiment recorded.
    assert _replay_settings(_metadata(tmp_path), 0) == {
        "threshold": {"*": {"grace_period": 0}, "d_accuracy": {"grace_period": 0}},
        "patience": {"*": {"grace_period": 0}, "val_loss": {"min_delta": 0.001, "grace_period": 0}},
    }
    (tmp_path / "tune-stop.json").write_text(json.dumps(record))  # recorded by an older tune-stop
    assert _replay_settings(_metadata(tmp_path), None) == {}
    assert _metadata(tmp_path / "curves.csv") == {}
    (tmp_path / "tune-stop.json").write_text("{broken")  # damaged: said, not silently ignored
    assert _metadata(tmp_path) == {}
    assert "tune-stop.json is not valid JSON; the experiment's stopper settings are not used" in capsys.readouterr().err


@pytest.mark.e2e  # starts Ray to learn the cluster's resources
def test_more_gpus_than_the_cluster_has(ray_session, capsys, tmp_path):
    code = run_main(["search", "perceptron-xor", "--gpus-per-trial", "64", "--storage-path", str(tmp_path)])
    assert code == 2
    assert "--gpus-per-trial 64 exceeds the cluster's" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_spaces_lists_the_builtins(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    for name in ("perceptron-xor", "perceptron-digits", "mlp-digits"):
        assert name in out


def _tune_stop() -> list[str]:
    script = Path(sys.executable).with_name("tune-stop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tune_stop.cli"]


def test_console_script_bad_input_has_no_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text(BAD_SPACE)
    (tmp_path / "nostoppers.yaml").write_text("metric: val_loss\n")
    (tmp_path / "unreported.yaml").write_text("stoppers:\n  - {policy: patience, metric: bleu, patience: 2}\n")
    (tmp_path / "notalist.yaml").write_text("stoppers: 5\n")
    run = subprocess.run(
        [*_tune_stop(), "search", str(tmp_path / "bad.yaml")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().splitlines() == [
        f"tune-stop: error: {tmp_path / 'bad.yaml'}: stoppers[0]: patience must be >= 0, but got patience=-1."
    ]


@pytest.mark.e2e
def test_console_script_runs_a_search_and_prints_the_summary(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    argv = [
        *_tune_stop(),
        "search",
        "perceptron-digits",
        "--max-epochs",
        "6",
        "--num-samples",
        "2",
        "--storage-path",
        str(tmp_path),
        "--name",
        "cli",
        "--num-cpus",
        "2",
        "--quiet",
    ]
    run = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "tune-stop: 6 trials of perceptron-digits (2 configurations x 3 folds)" in run.stdout
    assert "Stop reasons: " in run.stdout
    assert f"Results: {tmp_path / 'cli'}" in run.stdout
    assert (tmp_path / "cli" / "stop_reasons.csv").is_file()


def test_an_interrupted_search_exits_130_and_failed_trials_1(monkeypatch, capsys):
    from types import SimpleNamespace

    from tune_stop import cli

    def summary(trials, reasons, errors):
        return SimpleNamespace(num_trials=trials, stop_reasons=[{}] * reasons, num_errors=errors)

    assert cli._search_exit_code(summary(6, 4, 0)) == 130  # Ctrl-C: Ray stopped the search, trials unfinished
    assert cli._search_exit_code(summary(6, 6, 2)) == 1
    assert cli._search_exit_code(summary(6, 6, 0)) == 0

    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_cmd_spaces", interrupted)
    assert cli.main(["spaces"]) == 130
    assert capsys.readouterr().err.strip() == "tune-stop: interrupted"


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("{tmp}/curves.csv", "--out {tmp}/curves.csv is a file, not a folder"),
        ("{tmp}/curves.csv/report", "--out {tmp}/curves.csv/report cannot be created: {tmp}/curves.csv is a file"),
        ("/proc/tune-stop-report", "--out /proc/tune-stop-report cannot be written: "),
    ],
)
def test_recommend_refuses_an_unwritable_out_in_one_line_before_any_work(files, capsys, out, message):
    from tune_stop.cli import main

    before = (files / "curves.csv").read_bytes()
    argv = ["recommend", str(files / "curves.csv"), "--out", out.format(tmp=files)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tune-stop: error: {message.format(tmp=files)}") and "\n" not in err
    assert (files / "curves.csv").read_bytes() == before  # nothing lost or overwritten


def test_search_refuses_an_unwritable_storage_path_before_ray_starts(tmp_path, capsys, monkeypatch):
    import ray

    from tune_stop.cli import main

    def no_ray(*args, **kwargs):
        raise AssertionError("Ray was started before the storage path was checked")

    monkeypatch.setattr(ray, "init", no_ray)

    (tmp_path / "afile").write_text("x")
    for storage, message in ((tmp_path / "afile", "is a file"), ("/proc/tune-stop", "cannot be written")):
        assert main(["search", "perceptron-xor", "--storage-path", str(storage), "--name", "x"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"tune-stop: error: --storage-path {storage}") and message in err


def test_no_test_stops_a_ray_it_did_not_start():
    """`ray stop` ends every Ray process on the machine, a user's running search included."""
    from pathlib import Path

    forced, command = '"stop", ' + '"--force"', "ray " + "stop"  # built here, so this file does not match itself
    for path in sorted(Path(__file__).parent.glob("*.py")):
        text = path.read_text().replace(f"`{command}`", "")  # prose about it is fine
        assert forced not in text and f"{command} " not in text and f'{command}"' not in text, path.name


def test_recommend_names_damaged_or_doubtful_curves_on_stderr(files, capsys):
    """A row cut off mid-row, words among numbers, no target: each read on, and said in one line."""
    text = (files / "curves.csv").read_text()
    (files / "cut.csv").write_text(text[: text.rindex(",")])  # the last row loses its test_accuracy
    assert run_main(["recommend", str(files / "cut.csv"), "--out", str(files / "cut")]) == 0
    assert (
        "cut.csv: the last row (trial t3) is cut off mid-row (4 of 5 fields); it is left out, so that trial ends "
        "an epoch early, as if cut short." in capsys.readouterr().err
    )
    with pytest.warns(UserWarning, match="cut off mid-row"):
        kept = load_curves(files / "cut.csv")
    assert len(kept) == 19 and kept.loc[kept["trial_id"] == "t3", "epoch"].max() == 4
    curves = pd.read_csv(files / "curves.csv")
    curves["val_loss"] = curves["val_loss"].astype(object)
    curves.loc[2, "val_loss"] = "n.a."
    curves.to_csv(files / "word.csv", index=False)
    assert run_main(["recommend", str(files / "word.csv"), "--out", str(files / "word")]) == 0
    err = capsys.readouterr().err
    assert (
        "metric 'val_loss': 1 of 20 values are not numbers (e.g. 'n.a.'); they are read as NaN, where a non-finite "
        "guard stops a curve." in err
    )
    curves = pd.read_csv(files / "curves.csv").drop(columns=["test_accuracy"])
    curves.to_csv(files / "untargeted.csv", index=False)
    assert run_main(["recommend", str(files / "untargeted.csv"), "--out", str(files / "untargeted")]) == 0
    assert "no test_accuracy or fid in the curves: quality is judged by val_loss" in capsys.readouterr().err


def test_search_with_stoppers_says_when_it_would_draw_the_configurations_they_were_chosen_on(tmp_path, capsys):
    from types import SimpleNamespace

    from tune_stop.cli import _note_same_configurations

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


def test_the_audit_summary_explains_compute_below_a_prediction_that_assumed_no_asha(monkeypatch, capsys, tmp_path):
    import analysis
    from tune_stop import cli

    table = pd.DataFrame(
        {
            "quantity": ["regret", "compute_used"],
            "predicted": [0.005, 0.9],
            "low": [0.002, 0.78],
            "high": [0.009, 1.0],
            "realized": [0.02, 0.556],
            "judged_on": ["12 audit curves", "the 20 trials that ran under the policy"],
            "outside": [True, True],
            "side": ["above", "below"],
        }
    )
    table.attrs.update(fired=0, audit_curves=12)
    monkeypatch.setattr(analysis, "audit_table", lambda curves, metadata: table)
    monkeypatch.setattr(analysis, "load_experiment", lambda experiment: pd.DataFrame())
    block = {"interval": 0.8, "new_configs": 4, "asha": None}
    for scheduler, explained in (({"name": "asha", "grace_period": 3}, True), ({"name": "fifo"}, False)):
        metadata = {"audited_configs": [1], "prediction": block, "replayed_scheduler": scheduler}
        monkeypatch.setattr(cli, "_metadata", lambda source, metadata=metadata: metadata)
        cli._print_audit(tmp_path)
        printed = capsys.readouterr().out.splitlines()
        regret, compute = (next(line for line in printed if line.strip().startswith(q)) for q in ("regret", "compute"))
        assert regret.endswith("ABOVE the interval")  # a regret outside its interval is flagged either way
        assert compute.endswith("below the interval: ASHA cut trials the prediction did not assume") is explained
        assert compute.endswith("BELOW the interval") is not explained
        assert "the policy fired on none of the 12 audit curves" in "\n".join(printed)


@pytest.mark.parametrize(
    ("flags", "note"),
    [
        (["--tolerance", "2"], "--tolerance 2 allows a regret of 200%: it is a share (0.02 is 2%)"),
        (["--penalty", "1"], "--penalty weighs only --objective tradeoff; it plays no part with --objective search"),
        (["--grace-period", "5"], "--grace-period 5 leaves threshold and patience no epoch to fire on"),
        (["--metric", "val_loss", "--mode", "max"], "--mode max for val_loss, whose name suggests min"),
    ],
)
def test_recommend_notes_flag_values_that_are_valid_but_doubtful(files, capsys, flags, note):
    assert run_main(["recommend", str(files / "curves.csv"), "--out", str(files / "out"), *flags]) == 0
    assert f"tune-stop: note: {note}" in capsys.readouterr().err
    # Defaults say nothing.
    assert run_main(["recommend", str(files / "curves.csv"), "--out", str(files / "plain")]) == 0
    assert "note:" not in capsys.readouterr().err


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
