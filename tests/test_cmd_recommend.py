"""`tune-stop recommend` (`tune_stop.app.cmd_recommend`): reports, notes and one-line refusals."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis import load_curves
from tests.cli_files import make_files, run_main
from tune_stop.app.cli import main


@pytest.fixture
def files(tmp_path, monkeypatch):
    return make_files(tmp_path, monkeypatch)


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
    printed = capsys.readouterr().out
    assert "Objective: search (every curve ran its whole budget; --objective chooses)." in printed
    # The hindsight ceiling bounds the epochs saved at the mean per-curve regret; a search-level rule can save more.
    ceiling = next(line for line in printed.splitlines() if line.startswith("Ceiling"))
    assert ceiling.startswith("Ceiling: stopping each of these 4 complete curves at its best moment in hindsight")
    assert "tolerance on the mean per-curve regret; no stopping rule can save more on these curves" in ceiling
    assert ceiling.endswith("as the stopping configurations and ASHA are, a rule may save more.")
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
    from tune_stop.app._shared import read_record_or_none
    from tune_stop.app.cmd_recommend import _replay_settings

    record = {"space": "gan-digits", "trainable": "gan", "metric": "fid", "mode": "min", "num_folds": 3}
    recorded = {"threshold": {"d_accuracy": {"grace_period": 5}}, "patience": {"val_loss": {"min_delta": 0.001}}}
    (tmp_path / "tune-stop.json").write_text(json.dumps({**record, "replay_settings": recorded}))
    assert _replay_settings(read_record_or_none(tmp_path), None) == recorded
    out = capsys.readouterr().out
    assert "stopper settings: threshold on d_accuracy: grace_period 5; patience on val_loss: min_delta 0.001" in out
    # --grace-period applies to every metric, over what the experiment recorded.
    assert _replay_settings(read_record_or_none(tmp_path), 0) == {
        "threshold": {"*": {"grace_period": 0}, "d_accuracy": {"grace_period": 0}},
        "patience": {"*": {"grace_period": 0}, "val_loss": {"min_delta": 0.001, "grace_period": 0}},
    }
    (tmp_path / "tune-stop.json").write_text(json.dumps(record))  # recorded by an older tune-stop
    assert _replay_settings(read_record_or_none(tmp_path), None) == {}
    assert read_record_or_none(tmp_path / "curves.csv") is None
    (tmp_path / "tune-stop.json").write_text("{broken")  # damaged: said, not silently ignored
    assert read_record_or_none(tmp_path) is None
    assert "tune-stop.json is not valid JSON; the experiment's stopper settings are not used" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("out", "message"),
    [
        ("{tmp}/curves.csv", "--out {tmp}/curves.csv is a file, not a folder"),
        ("{tmp}/curves.csv/report", "--out {tmp}/curves.csv/report cannot be created: {tmp}/curves.csv is a file"),
        ("/proc/tune-stop-report", "--out /proc/tune-stop-report cannot be written: "),
    ],
)
def test_recommend_refuses_an_unwritable_out_in_one_line_before_any_work(files, capsys, out, message):

    before = (files / "curves.csv").read_bytes()
    argv = ["recommend", str(files / "curves.csv"), "--out", out.format(tmp=files)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"tune-stop: error: {message.format(tmp=files)}") and "\n" not in err
    assert (files / "curves.csv").read_bytes() == before  # nothing lost or overwritten


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
    # One policy is enough: the notes are about the flags, whatever the policies.
    argv = ["recommend", str(files / "curves.csv"), "--out", str(files / "out"), "--policy", "threshold", *flags]
    assert run_main(argv) == 0
    assert f"tune-stop: note: {note}" in capsys.readouterr().err


def test_recommend_with_its_defaults_notes_nothing(files, capsys):
    assert run_main(["recommend", str(files / "curves.csv"), "--out", str(files / "plain")]) == 0
    assert "note:" not in capsys.readouterr().err


def test_a_metric_column_that_holds_no_number_is_one_line_when_asked_for_and_a_note_otherwise(tmp_path, capsys):
    rows = [
        {
            "trial_id": f"t{t}",
            "fold": t % 2,
            "epoch": e,
            "val_loss": 1 / e + t / 100,
            "val_accuracy": "",
            "test_accuracy": 1 - 1 / e,
        }
        for t in range(6)
        for e in range(1, 9)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "curves.csv", index=False)
    asked = ["recommend", str(tmp_path / "curves.csv"), "--metric", "val_accuracy", "--out", str(tmp_path / "a")]
    assert run_main(asked) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["tune-stop: error: metric 'val_accuracy' holds no number: all 48 values are missing or NaN."]
    assert not (tmp_path / "a").exists()
    assert run_main(["recommend", str(tmp_path / "curves.csv"), "--out", str(tmp_path / "b")]) == 0
    assert "val_accuracy holds no number" in capsys.readouterr().err
    table = pd.read_csv(tmp_path / "b" / "recommendations.csv")
    assert set(table["metric"]) == {"val_loss"} and not (tmp_path / "b" / "curves_val_accuracy.png").exists()


def test_recommend_writes_no_answer_from_the_few_curves_a_scheduler_let_run(tmp_path, capsys):
    from tests.curves import complete_curves

    # ASHA-like: at epoch 3 the 6 best of 30 curves go on to the budget, the other 24 stop there.
    frame = complete_curves(0, 30, 12)
    at_rung = frame[frame["epoch"] == 3].set_index("trial_id")["val_loss"]
    survivors = set(at_rung.nsmallest(6).index)
    cut = frame[frame["trial_id"].isin(survivors) | (frame["epoch"] <= 3)].assign(**{"config/max_epochs": 12})
    cut.to_csv(tmp_path / "asha.csv", index=False)
    out = tmp_path / "report"
    out.mkdir()
    (out / "stoppers.yaml").write_text("an older answer\n")
    argv = ["recommend", str(tmp_path / "asha.csv"), "--metric", "val_loss", "--target", "test_accuracy"]
    assert run_main([*argv, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "24 of 30 curves were cut short" in captured.err
    answer = [
        "- Run: nothing new: train every trial to its budget, as before; no stopping file is written.",
        "- Why: 24 of 30 curves were cut short, so the rest are the curves the scheduler let run, not a sample of the "
        "next search.",
        "- Next: record whole curves: tune-stop search SPACE --full-curves (or the whole loop: tune-stop search SPACE "
        "--calibrate N), then tune-stop recommend on that experiment.",
    ]
    assert "\n".join(answer) in captured.out
    assert not (out / "stoppers.yaml").exists()  # the older answer must not be taken for this one
    table = pd.read_csv(out / "recommendations.csv")
    tuned = table[table["kind"] == "tuned"]
    assert "within the tolerance" not in set(tuned["choice"]) and "recommended" not in set(table["status"])
    markdown = (out / "recommendations.md").read_text()
    # The report opens with the same answer the screen ends with.
    assert [line.replace("**", "").replace("`", "") for line in markdown.splitlines()[2:5]] == answer
    assert "Nothing is recommended: 24 of 30 curves were cut short" in markdown
    assert "Nothing to run: 24 of 30 curves were cut short" in markdown and "--full-curves" in markdown
    # The trade-off objective ignores the tolerance, and is refused on the same curves all the same.
    assert run_main([*argv, "--objective", "tradeoff", "--out", str(tmp_path / "tradeoff")]) == 0
    assert answer[1] in capsys.readouterr().out
    assert not (tmp_path / "tradeoff" / "stoppers.yaml").exists()
    tradeoff = pd.read_csv(tmp_path / "tradeoff" / "recommendations.csv").query("kind == 'tuned'")
    assert (tradeoff["choice"] == "chosen on the curves that ran, not recommended: most curves were cut short").any()
    assert "best trade-off" not in set(tradeoff["choice"])
    assert "Nothing is recommended: 24 of 30" in (tmp_path / "tradeoff" / "recommendations.md").read_text()
    # The same curves whole do give an answer: it is the cut, not the curves, that withholds it.
    frame.assign(**{"config/max_epochs": 12}).to_csv(tmp_path / "whole.csv", index=False)
    whole = tmp_path / "whole"
    assert run_main(["recommend", str(tmp_path / "whole.csv"), *argv[2:], "--out", str(whole)]) == 0
    assert (whole / "stoppers.yaml").exists()
