"""What a search prints when it ends (`tune_stop.app._summaries`)."""

from __future__ import annotations

import pandas as pd
import pytest


def test_the_audit_summary_explains_compute_below_a_prediction_that_assumed_no_asha(monkeypatch, capsys, tmp_path):
    import analysis
    from tune_stop.app import _summaries
    from tune_stop.experiment import ExperimentRecord

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
    monkeypatch.setattr(analysis, "audit_table", lambda curves, record: table)
    monkeypatch.setattr(analysis, "load_experiment", lambda experiment: pd.DataFrame())
    block = {"interval": 0.8, "new_configs": 4, "asha": None}
    for scheduler, explained in (({"name": "asha", "grace_period": 3}, True), ({"name": "fifo"}, False)):
        record = ExperimentRecord(
            "mlp-digits",
            "perceptron",
            "val_loss",
            "min",
            3,
            audited_configs=[1],
            prediction=block,
            replayed_scheduler=scheduler,
        )
        monkeypatch.setattr(_summaries, "read_record_or_none", lambda source, record=record: record)
        _summaries.print_audit(tmp_path)
        printed = capsys.readouterr().out.splitlines()
        regret, compute = (next(line for line in printed if line.strip().startswith(q)) for q in ("regret", "compute"))
        assert regret.endswith("ABOVE the interval")  # a regret outside its interval is flagged either way
        assert compute.endswith("below the interval: ASHA cut trials the prediction did not assume") is explained
        assert compute.endswith("BELOW the interval") is not explained
        assert "the policy fired on none of the 12 audit curves" in "\n".join(printed)
    # A prediction made with a tolerance in points: its regrets are shown in those points, compute in %.
    record = ExperimentRecord(
        "gan-digits",
        "gan",
        "fid",
        "min",
        3,
        audited_configs=[1],
        prediction={**block, "tolerance_points": 3.0, "regret_scale": 14.0},
        replayed_scheduler={"name": "fifo"},
    )
    monkeypatch.setattr(_summaries, "read_record_or_none", lambda source: record)
    _summaries.print_audit(tmp_path)
    printed = capsys.readouterr().out.splitlines()
    regret, compute = (next(line for line in printed if line.strip().startswith(q)) for q in ("regret", "compute"))
    assert "predicted 0.07 pts [0.028 pts, 0.126 pts]  realized 0.28 pts" in regret
    assert "predicted  90.00% [78.00%, 100.00%]  realized  55.60%" in compute


def test_an_interrupted_part_of_the_calibrated_loop_stops_the_loop_there(monkeypatch, capsys, tmp_path):
    from types import SimpleNamespace

    from search_spaces import load_space
    from tune_stop.app import calibrate
    from tune_stop.app._summaries import calibrated_search
    from tune_stop.app.search import SearchOptions, SearchSummary

    ran = []

    def interrupted_search(space, options, overrides):
        ran.append(options.name)
        reasons = [{"trial_id": "a", "stop_reason": "completed"}]  # 1 of 6 trials ended, as after Ctrl-C or SIGTERM
        return SearchSummary(tmp_path / str(options.name), 6, 0, reasons, space_name=space.name, num_folds=3)

    monkeypatch.setattr(calibrate, "run_search", interrupted_search)
    space = load_space("mlp-digits").with_overrides(num_samples=6)
    args = SimpleNamespace(
        calibrate=2, audit_fraction=None, scheduler=None, tolerance=None, tolerance_points=None, tolerance_sd=None
    )
    options = SearchOptions(storage_path=str(tmp_path), name="loop")
    assert calibrated_search(args, space, options, {}) == 130
    assert ran == ["loop-calibration"]  # neither the recommendation nor the search ran on an unfinished part
    printed = capsys.readouterr().out
    assert "5 trials did not finish" in printed and "run the same command again to continue" in printed


