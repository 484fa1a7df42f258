"""The command line: bad input gives one line and exit code 2; a real search runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_files import BAD_SPACE, folder_digest, make_files, run_main
from tune_stop.app.cli import main


@pytest.fixture
def files(tmp_path, monkeypatch):
    return make_files(tmp_path, monkeypatch)


BAD_INPUT = [
    # argv (with {tmp} for the fixture folder), words the one line must contain
    (["search", "no-such-space"], "unknown space"),
    (["search", "--resume", "{tmp}/nowhere"], "--resume {tmp}/nowhere: no such experiment folder"),
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
    (["search", "mlp-digits", "--tolerance", "0.05"], "--tolerance is the tolerance --calibrate chooses within"),
    (
        ["search", "gan-digits", "--tolerance-points", "3"],
        "--tolerance-points is the tolerance --calibrate chooses within; without --calibrate, choose with "
        "tune-stop recommend EXPERIMENT --tolerance-points",
    ),
    (["search", "gan-digits", "--calibrate", "4", "--tolerance-points", "-3"], "--tolerance-points: must be > 0"),
    (["search", "gan-digits", "--tolerance-sd", "2"], "--tolerance-sd is the tolerance --calibrate chooses within"),
    (
        ["search", "mlp-digits", "--calibrate", "3", "--tolerance-sd", "2"],
        "--tolerance-sd needs the estimator's own SD in the curves (a <metric>_sd column), which only the GAN "
        "trainable reports (fid_sd), not perceptron",
    ),
    (
        ["search", "gan-digits", "--calibrate", "4", "--tolerance-sd", "2", "--tolerance-points", "3"],
        "argument --tolerance-points: not allowed with argument --tolerance-sd",
    ),
    (
        ["search", "gan-digits", "--calibrate", "4", "--tolerance", "0.1", "--tolerance-points", "3"],
        "argument --tolerance-points: not allowed with argument --tolerance",
    ),
    (["search", "mlp-digits", "--calibrate", "3", "--tolerance", "-0.1"], "--tolerance: must be >= 0"),
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
    (["search", "mlp-digits", "--resume", "{tmp}/results/taken"], "give a SPACE to search, or --resume"),
    (["search", "--max-failures", "-1", "mlp-digits"], "--max-failures: must be >= 0"),
    (["search", "mlp-digits", "--full-curves", "--scheduler", "asha"], "--full-curves trains every trial"),
    (["search", "--resume", "{tmp}/results/taken", "--full-curves"], "drop --full-curves"),
    (["search", "--resume", "{tmp}/results/taken", "--tolerance", "0.05"], "drop --tolerance"),
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
    (["recommend", "{tmp}/curves.csv", "--tolerance-points", "0"], "--tolerance-points: must be > 0"),
    (["recommend", "{tmp}/curves.csv", "--tolerance-sd", "0"], "--tolerance-sd: must be > 0"),
    (
        ["recommend", "{tmp}/curves.csv", "--tolerance-sd", "2"],
        "a tolerance in standard deviations needs the estimator's own SD, a column test_accuracy_sd or val_loss_sd",
    ),
    (
        ["recommend", "{tmp}/curves.csv", "--tolerance", "0.1", "--tolerance-points", "2"],
        "argument --tolerance-points: not allowed with argument --tolerance",
    ),
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


@pytest.mark.parametrize(("argv", "words"), BAD_INPUT)
def test_bad_input_is_one_line_and_exit_code_2(files, capsys, argv, words):
    before = folder_digest(files)
    code = run_main([part.replace("{tmp}", str(files)) for part in argv])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("tune-stop")
    assert words.replace("{tmp}", str(files)) in lines[0]
    assert captured.out == ""
    assert folder_digest(files) == before  # nothing already written changed
    assert not any(Path.cwd().iterdir())  # and nothing new was written


def test_spaces_lists_the_builtins(capsys):
    assert main(["spaces"]) == 0
    out = capsys.readouterr().out
    for name in ("perceptron-xor", "perceptron-digits", "mlp-digits"):
        assert name in out


def _tune_stop() -> list[str]:
    script = Path(sys.executable).with_name("tune-stop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tune_stop.app.cli"]


@pytest.mark.e2e  # a new interpreter imports everything: seconds, kept out of the fast set
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
def test_console_script_prints_a_progress_line_and_the_summary_and_ray_tables_only_with_verbose(tmp_path):
    """Each run in its own process, as a user runs it: the CLI sets Ray's output engine before Ray starts."""

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_tune_stop(), "search", "perceptron-xor", "--max-epochs", "3", "--storage-path", str(tmp_path), *flags],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=300,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )

    # One CPU each: one trial actor to start (each imports torch: seconds of CPU), all these runs need.
    plain = run("--name", "plain", "--num-cpus", "1")
    assert plain.returncode == 0, plain.stderr[-2000:]
    shown = plain.stdout + plain.stderr
    assert "trials 3/3 done, 0 running, 0 waiting | stopped: completed 3 | best val_loss" in plain.stderr
    assert "│" not in shown and "Trial name" not in shown and "Configuration for experiment" not in shown
    assert "fail_at_epoch" not in shown and "fail_marker_dir" not in shown
    assert len(shown.strip().splitlines()) < 15
    assert "tune-stop: 3 trials of perceptron-xor (3 configurations x 1 fold) in " in plain.stdout
    assert "Stop reasons: completed 3" in plain.stdout
    assert f"Results: {tmp_path / 'plain'}" in plain.stdout
    assert (tmp_path / "plain" / "stop_reasons.csv").is_file()
    assert f"Next: `tune-stop report {tmp_path / 'plain'}`" in plain.stdout
    assert "curves: analysis.load_experiment(<results>)" in plain.stdout
    verbose = run("--name", "verbose", "--num-cpus", "1", "--verbose")
    assert verbose.returncode == 0 and "trials 3/3 done" not in verbose.stderr
    assert "│" in verbose.stdout + verbose.stderr  # Ray's own status tables
    assert "fail_at_epoch" not in verbose.stdout + verbose.stderr  # test-only keys never reach a config


