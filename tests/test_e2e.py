"""End to end: real Ray Tune searches on tiny data, read back from the experiment folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from analysis import CurveSet, Policy, load_experiment, load_stop_reasons, replay, stop_epochs
from search_spaces import POLICIES, load_space, threshold_key
from tests.expected import RECOMMENDATION_COLUMNS
from tune_stop._count import counted
from tune_stop.app.search import SearchOptions, run_search
from tune_stop.experiment import read_record
from tune_stop.stopping import load_stopping

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mlp_search(ray_session, tmp_path_factory):
    """mlp-digits: 6 configurations x 3 folds, ASHA, per-trial val_loss thresholds."""
    space = load_space("mlp-digits").with_overrides(max_epochs=12)
    storage = tmp_path_factory.mktemp("results")
    summary = run_search(space, SearchOptions(storage_path=str(storage), name="mlp", verbose=0))
    return space, summary, load_experiment(summary.experiment_path)


def test_every_trial_has_a_stop_reason_and_none_failed(mlp_search):
    _, summary, curves = mlp_search
    assert summary.num_trials == 6 * 3 and summary.num_errors == 0
    reasons = load_stop_reasons(summary.experiment_path)
    assert sorted(reasons["trial_id"]) == sorted(curves["trial_id"].unique())
    assert set(reasons["stop_reason"]) <= {"threshold", "patience", "scheduler", "completed", "non_finite"}


def test_each_reason_matches_the_recorded_curve(mlp_search):
    space, _, curves = mlp_search
    key = f"config/{threshold_key('val_loss')}"
    for trial_id, curve in curves.groupby("trial_id"):
        reason, stop_epoch = curve["stop_reason"].iloc[0], int(curve["stop_epoch"].iloc[0])
        last_epoch = int(curve["epoch"].max())
        assert stop_epoch == last_epoch, trial_id
        assert list(curve["epoch"]) == list(range(1, last_epoch + 1)), "gaps or duplicated epochs"
        own_threshold = curve[key].iloc[0]
        reached = curve.loc[curve["val_loss"] <= own_threshold, "epoch"]
        if reason == "threshold":
            # Stopped exactly at the first epoch its metric reached its own threshold.
            assert int(reached.min()) == stop_epoch, trial_id
        else:
            # Any other reason: its own threshold was never reached.
            assert reached.empty, trial_id
        if reason == "completed":
            assert last_epoch == space.max_epochs
        if reason == "scheduler":
            assert last_epoch < space.max_epochs


def test_asha_and_thresholds_both_stopped_trials(mlp_search):
    _, summary, _ = mlp_search
    counts = summary.reason_counts()
    assert counts["scheduler"] >= 1
    assert counts["threshold"] >= 1


def test_folds_of_a_configuration_share_hyperparameters(mlp_search):
    _, _, curves = mlp_search
    hyper = [c for c in curves.columns if c.startswith("config/") and c not in ("config/fold",)]
    per_trial = curves.groupby("trial_id").first()
    for config_id, group in per_trial.groupby("config_id"):
        assert sorted(group["fold"]) == [0, 1, 2], config_id
        for column in hyper:
            values = group[column].map(repr).unique()
            assert len(values) == 1, (config_id, column)
    # Different configurations really differ.
    assert per_trial["config/lr"].nunique() == 6


def test_experiment_folder_is_a_standard_ray_experiment(mlp_search):
    from ray.tune import ExperimentAnalysis

    _, summary, _ = mlp_search
    analysis = ExperimentAnalysis(str(summary.experiment_path), default_metric="val_loss", default_mode="min")
    assert len(analysis.trials) == 18
    assert isinstance(analysis.dataframe(), pd.DataFrame)
    assert summary.best is not None
    assert summary.best["val_loss"] == pytest.approx(load_experiment(summary.experiment_path)["val_loss"].min())


def test_recommend_writes_every_report_file(mlp_search, tmp_path, capsys):
    from tune_stop.app.cli import main

    _, summary, _ = mlp_search
    before = sorted(p.relative_to(summary.experiment_path) for p in summary.experiment_path.rglob("*"))
    out = tmp_path / "report"
    assert main(["recommend", str(summary.experiment_path), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"Report: {out}" in printed
    assert "Replayed with the experiment's stopper settings: patience on val_loss: min_delta 0.001" in printed
    table = pd.read_csv(out / "recommendations.csv")
    assert list(table.columns[: len(RECOMMENDATION_COLUMNS)]) == RECOMMENDATION_COLUMNS
    assert set(table["metric"]) == {"val_loss", "val_accuracy"}
    assert (table["n_curves"] == 18).all() and (table["n_folds"] == 3).all() and (table["n_configs"] == 6).all()
    assert (table["cv_unit"] == "configuration").all() and (table["new_configs"] == 6).all()
    assert "Objective: tolerance (some curves were cut short; --objective chooses)." in printed
    assert (
        "Intervals (80%): mean regret and epochs saved, and the best and selected models' regret and compute "
        "used, of a new search of 6 configurations" in printed
    )
    candidates = pd.read_csv(out / "policies.csv")
    # One recommended candidate per row, but for rows whose policy cannot stop these short curves (UP).
    cannot = table["choice"] == "cannot stop a curve before its epoch budget ends"
    assert candidates["recommended"].sum() == (~cannot).sum() and table.loc[cannot, "recommended"].isna().all()
    markdown = (out / "recommendations.md").read_text()
    assert markdown.startswith("# What to run next\n\n- **Run:** ") and "| rule | value |" in markdown
    assert "## Reading" in markdown and "## What the figures mean" in markdown
    for name in ("curves_val_loss", "tradeoff_val_loss", "curves_val_accuracy", "tradeoff_val_accuracy"):
        data = (out / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    # The experiment folder is untouched.
    assert sorted(p.relative_to(summary.experiment_path) for p in summary.experiment_path.rglob("*")) == before


def test_report_prints_stop_reasons_and_best_trials(mlp_search, capsys):
    from tune_stop.app.cli import main

    _, summary, curves = mlp_search
    assert main(["report", str(summary.experiment_path)]) == 0
    out = capsys.readouterr().out
    assert "Stop reasons: " in out and "Best 5 trials by val_loss" in out
    best_trial = curves.loc[curves["val_loss"].idxmin(), "trial_id"]
    assert best_trial in out.split("Best 5 trials")[1].splitlines()[2]


def test_full_curves_then_recommend_sees_no_censored_curve(ray_session, tmp_path, capsys):
    from tune_stop.app.cli import main

    argv = ["search", "mlp-digits", "--full-curves", "--max-epochs", "5", "--num-samples", "2", "--quiet"]
    assert main([*argv, "--storage-path", str(tmp_path), "--name", "full"]) == 0
    experiment = tmp_path / "full"
    reasons = load_stop_reasons(experiment)
    assert len(reasons) == 6 and set(reasons["stop_reason"]) == {"completed"}
    # A completed trial records the search's metric and its final value.
    assert set(reasons["metric"]) == {"val_loss"} and reasons["value"].astype(float).gt(0).all()
    assert (load_experiment(experiment).groupby("trial_id")["epoch"].max() == 5).all()
    capsys.readouterr()
    assert main(["recommend", str(experiment), "--out", str(tmp_path / "report"), "--policy", "patience"]) == 0
    # The patience removed for the recording is replayed as the space had it.
    assert "patience on val_loss: min_delta 0.001" in capsys.readouterr().out
    table = pd.read_csv(tmp_path / "report" / "recommendations.csv").set_index(["policy", "metric"])
    assert (table["n_censored"] == 0).all()
    assert table.loc[("patience", "val_loss"), "description"].endswith("by more than 0.001")
    # Whole curves: the search-level figures (but for Prechelt's UP3 and PQ1, whose strips of 5 let them stop no
    # curve before the end of these 5 epochs), and the space's ASHA replayed beside the policy.
    cannot = table["choice"] == "cannot stop a curve before its epoch budget ends"
    assert sorted(table.index[cannot]) == [("prechelt_pq1", "val_loss"), ("prechelt_up3", "val_loss")]
    assert table.loc[~cannot, ["best_regret", "selected_regret", "compute_used"]].notna().all().all()
    assert main(["recommend", str(experiment), "--out", str(tmp_path / "asha"), "--policy", "patience", "--asha"]) == 0
    beside = pd.read_csv(tmp_path / "asha" / "recommendations.csv").set_index(["policy", "metric"])
    alone = beside.loc[("asha_alone", "val_loss")]
    assert alone["description"] == "ASHA on val_loss (min), grace period 3, reduction factor 3, 1 worker, alone"
    assert alone["compute_used"] < 1.0  # 6 trials x 5 epochs: rungs at 3, the later trials below the cutoff stop
    # The recommendation runs in the next search: its stoppers file replaces the space's stoppers.
    assert main(["recommend", str(experiment), "--out", str(tmp_path / "loose"), "--tolerance", "0.5"]) == 0
    assert "- Run: " in (printed := capsys.readouterr().out) and "--stoppers stoppers.yaml" in printed
    stoppers = tmp_path / "loose" / "stoppers.yaml"
    argv = ["search", "mlp-digits", "--stoppers", str(stoppers), "--max-epochs", "5", "--num-samples", "2", "--quiet"]
    assert main([*argv, "--audit-fraction", "0.5", "--storage-path", str(tmp_path), "--name", "next"]) == 0
    record = read_record(tmp_path / "next")
    assert record.stoppers_from == str(stoppers) and record.audited_configs == [1]
    assert set(load_stop_reasons(tmp_path / "next")["stop_reason"]) <= {"completed", "asha", *POLICIES}
    # The audit configuration's trials ran their whole budget, and the summary sets realized beside predicted.
    curves = load_experiment(tmp_path / "next")
    assert (curves[curves["config_id"] == 1].groupby("trial_id")["epoch"].max() == 5).all()
    printed = capsys.readouterr().out
    assert "Audit: 1 configuration trained to the budget. Predicted by tune-stop recommend" in printed
    assert "regret" in printed.split("Audit:")[1] and "on 3 audit curves" in printed
    assert main(["report", str(tmp_path / "next")]) == 0
    assert "Audit: 1 configuration trained" in capsys.readouterr().out


def test_xor_perceptron_tight_threshold_never_fires(ray_session, tmp_path):
    space = load_space("perceptron-xor").with_overrides(max_epochs=15)
    summary = run_search(space, SearchOptions(storage_path=str(tmp_path), name="xor", verbose=0))
    assert summary.num_errors == 0
    reasons = load_stop_reasons(summary.experiment_path)
    assert len(reasons) == space.num_samples
    assert set(reasons["stop_reason"]) == {"completed"}
    assert set(reasons["stop_epoch"]) == {15}


def test_readme_example_with_your_own_tuner(tmp_path):
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "own_tuner.py"
    # Another Ray "running" on the machine (its address file points nowhere): the example must not join it.
    temp = Path(tempfile.mkdtemp(prefix="ts-own-"))
    (temp / "ray").mkdir()
    (temp / "ray" / "ray_current_cluster").write_text("127.0.0.1:9")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # The example runs the file `recommend` wrote, loaded with load_stopping (one Tuner run: a Ray start costs
    # seconds). Its pilot: whole 20-epoch curves that level off at val_loss 0.3-0.45, so that the threshold
    # chosen fires on the example's perceptrons too (they pass 0.4 within a few epochs).
    from tune_stop.app.cli import main

    rng = np.random.default_rng(0)
    pilot = []
    for config in range(12):
        tau, floor = rng.uniform(2, 6), rng.uniform(0.3, 0.45)
        for fold in range(3):
            loss = floor + 1.5 * np.exp(-np.arange(1, 21) / tau) + rng.normal(0, 0.005, 20)
            pilot += [
                {"trial_id": f"c{config}f{fold}", "config_id": f"c{config}", "fold": fold, "epoch": epoch + 1}
                | {"val_loss": value, "test_accuracy": 1 - value / 2}
                for epoch, value in enumerate(loss)
            ]
    pd.DataFrame(pilot).to_csv(tmp_path / "pilot.csv", index=False)
    answer = tmp_path / "answer"
    argv = [str(tmp_path / "pilot.csv"), "--policy", "threshold", "--tolerance", "0.05", "--out", str(answer)]
    assert main(["recommend", *argv]) == 0
    stopping = answer / "stoppers.yaml"
    assert "policy: threshold, metric: val_loss" in stopping.read_text()
    results = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, str(example), "--num-samples", "3", "--storage-path", str(results), "--stopping", stopping],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        env={**env, "RAY_TMPDIR": str(temp), "RAY_AUTH_MODE": "disabled"},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "best val_loss" in run.stdout
    assert "Connecting to existing Ray cluster" not in run.stderr
    (experiment,) = [p for p in results.iterdir() if p.is_dir()]
    reasons = load_stop_reasons(experiment)
    assert len(reasons) == 3 and reasons["stop_reason"].notna().all()
    # The Tuner stopped every trial where the replay of the loaded recommendation says.
    curves = load_experiment(experiment)
    replayed = replay(curves, [load_stopping(stopping, max_epochs=20).stopper]).set_index("trial_id")
    lengths = curves.groupby("trial_id")["epoch"].max()
    assert (replayed.loc[lengths.index, "stop_epoch"].fillna(20).astype(int) == lengths).all()
    assert (lengths < 20).any(), "the threshold stopped no trial: the check tests nothing"
    assert set(reasons["stop_reason"]) <= {"threshold", "completed"}


def test_failing_trials_are_recorded_as_error(ray_session, tmp_path):
    space = load_space("perceptron-digits").with_overrides(num_samples=1, max_epochs=3, scheduler="fifo")
    # The CLI refuses a missing dataset up front; here the trials themselves fail in setup.
    missing = {"dataset": "mnist", "data_root": str(tmp_path / "no-data")}
    options = SearchOptions(storage_path=str(tmp_path), name="err", verbose=0)
    summary = run_search(space, options, overrides=missing)
    assert summary.num_errors == 3
    reasons = load_stop_reasons(summary.experiment_path)
    assert list(reasons["stop_reason"]) == ["error"] * 3
    assert all("not found" in detail for detail in reasons["detail"])


def test_gan_digits_search_with_asha_and_per_trial_fid_thresholds(ray_session, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNE_STOP_CACHE", str(tmp_path / "cache"))
    space = load_space("gan-digits").with_overrides(num_samples=2, max_epochs=6)
    # 2 passes per epoch instead of the space's 6: the space's rules and scheduler as it runs them, in less time.
    summary = run_search(space, SearchOptions(storage_path=str(tmp_path), name="gan", verbose=0), {"passes": 2})
    assert summary.num_trials == 6 and summary.num_errors == 0
    curves = load_experiment(summary.experiment_path)
    reasons = load_stop_reasons(summary.experiment_path)
    assert sorted(reasons["trial_id"]) == sorted(curves["trial_id"].unique())
    assert set(reasons["stop_reason"]) <= {"threshold", "gl", "scheduler", "completed", "non_finite"}
    # No discriminator-accuracy rule (it would have stopped the best GAN of a recorded search): the space's
    # stoppers watch FID only, and the record says so for `tune-stop recommend`.
    assert all(s.get("metric") != "d_accuracy" for s in space.stoppers)
    assert "config/d_accuracy_threshold" not in curves
    assert read_record(summary.experiment_path).stopped_metrics == [("fid", "min")]
    for _, curve in curves.groupby("trial_id"):
        reason, stop_epoch = curve["stop_reason"].iloc[0], int(curve["stop_epoch"].iloc[0])
        assert stop_epoch == int(curve["epoch"].max())
        first_hit = curve.loc[curve["fid"] <= curve["config/fid_threshold"], "epoch"]
        if reason == "threshold":
            assert int(first_hit.min()) == stop_epoch
        else:
            assert first_hit.empty
    assert (curves["fid_samples"] == 2000).all() and (curves["fid_features"] == "classifier").all()
    assert curves[["fid_sd", "fid_test"]].notna().all().all()  # the estimator's SD and the independent judge
    # Each trial kept its best snapshot (the lowest fid up to its stop) in its folder, and the summary names the
    # best trial's.
    from tune_stop.app._summaries import kept_snapshot

    for trial_id, curve in curves.groupby("trial_id"):
        if curve["fid"].notna().any():  # a diverged trial (stop reason non_finite) may have kept nothing
            lowest = int(curve.loc[curve["fid"].idxmin(), "epoch"])
            assert int(curve["kept_epoch"].iloc[-1]) == lowest, trial_id
    best = summary.best
    assert best is not None and int(best["kept_epoch"]) == int(best["epoch"])  # selected by fid, kept by fid
    kept = Path(best["trial_path"]) / "best"
    assert torch.load(kept / "generator.pt", weights_only=False)["epoch"] == int(best["epoch"])
    assert (kept / "samples.png").is_file() and f"{kept}/ (generator.pt, samples.png)" in kept_snapshot(best)
    # `report` ranks by the experiment's own metric; `recommend` tunes the metric the stoppers used and, asked,
    # the discriminator's accuracy (higher is the direction it stops on).
    from tune_stop.app.cli import main

    assert main(["report", str(summary.experiment_path)]) == 0
    out = tmp_path / "gan-report"
    assert main(["recommend", str(summary.experiment_path), "--out", str(out), "--policy", "threshold"]) == 0
    assert set(pd.read_csv(out / "recommendations.csv")["metric"]) == {"fid"}
    argv = ["recommend", str(summary.experiment_path), "--out", str(out), "--policy", "threshold"]
    assert main([*argv, "--metric", "fid", "--metric", "d_accuracy"]) == 0
    table = pd.read_csv(out / "recommendations.csv")
    assert {"fid", "d_accuracy"} <= set(table["metric"])
    assert table.loc[table["metric"] == "d_accuracy", "mode"].iloc[0] == "max"


class DivergingGAN:
    """Factory for a GANTrainable whose losses go NaN from epoch 3 on (a stand-in for divergence)."""

    @staticmethod
    def make():
        from tune_stop.trainables import GANTrainable

        class Diverging(GANTrainable):
            def train_epoch(self):
                losses = super().train_epoch()
                return {k: float("nan") for k in losses} if self.epoch >= 2 else losses

        return Diverging


def test_a_diverging_gan_stops_as_non_finite_and_asha_never_sees_nan(ray_session, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNE_STOP_CACHE", str(tmp_path / "cache"))
    space = load_space("gan-digits").with_overrides(num_samples=1, max_epochs=8)
    options = SearchOptions(storage_path=str(tmp_path), name="nan", verbose=0)
    summary = run_search(space, options, overrides={"width": 8}, trainable_cls=DivergingGAN.make())
    assert summary.num_errors == 0
    reasons = load_stop_reasons(summary.experiment_path)
    # Trials that were not stopped earlier (by ASHA at epoch 3 or a threshold) diverge at epoch 3.
    diverged = reasons[reasons["stop_reason"] == "non_finite"]
    assert len(diverged) >= 1
    assert (diverged["stop_epoch"] == 3).all()
    assert set(diverged["metric"]) <= {"d_loss", "g_loss", "fid"}
    assert set(reasons["stop_reason"]) <= {"non_finite", "threshold", "scheduler"}


def test_recommend_reads_a_plain_ray_tune_experiment(ray_session, tmp_path, capsys):
    """An experiment written without tune-stop: a function trainable, no fold or config_id, Ray's training_iteration."""
    from ray import tune

    from tune_stop.app.cli import main

    def trainable(config):
        rng = np.random.default_rng(config["seed"])
        for step in range(1, 13):
            loss = (step - config["best"]) ** 2 / 50 + 0.2 + rng.normal(0, 0.01)
            tune.report({"val_loss": loss, "test_accuracy": 1 - loss / 2})

    tuner = tune.Tuner(
        trainable,
        param_space={"seed": tune.grid_search(list(range(8))), "best": tune.randint(3, 10)},
        run_config=tune.RunConfig(storage_path=str(tmp_path), name="plain", verbose=0),
    )
    assert not tuner.fit().errors
    capsys.readouterr()
    assert main(["recommend", str(tmp_path / "plain"), "--out", str(tmp_path / "report"), "--policy", "patience"]) == 0
    table = pd.read_csv(tmp_path / "report" / "recommendations.csv").set_index(["policy", "metric"])
    row = table.loc[("patience", "val_loss")]
    assert row["n_curves"] == 8 and row["n_censored"] == 0 and row["cv_unit"] == "trial" and row["cv_groups"] == 5
    assert np.isfinite(row[["cv_regret_mean", "regret_high", "epochs_saved_low"]].astype(float)).all()
    markdown = (tmp_path / "report" / "recommendations.md").read_text()
    assert "5 groups of trials = 5 held-out cells" in markdown and "too many censored" not in markdown