def test_a_loop_that_cannot_choose_as_asked_is_one_line_that_keeps_the_calibration(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from search_spaces import load_space
    from tune_stop.app import calibrate
    from tune_stop.app._shared import UsageError
    from tune_stop.app._summaries import calibrated_search
    from tune_stop.app.search import SearchOptions

    def cannot(*args, **keywords):  # what calibrate_and_search raises when analyse refuses the calibration
        raise calibrate.CannotChoose(ValueError("a tolerance in fid_test points is a share of 0 here"))

    monkeypatch.setattr(calibrate, "calibrate_and_search", cannot)
    args = SimpleNamespace(
        calibrate=2, audit_fraction=None, scheduler=None, tolerance=None, tolerance_points=3.0, tolerance_sd=None
    )
    space = load_space("gan-digits").with_overrides(num_samples=6)
    with pytest.raises(UsageError, match=r"^a tolerance .* 0 here \(the calibration is kept: run again to continue\)$"):
        calibrated_search(args, space, SearchOptions(storage_path=str(tmp_path), name="loop"), {})


@pytest.mark.parametrize(
    ("written", "refused"),
    [
        (None, False),  # a new loop
        ('{"tolerance": 0.05}\n', False),
        ('{"tolerance": 0.02}\n', True),
        ('{"tolerance": "0.02"}\n', False),  # not what the loop writes: as if there were none
        ('{"tolerance": null}\n', False),
        ("not json", False),
    ],
)
def test_a_continued_loop_must_choose_with_the_tolerance_it_first_chose_with(tmp_path, written, refused):
    from tune_stop.app.calibrate import LOOP_FILE, OtherTolerance, check_same_tolerance

    if written is not None:
        (tmp_path / LOOP_FILE).write_text(written)
    if refused:
        with pytest.raises(OtherTolerance, match=r"--tolerance 0\.05: this loop .* with --tolerance 0\.02; continue"):
            check_same_tolerance(tmp_path, 0.05)
    else:
        check_same_tolerance(tmp_path, 0.05)


@pytest.mark.parametrize(
    ("written", "points", "message"),
    [
        ('{"tolerance": 0.01, "tolerance_points": 3}\n', 3.0, None),
        ('{"tolerance": 0.01, "tolerance_points": 3}\n', 2.0, r"--tolerance-points 2\.0: .* with --tolerance-points 3"),
        ('{"tolerance": 0.01, "tolerance_points": 3}\n', None, r"--tolerance 0\.01: .* with --tolerance-points 3"),
        ('{"tolerance": 0.01, "tolerance_points": null}\n', 3.0, r"--tolerance-points 3\.0: .* with --tolerance 0\.01"),
        ('{"tolerance": 0.01}\n', None, None),  # a loop from before tolerances in points
        ('{"tolerance": 0.01, "tolerance_points": null, "tolerance_sd": 2}\n', (None, 2.0), None),
        (
            '{"tolerance": 0.01, "tolerance_points": null, "tolerance_sd": 2}\n',
            (None, 3.0),
            r"--tolerance-sd 3\.0: .* 2",
        ),
        (
            '{"tolerance": 0.01, "tolerance_points": 2, "tolerance_sd": null}\n',
            (None, 2.0),
            r"--tolerance-sd 2\.0: .* with --tolerance-points 2",
        ),
    ],
)
def test_a_loop_chosen_with_a_tolerance_in_points_continues_only_with_the_same_points(
    tmp_path, written, points, message
):
    from tune_stop.app.calibrate import LOOP_FILE, OtherTolerance, check_same_tolerance

    (tmp_path / LOOP_FILE).write_text(written)
    given = points if isinstance(points, tuple) else (points, None)  # (--tolerance-points, --tolerance-sd)
    if message is None:
        check_same_tolerance(tmp_path, 0.01, *given)
    else:
        with pytest.raises(OtherTolerance, match=message):
            check_same_tolerance(tmp_path, 0.01, *given)