def test_an_interrupted_search_exits_130_and_failed_trials_1(monkeypatch, capsys):
    from types import SimpleNamespace

    from tune_stop.app import cli
    from tune_stop.app._summaries import search_exit_code

    def summary(trials, reasons, errors):
        return SimpleNamespace(num_trials=trials, stop_reasons=[{}] * reasons, num_errors=errors)

    assert search_exit_code(summary(6, 4, 0)) == 130  # Ctrl-C: Ray stopped the search, trials unfinished
    assert search_exit_code(summary(6, 6, 2)) == 1
    assert search_exit_code(summary(6, 6, 0)) == 0

    def interrupted() -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_spaces", interrupted)
    assert cli.main(["spaces"]) == 130
    assert capsys.readouterr().err.strip() == "tune-stop: interrupted"


def test_no_test_stops_a_ray_it_did_not_start():
    """`ray stop` ends every Ray process on the machine, a user's running search included."""
    from pathlib import Path

    forced, command = '"stop", ' + '"--force"', "ray " + "stop"  # built here, so this file does not match itself
    for path in sorted(Path(__file__).parent.glob("*.py")):
        text = path.read_text().replace(f"`{command}`", "")  # prose about it is fine
        assert forced not in text and f"{command} " not in text and f'{command}"' not in text, path.name


def test_a_calibrate_tolerance_in_percent_gets_the_note_recommend_gives(capsys):
    from tune_stop.app.cli import main

    # --calibrate 6 of 6 samples is refused after the flags are read and before Ray starts: the note comes first.
    assert main(["search", "mlp-digits", "--calibrate", "6", "--tolerance", "5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == "tune-stop: note: --tolerance 5 allows a regret of 500%: it is a share (0.02 is 2%)"
    assert err[1].startswith("tune-stop: error: --calibrate must be at least 2 and below")
    assert main(["search", "mlp-digits", "--calibrate", "6", "--tolerance", "0.05"]) == 2
    assert "note" not in capsys.readouterr().err