def test_damaged_results_are_noticed_and_said_on_the_screen(mlp_search, tmp_path, capsys):
    """One trial's progress.csv cut off mid-row and its result.json deleted, as a crash or a full disk leaves them."""
    import shutil

    from tune_stop.app.cli import main

    _, summary, _ = mlp_search
    experiment = tmp_path / "damaged"
    shutil.copytree(summary.experiment_path, experiment)
    reasons = load_stop_reasons(experiment)
    victim = reasons.sort_values("stop_epoch").iloc[-1]
    progress = next(p for p in experiment.glob("*/progress.csv") if victim["trial_id"] in p.parent.name)
    lines = progress.read_text().rstrip("\n").split("\n")
    progress.write_text("\n".join([*lines[:-1], lines[-1][: len(lines[-1]) // 3]]))  # cut off mid-row
    (progress.parent / "result.json").unlink()
    capsys.readouterr()
    assert main(["recommend", str(experiment), "--out", str(tmp_path / "report"), "--policy", "patience"]) == 0
    err = capsys.readouterr().err
    assert f"trial {victim['trial_id']}: the last row of its results lacks" in err
    assert "results end before the epoch stop_reasons.csv records" in err


def test_calibrate_runs_the_stopping_configuration_it_chose(ray_session, tmp_path, capsys):
    from tune_stop.app.cli import main

    # The tolerance in test-accuracy points (as a GAN user gives FID points): the loop chooses within them.
    argv = ["search", "mlp-digits", "--calibrate", "6", "--num-samples", "9", "--max-epochs", "10"]
    argv += ["--tolerance-points", "0.01"]
    assert main([*argv, "--quiet", "--storage-path", str(tmp_path), "--name", "loop"]) == 0
    printed = capsys.readouterr().out
    assert "\nTolerance: 0.01 test_accuracy points. " in printed
    loop = json.loads((tmp_path / "loop-recommendation" / "loop.json").read_text())
    assert loop["tolerance_points"] == 0.01
    assert (
        "Tolerance: 0.01 test_accuracy points. "
        in (tmp_path / "loop-recommendation" / "recommendations.md").read_text()
    )
    written = tmp_path / "loop-recommendation" / "configuration.yaml"
    chosen = yaml.safe_load(written.read_text())
    table = pd.read_csv(tmp_path / "loop-recommendation" / "configurations.csv")
    described = table[table["chosen"]]["configuration"].iloc[0]
    assert f"Ran: {described}, the stopping configuration chosen on the calibration." in printed
    assert (
        "Stopping configurations: " in printed and "the space's ASHA (grace 3, reduction factor 3)" in printed
    )  # its figures beside
    opening = (tmp_path / "loop-recommendation" / "recommendations.md").read_text().splitlines()[2]
    assert opening.startswith(f"- **Run:** {described}: `tune-stop search SPACE --stoppers configuration.yaml`")
    at_once = int(ray_session.cluster_resources()["CPU"])  # judged at the concurrency of this Ray: 1 CPU per trial
    assert f"{counted(at_once, 'trial')} at once" in printed
    # The search ran the file: its scheduler replaced the space's (ASHA, grace 3), its stoppers ran.
    recorded = read_record(tmp_path / "loop")
    assert recorded.stoppers_from == str(written) and recorded.audited_configs == []
    assert {k: v for k, v in recorded.replayed_scheduler.items() if k in chosen["scheduler"]} == chosen["scheduler"]
    assert [entry["policy"] for entry in recorded.stoppers] == [entry["policy"] for entry in chosen["stoppers"]]
    search = load_experiment(tmp_path / "loop")
    assert search["trial_id"].nunique() == 9 and "Compute used: " in printed


def test_calibrate_runs_the_whole_loop_and_continues_after_an_interrupt(ray_session, tmp_path, capsys):
    from tune_stop.app.cli import main

    # --scheduler given: the search keeps it (no whole stopping configuration is judged) and runs the per-trial
    # recommendation, with an audit configuration measuring it.
    argv = [
        "search",
        "mlp-digits",
        "--scheduler",
        "fifo",
        "--calibrate",
        "4",
        "--num-samples",
        "7",
        "--max-epochs",
        "10",
        "--tolerance",
        "0.05",
    ]
    argv += ["--quiet", "--storage-path", str(tmp_path), "--name", "loop"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for line in ("Calibrated search: 12 calibration trials trained to the budget", "Policy: ", "Compute used: "):
        assert line in printed
    # The loop chose within the tolerance it was given, and says so.
    assert "within 5% of full training" in printed or "none within the 5% tolerance" in printed
    assert "the 5.0% tolerance" in (tmp_path / "loop-recommendation" / "recommendations.md").read_text()
    assert "Best model found: val_loss" in printed
    assert "--scheduler fifo given: no stopping configuration judged, the search keeps that scheduler" in printed
    calibration = load_experiment(tmp_path / "loop-calibration")
    assert (calibration.groupby("trial_id")["epoch"].max() == 10).all() and calibration["trial_id"].nunique() == 12
    assert (tmp_path / "loop-recommendation" / "recommendations.md").is_file()
    assert not (tmp_path / "loop-recommendation" / "configuration.yaml").exists()
    search = load_experiment(tmp_path / "loop")
    assert search["trial_id"].nunique() == 9  # the other 3 samples x 3 folds
    assert not set(search["config/lr"]) & set(calibration["config/lr"])  # configurations the calibration never saw
    # The recommended stoppers ran, with an audit configuration measuring them.
    recorded = read_record(tmp_path / "loop")
    assert recorded.stoppers_from == str(tmp_path / "loop-recommendation" / "stoppers.yaml")
    assert recorded.audited_configs == [1] and "Audit: 1 configuration trained to the budget" in printed
    # Each trial that ran under the recommended rule stopped at the first epoch the rule fires (FIFO: nothing
    # else stops them); the audit configuration ran to the budget and recorded where the rule would have fired.
    assert recorded.prediction is not None
    block = recorded.prediction["policy"]
    policy = Policy(block["family"], block["metric"], block["mode"], (block["value"],), settings=block["settings"])
    curves = CurveSet.from_frame(search)
    fires = stop_epochs(policy, curves)[:, 0]
    audit = np.isin(curves.config_ids.astype(int), recorded.audited_configs)
    assert (curves.lengths[audit] == 10).all()
    assert np.array_equal(np.where(fires[~audit] > 0, fires[~audit], 10), curves.lengths[~audit])
    reasons = load_stop_reasons(tmp_path / "loop").set_index("trial_id").loc[curves.trial_ids]
    recorded_audit = pd.to_numeric(reasons["audit_stop_epoch"], errors="coerce").fillna(0).astype(int).to_numpy()
    assert np.array_equal(recorded_audit[audit], fires[audit])
    assert (recorded_audit[~audit] == 0).all()
    # Run again: every part is resumed, nothing is trained twice.
    before = len(search)
    assert "tune-stop: 1/3 calibration: 4 configurations trained to the budget\n" in printed
    assert main(argv) == 0
    assert len(load_experiment(tmp_path / "loop")) == before
    again = capsys.readouterr().out  # and it says so, rather than that it trained them
    for part, folder in (("1/3 calibration", "loop-calibration"), ("3/3 search", "loop")):
        line = (
            f"tune-stop: {part}: continuing {tmp_path / folder} as it was recorded (only its unfinished trials train)"
        )
        assert line in again.splitlines()
    # Continued with another tolerance, the loop would choose otherwise than its search ran: one line, exit 2.
    capsys.readouterr()
    other = [*argv]
    other[other.index("0.05")] = "0.02"
    assert main(other) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"tune-stop: error: --tolerance 0.02: this loop ({tmp_path / 'loop-recommendation'}) chose its stopping "
        "with --tolerance 0.05; continue it with the same, or start a new loop with --name"
    ]
    assert len(load_experiment(tmp_path / "loop")) == before


def test_report_without_stop_reasons_csv_names_it_and_reads_rays_trial_states(mlp_search, tmp_path, capsys):
    import shutil

    from tune_stop.app.cli import main

    _, summary, _ = mlp_search
    experiment = tmp_path / "lost"
    shutil.copytree(summary.experiment_path, experiment)
    recorded = load_stop_reasons(experiment)
    (experiment / "stop_reasons.csv").unlink()
    capsys.readouterr()
    assert main(["report", str(experiment)]) == 0
    captured = capsys.readouterr()
    assert f"{experiment / 'stop_reasons.csv'} is missing: the stop reasons are read from Ray's trial states" in (
        captured.err
    )
    counts = captured.out.split("Stop reasons: ")[1].splitlines()[0]
    assert "unknown" not in counts
    # Ray knows which trials ran their budget; the others were stopped, by a rule it does not record.
    completed = int((recorded["stop_reason"] == "completed").sum())
    assert (f"completed {completed}" in counts) == bool(completed)
    stopped = len(recorded) - completed
    assert (f"stopped, reason not recorded {stopped}" in counts) == bool(stopped)
