"""Whole stopping configurations (scheduler + per-trial rule) judged on simulated next searches, and the choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from analysis import CurveSet, Policy, SearchCurves, StoppingConfig, choose_configuration, search_outcome
from analysis._configuration_choice import DRAWS, HELD_OUT_SPLITS, SPLIT_DRAWS, SPLIT_ORDERS
from analysis._configurations import configuration_grid
from tests.cli_files import make_files, run_main
from tune_stop.app._configurations import NOT_JUDGED

EPOCHS = 12


def search(seed: int = 0, configs: int = 12, late_bloomer: bool = False) -> SearchCurves:
    """Falling losses, 3 folds per configuration; the late bloomer starts worst and ends best."""
    rng = np.random.default_rng(seed)
    rows = []
    t = np.arange(1, EPOCHS + 1)
    for config in range(configs):
        floor, speed = rng.uniform(0.1, 0.5), rng.uniform(0.3, 1.0)
        if late_bloomer and config == 0:
            floor, speed = 0.02, 0.05
        for fold in range(3):
            loss = floor + (1.0 - floor) * np.exp(-speed * t) + rng.normal(0, 0.002, EPOCHS)
            rows += [
                {
                    "trial_id": f"c{config}f{fold}",
                    "config_id": f"c{config}",
                    "fold": fold,
                    "epoch": e,
                    "val_loss": loss[e - 1],
                    "test_accuracy": 1 - loss[e - 1],
                    "config/max_epochs": EPOCHS,
                }
                for e in t
            ]
    curves = CurveSet.from_frame(pd.DataFrame(rows))
    _, index = np.unique(np.asarray(curves.config_ids).astype(str), return_inverse=True)
    return SearchCurves(curves, index, "val_loss", "min", "test_accuracy", "max", "val_loss", "min")


def test_a_search_trained_to_the_budget_loses_nothing_and_uses_all_of_its_compute():
    curves = search()
    rows = np.arange(len(curves.config_index))
    assert search_outcome(curves, rows, np.zeros(len(rows), dtype=np.int64)) == (1.0, 0.0, 0.0)
    compute, best, selected = search_outcome(curves, rows, np.full(len(rows), 1))
    assert compute == pytest.approx(1 / EPOCHS) and best > 0.1 and selected > 0.1


def test_asha_that_cuts_the_late_bloomer_is_refused_and_one_that_spares_it_is_chosen():
    curves = search(late_bloomer=True)
    aggressive = StoppingConfig({"name": "asha", "grace_period": 1, "reduction_factor": 8.0})
    gentle = StoppingConfig({"name": "median", "grace_period": 11, "min_samples_required": 3})
    everything = StoppingConfig({"name": "fifo"})
    choice = choose_configuration(curves, [everything, aggressive, gentle], tolerance=0.01, risk=0.05, draws=20)
    table = choice.table.set_index("configuration")
    # Half of the simulated searches hold the late bloomer; ASHA cuts it at epoch 1 unless it starts among the first.
    assert table.loc[aggressive.describe(), "exceeded"] > 0.1
    assert table.loc[aggressive.describe(), "compute_used"] < table.loc[gentle.describe(), "compute_used"] < 1
    assert choice.answer == gentle and table["chosen"].sum() == 1
    # 12 configurations split into halves: the held-out check runs (reported beside the risk, not part of it).
    assert choice.held_out_splits == 6 and 0 <= choice.held_out_exceeded <= 1
    assert choice.stated_risk == table.loc[gentle.describe(), "exceeded"] <= 0.05


def test_the_rule_run_on_halves_it_did_not_see_is_checked_and_reported():
    # A late bloomer among 16 configurations: a split whose first half lacks it calls ASHA safe, and the
    # second half, which holds it, is where the choice loses the best model.
    curves = search(configs=16, late_bloomer=True)
    aggressive = StoppingConfig({"name": "asha", "grace_period": 1, "reduction_factor": 8.0})
    choice = choose_configuration(
        curves, [StoppingConfig({"name": "fifo"}), aggressive], tolerance=0.01, risk=0.5, draws=20
    )
    assert choice.answer == aggressive  # within the (loose) risk on the draws
    assert choice.held_out_exceeded > 0 and choice.stated_risk == choice.table.iloc[choice.chosen]["exceeded"]


def test_the_grid_holds_schedulers_alone_and_beside_a_per_trial_rule_and_the_spaces_own():
    own = StoppingConfig({"name": "asha", "grace_period": 7, "reduction_factor": 3.0})
    grid = configuration_grid("val_loss", "min", [own])
    names = {c.scheduler["name"] for c in grid}
    assert names == {"fifo", "asha", "median"} and own in grid
    assert any(c.policy is None and c.scheduler["name"] == "asha" for c in grid)
    assert any(c.policy is not None and c.scheduler["name"] == "median" for c in grid)
    patience = Policy("patience", "val_loss", "min", (5.0,))
    assert StoppingConfig({"name": "fifo"}, patience).stopper_specs()[0]["patience"] == 5


def test_below_8_configurations_the_rule_counts_the_halves_alone_and_says_so():
    choice = choose_configuration(search(configs=6), [StoppingConfig({"name": "fifo"})], tolerance=0.01, draws=10)
    assert choice.held_out_splits == 0 and choice.searches == choice.draws == 10
    assert choice.searched.startswith("random halves of these configurations")
    twelve = choose_configuration(search(configs=12), [StoppingConfig({"name": "fifo"})], tolerance=0.01, draws=10)
    assert twelve.searches == 10 + HELD_OUT_SPLITS * (SPLIT_DRAWS + SPLIT_ORDERS)
    assert twelve.searched.startswith("random halves and quarters")


def test_a_large_recording_is_judged_on_searches_of_at_most_largest_configurations_and_says_so():
    from analysis._configuration_choice import LARGEST, _Plan

    curves = search(configs=2 * LARGEST + 10)
    plan = _Plan.of(curves, 3, seed=0)
    sizes = [len(np.unique(curves.config_index[rows])) for rows, _ in plan.searches()]
    # The draws and each split's second part hold LARGEST configurations; the check chooses on halves of LARGEST.
    assert set(sizes) == {LARGEST, LARGEST // 2}
    for first, second in plan.splits:
        chosen_on = set(np.unique(curves.config_index[np.concatenate([rows for rows, _ in first])]))
        assert len(chosen_on) <= LARGEST and not chosen_on & set(np.unique(curves.config_index[second[0][0]]))
    choice = choose_configuration(curves, [StoppingConfig({"name": "fifo"})], tolerance=0.01, draws=3)
    assert choice.new_configs == LARGEST and choice.observed == 2 * LARGEST + 10
    assert choice.searched.startswith(f"random searches of {LARGEST} and {LARGEST // 2} of these 410 configurations")
    assert choice.held_out_searched == f"4 random searches of 100 of 200 configurations, run on {LARGEST} others"
    small = choose_configuration(search(configs=12), [StoppingConfig({"name": "fifo"})], tolerance=0.01, draws=3)
    assert small.new_configs == 6 and small.held_out_searched.startswith("4 random quarters of one half")


def test_too_few_configurations_are_refused_with_the_count():
    with pytest.raises(ValueError, match="holds 3 configurations"):
        choose_configuration(search(configs=3), [StoppingConfig({"name": "fifo"})], tolerance=0.01)


@pytest.mark.e2e  # the whole recommend command: about 9 s
def test_recommend_configurations_writes_a_file_that_search_runs(tmp_path, monkeypatch, capsys):
    files = make_files(tmp_path, monkeypatch)
    frame = pd.concat([search(seed=1).curves.frame])
    frame.to_csv(files / "search.csv", index=False)
    out = files / "report"
    assert run_main(["recommend", str(files / "search.csv"), "--out", str(out)]) == 0  # judged by default
    printed = capsys.readouterr().out
    searches = DRAWS + HELD_OUT_SPLITS * (SPLIT_DRAWS + SPLIT_ORDERS)  # the draws and the held-out check's
    assert f"of {searches} simulated searches (random halves and quarters" in printed  # the answer's how sure
    table = pd.read_csv(out / "configurations.csv")
    assert table["chosen"].sum() == 1 and len(table) == 40
    written = yaml.safe_load((out / "configuration.yaml").read_text())
    chosen = table[table["chosen"]].iloc[0]
    assert written["scheduler"]["name"] in chosen["scheduler"] and written["stoppers"][0]["policy"] == "non_finite"
    assert f"- Run: {chosen['configuration']}: tune-stop search SPACE --stoppers configuration.yaml" in printed
    # The check is reported as what it is, beside the rule, not as the stated risk.
    markdown = (out / "recommendations.md").read_text()
    assert "A check, not the stated risk: a simpler choice" in markdown
    assert markdown.splitlines()[2].startswith(f"- **Run:** {chosen['configuration']}")
    # The table opens with the configuration the answer runs, then the peers, each at its simulated searches'
    # mean; only the answer's row says recommended, and the per-trial rule's row says it is not the answer.
    rows = [line.split(" | ") for line in markdown.splitlines() if line.startswith("| ")][1:]
    assert rows[0][0] == f"| {chosen['configuration']}" and rows[0][-1] == "recommended (configuration.yaml) |"
    assert rows[0][2] == f"{100 * chosen['compute_used']:.1f}% mean"
    assert rows[0][7] == f"{1 - chosen['exceeded']:.0%} of {searches} simulated searches (chosen on them)"
    peers = [row for row in rows if row[-1].startswith("what you would switch on")]
    # The peers a user would switch on, less the one the answer is (here the median rule, grace 3): not twice.
    expected = ["| ASHA (grace 1, reduction factor 4)", "| median stopping rule (grace 3, 3 samples)"]
    assert [row[0] for row in peers] == [name for name in expected if name != f"| {chosen['configuration']}"]
    assert len(peers) == 1
    assert "the median rule (grace 3) (the answer itself)" in markdown.splitlines()[4]  # the Beside line says so
    assert sum("recommended" in row[-1] for row in rows) == 1
    assert any(row[-1].startswith("the per-trial rule alone") for row in rows)
    assert "recommended (configuration.yaml)" in printed  # the screen's table says the same
    # Below the table, on screen and in the file: these rows are means and worsts, not the intervals.
    note = f"The configuration rows are means over {searches} simulated searches of "
    assert note in printed and note in markdown
    from search_spaces import load_space

    space = load_space("mlp-digits").with_stoppers(out / "configuration.yaml")
    assert space.scheduler["name"] == written["scheduler"]["name"]


def test_recommend_configurations_on_curves_it_cannot_judge_is_one_line_and_writes_nothing(
    tmp_path, monkeypatch, capsys
):
    files = make_files(tmp_path, monkeypatch)
    frame = search(configs=6).curves.frame
    frame[frame["config_id"].isin(["c0", "c1", "c2"])].to_csv(files / "three.csv", index=False)
    frame[frame["fold"] == 0].to_csv(files / "single.csv", index=False)
    cut = frame[~((frame["trial_id"] == "c0f0") & (frame["epoch"] > 5))]
    cut.to_csv(files / "cut.csv", index=False)
    for name, says in (
        ("curves.csv", "takes configurations with several curves each"),
        ("single.csv", "takes configurations with several curves each"),  # ids, but one curve each
        ("three.csv", "the curves hold 3 configurations; judging takes at least 4"),
        ("cut.csv", "takes whole curves; some were cut short"),
    ):
        out = files / f"report-{name}"
        assert run_main(["recommend", str(files / name), "--configurations", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"tune-stop: error: --configurations: {err[0].split(': ', 3)[-1]}"] and says in err[0], name
        assert not out.exists()  # checked before anything was analysed or written
    # Not insisted on (the default): the per-trial report, and one line saying why no configuration was judged.
    assert run_main(["recommend", str(files / "cut.csv"), "--out", str(files / "default")]) == 0
    printed = capsys.readouterr().out
    assert f"{NOT_JUDGED}: judging a stopping configuration takes whole curves; some were cut short." in printed
    assert (files / "default" / "recommendations.md").is_file()
    assert not (files / "default" / "configurations.csv").exists()


def test_no_configurations_skips_them_and_the_answer_says_they_were_not_judged(tmp_path, monkeypatch, capsys):
    files = make_files(tmp_path, monkeypatch)
    search(configs=6).curves.frame.to_csv(files / "six.csv", index=False)
    out = files / "report"
    assert run_main(["recommend", str(files / "six.csv"), "--out", str(out)]) == 0
    assert (out / "configurations.csv").is_file() and (out / "configuration.yaml").is_file()
    capsys.readouterr()
    # Run again into the same folder without them: the first run's files must not pass for this run's.
    assert run_main(["recommend", str(files / "six.csv"), "--no-configurations", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert NOT_JUDGED not in printed and not (out / "configurations.csv").exists()
    assert not (out / "configuration.yaml").exists() and (out / "recommendations.md").is_file()
    assert "Against ASHA alone: not judged (--no-configurations was given, or the curves" in printed


def test_a_choice_to_train_everything_writes_no_stopping_file_as_the_answer_says(tmp_path, monkeypatch, capsys):
    files = make_files(tmp_path, monkeypatch)
    search(configs=6).curves.frame.to_csv(files / "six.csv", index=False)
    out = files / "report"
    (out).mkdir()
    (out / "configuration.yaml").write_text("scheduler: {name: asha}\n")  # an older run's answer
    assert run_main(["recommend", str(files / "six.csv"), "--tolerance", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "configurations.csv")
    assert table.loc[table["chosen"], "configuration"].tolist() == ["train everything"]  # at 0: nothing else holds
    assert "- Run: nothing new: train every trial to its budget, as before; no stopping file is written." in printed
    assert not (out / "configuration.yaml").exists() and "configuration.yaml" not in printed


def test_load_stopping_gives_a_tuner_the_scheduler_and_stoppers_of_a_file(tmp_path):
    from ray.tune.stopper import NoopStopper

    from tune_stop.schedulers import RecordingASHAScheduler, RecordingMedianStoppingRule
    from tune_stop.stoppers import AnyStopper
    from tune_stop.stopping import load_stopping

    (tmp_path / "c.yaml").write_text(
        "scheduler: {name: median, grace_period: 2, min_samples_required: 4}\n"
        "stoppers:\n  - {policy: non_finite, metrics: [val_loss]}\n"
        "  - {policy: patience, metric: val_loss, mode: min, patience: 5}\n"
    )
    stopping = load_stopping(tmp_path / "c.yaml", max_epochs=30)
    assert isinstance(stopping.scheduler, RecordingMedianStoppingRule) and stopping.scheduler.grace_period == 2
    assert isinstance(stopping.stopper, AnyStopper)
    result = {"epoch": 1, "val_loss": float("nan"), "training_iteration": 1}
    assert stopping.stopper("t0", result)  # the guard fires on a NaN
    (tmp_path / "a.yaml").write_text("scheduler: {name: asha, grace_period: 1, reduction_factor: 4}\nstoppers: []\n")
    asha = load_stopping(tmp_path / "a.yaml", max_epochs=16)
    assert isinstance(asha.scheduler, RecordingASHAScheduler) and isinstance(asha.stopper, NoopStopper)
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00 not text")
    with pytest.raises(ValueError, match=r"binary\.yaml: cannot read it"):
        load_stopping(tmp_path / "binary.yaml", max_epochs=10)
    for text, named in (
        ("stoppers: 3\n", "stoppers: is required"),
        ("stoppers:\n  - {policy: [patience]}\n", "stoppers[0]: policy must be one of"),
        ("scheduler: {name: asha, grace_period: 0}\nstoppers: []\n", "scheduler: asha's grace_period must be"),
        ("scheduler: {name: asha, reduction_factor: 1}\nstoppers: []\n", "scheduler: asha's reduction_factor must"),
        ("scheduler: {name: asha, grace_period: 12}\nstoppers: []\n", "scheduler: asha's grace_period 12 exceeds"),
        ("scheduler: {name: median, reduction_factor: 2}\nstoppers: []\n", "scheduler: median takes grace_period"),
        ("stoppers:\n  - {policy: nope}\n", "stoppers[0]: policy must be one of"),
        ("stoppers:\n  - {policy: patience, metric: val_loss, patience: -1}\n", "stoppers[0]:"),
        ("scheduler: {name: hyperband}\nstoppers: []\n", "scheduler: the scheduler must be asha, median or fifo"),
    ):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(ValueError, match=rf"bad.yaml: {named.replace('[', '.').replace(']', '.')}"):
            load_stopping(tmp_path / "bad.yaml", max_epochs=10)


@pytest.mark.e2e
@pytest.mark.parametrize(
    "scheduler",
    [
        {"name": "median", "grace_period": 2, "min_samples_required": 3},
        {"name": "asha", "grace_period": 1, "reduction_factor": 3.0},
    ],
    ids=["median", "asha"],
)
def test_a_configuration_file_runs_in_a_tuner_as_it_was_judged(ray_session, tmp_path, scheduler):
    from ray import tune

    from tests.test_asha_replay import EPOCHS as RECORDED
    from tests.test_asha_replay import ReplayedCurve, recorded_curves
    from tune_stop.stopping import load_stopping

    values = recorded_curves(num_curves=12, seed=2)
    values[5, 8:] = 0.5  # finite again: the guard is tested elsewhere
    config = StoppingConfig(scheduler, Policy("patience", "val_loss", "min", (3.0,)))
    entries = {"scheduler": dict(scheduler), "stoppers": config.stopper_specs()}
    (tmp_path / "configuration.yaml").write_text(yaml.safe_dump(entries))
    stopping = load_stopping(tmp_path / "configuration.yaml", max_epochs=RECORDED)
    frame = pd.DataFrame(
        {
            "trial_id": np.repeat([f"c{i:02d}" for i in range(len(values))], RECORDED),
            "config_id": np.repeat([f"c{i:02d}" for i in range(len(values))], RECORDED),
            "epoch": np.tile(np.arange(1, RECORDED + 1), len(values)),
            "val_loss": values.ravel(),
            "test_accuracy": 1 - values.ravel(),
            "config/max_epochs": RECORDED,
        }
    )
    curves = CurveSet.from_frame(frame)
    judged = SearchCurves(curves, np.arange(len(values)), "val_loss", "min", "test_accuracy", "max", "val_loss", "min")
    rows = np.arange(len(values))
    replayed = config.stops(judged, rows, rows, workers=1)
    tuner = tune.Tuner(
        tune.with_parameters(ReplayedCurve, curves=values),
        param_space={"index": tune.grid_search(list(range(len(values))))},
        tune_config=tune.TuneConfig(
            metric="val_loss", mode="min", scheduler=stopping.scheduler, max_concurrent_trials=1, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path), stop=stopping.stopper, verbose=0),
    )
    ends = np.zeros(len(values), dtype=np.int64)
    for result in tuner.fit():
        epoch = int(result.metrics["epoch"])
        ends[result.config["index"]] = 0 if epoch >= RECORDED else epoch
    # A trial the patience rule ends at its last epoch ran its whole curve all the same.
    assert ends.tolist() == np.where(replayed >= RECORDED, 0, replayed).tolist()
    assert (ends > 0).sum() >= 3 and len(stopping.scheduler.stopped) >= 1  # both the rule and the scheduler stopped


def test_search_with_a_scheduler_flag_and_a_file_that_sets_another_is_one_line(tmp_path, monkeypatch, capsys):
    files = make_files(tmp_path, monkeypatch)
    (files / "median.yaml").write_text("scheduler: {name: median, grace_period: 2}\nstoppers: []\n")
    argv = ["search", "mlp-digits", "--stoppers", str(files / "median.yaml"), "--scheduler", "asha"]
    assert run_main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"tune-stop: error: --scheduler asha and --stoppers {files / 'median.yaml'}, whose scheduler is median "
        "(grace_period 2): give one"
    ]
    assert run_main(["search", "mlp-digits", "--full-curves", "--scheduler", "median"]) == 2
    assert "drop --scheduler median" in capsys.readouterr().err
