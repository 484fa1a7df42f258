"""A tolerance in the target's own units (FID points): every regret is a loss in those units over one number."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import analyse
from analysis._regret import relative_regret
from tests.cli_files import run_main

pytestmark = pytest.mark.filterwarnings("ignore:only 8 configurations")


def gan_search(seed: int = 0, configs: int = 8, folds: int = 3, epochs: int = 15) -> pd.DataFrame:
    """FID falling to a floor that differs by configuration, noisy by fold; fid_test a second, noisier look."""
    rng = np.random.default_rng(seed)
    rows = []
    for config in range(configs):
        floor = 15.0 + 4.0 * config
        for fold in range(folds):
            for epoch in range(1, epochs + 1):
                fid = floor + 200.0 * np.exp(-epoch / 3.0) + rng.normal(0, 1.0)
                rows.append(
                    {
                        "trial_id": f"c{config}f{fold}",
                        "config_id": config,
                        "fold": fold,
                        "epoch": epoch,
                        "fid": fid,
                        "fid_test": fid + rng.normal(0, 1.0),
                    }
                )
    return pd.DataFrame(rows)


def _options(**keywords):
    """Two families and no baselines: the regret's unit is the same for every rule, and each costs seconds."""
    return dict(
        metrics=[("fid", "min")],
        target="fid_test",
        target_mode="min",
        objective="search",
        families=("patience", "gl"),
        baselines=False,
        **keywords,
    )


def test_relative_regret_over_one_scale_is_the_loss_in_points_over_that_scale():
    at_stop, reference = np.array([[12.0, np.nan, 30.0]]), np.array([[10.0, 10.0, 20.0]])
    assert relative_regret(at_stop, reference, 1.0)[0].tolist() == pytest.approx([0.2, np.inf, 0.5])
    assert relative_regret(at_stop, reference, 1.0, scale=4.0)[0].tolist() == pytest.approx([0.5, np.inf, 2.5])


def test_every_regret_is_a_loss_in_points_over_the_best_model_trained_to_the_budget():
    curves = gan_search()
    points = analyse(curves, **_options(tolerance_points=2.0))
    last = curves[curves["epoch"] == curves["epoch"].max()]
    best = last.groupby("config_id")["fid_test"].mean().min()
    assert points.curves is not None and points.curves.regret_scale == pytest.approx(best)
    assert points.tolerance == pytest.approx(2.0 / best) and points.tolerance_points == 2.0
    values = points.curves.matrix("fid_test")
    for result, _, _ in points.replays:
        at_stop = values[np.arange(len(values))[:, None], result.epochs_used - 1]
        expected = (at_stop - np.nanmin(values, axis=1)[:, None]) / best
        assert np.allclose(result.regret, expected)
    # The whole search's best model is judged against the same number both ways; each curve is not.
    share = analyse(curves, **_options(tolerance=2.0 / best))
    assert np.allclose(points.candidates["best_regret"], share.candidates["best_regret"], equal_nan=True)
    assert not np.allclose(points.replays[0][0].regret, share.replays[0][0].regret)
    # Simulated searches without the best configuration: a point lost counts the same as in the whole search.
    assert not np.allclose(points.candidates["best_regret_high"], share.candidates["best_regret_high"], equal_nan=True)


def test_a_tolerance_in_points_needs_a_best_model_other_than_zero():
    curves = gan_search().assign(fid_test=0.0)
    with pytest.raises(ValueError, match="a tolerance in fid_test points is a share of the best model's fid_test"):
        analyse(curves, **_options(tolerance_points=2.0))
    with pytest.raises(ValueError, match="tolerance_points must be a finite number > 0"):
        analyse(gan_search(), **_options(tolerance_points=-1.0))


def test_recommend_states_the_tolerance_in_points_on_screen_and_in_the_report(tmp_path, capsys):
    gan_search().to_csv(tmp_path / "gan.csv", index=False)
    argv = ["recommend", str(tmp_path / "gan.csv"), "--metric", "fid", "--policy", "gl", "--tolerance-points", "3"]
    assert run_main([*argv, "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    stated = next(line for line in printed.splitlines() if line.startswith("Tolerance: 3 fid_test"))
    assert "the best model's fid_test at its best fid snapshot trained to the budget here" in stated
    report = (tmp_path / "r" / "recommendations.md").read_text().splitlines()
    assert stated in report and report.index(stated) < report.index("## Reading")


def test_the_advice_in_points_is_rounded_up_to_two_significant_figures():
    from analysis._answer import _flag

    points = analyse(gan_search(), **_options(tolerance_points=2.0))
    assert points.curves is not None and points.curves.regret_scale is not None
    scale = points.curves.regret_scale
    for needed, flag in ((1.013, "1.1"), (0.00374, "0.0038"), (37.2, "38"), (2.0, "2")):
        assert _flag(points, needed / scale, 0.5) == f"--tolerance-points {flag}"
    assert _flag(analyse(gan_search(), **_options(tolerance=0.1)), 0.1234, 0.124) == "--tolerance 0.124"


def test_curves_that_have_a_scale_keep_it_and_the_tolerance_in_points_is_a_share_of_it():
    points = analyse(gan_search(), **_options(tolerance_points=2.0))
    assert points.curves is not None
    again = analyse(points.curves, **_options(tolerance_points=4.0))
    assert again.curves is not None and again.curves.regret_scale == points.curves.regret_scale
    assert again.tolerance == pytest.approx(2 * points.tolerance)
    kept = analyse(points.curves, **_options(tolerance_points=4.0, keep_best=True))
    assert kept.curves is not None and kept.curves.regret_scale == points.curves.regret_scale


def test_the_scale_is_the_best_configuration_whose_curves_ran_their_budget():
    curves = gan_search()
    cut = curves[~((curves["trial_id"] == "c0f0") & (curves["epoch"] > 5))]  # the best configuration, cut short
    with pytest.warns(UserWarning):
        analysis = analyse(cut, **{**_options(tolerance_points=2.0), "objective": "tolerance"})
    last = curves[curves["epoch"] == curves["epoch"].max()]
    assert analysis.curves is not None
    assert analysis.curves.regret_scale == pytest.approx(last[last["config_id"] == 1]["fid_test"].mean())


def test_a_tolerance_in_points_below_the_noise_names_the_flag_in_points():
    from analysis import AnalysisWarning
    from tune_stop.app._remedies import cli_message

    with pytest.warns(AnalysisWarning, match="moves by") as caught:
        analyse(gan_search(), **_options(tolerance_points=0.05))
    (noise,) = [w.message for w in caught if "moves by" in str(w.message)]
    assert "more than the 0.05-point tolerance" in str(noise) and "points from one epoch" in str(noise)
    assert "above that noise (tune-stop recommend --tolerance-points)" in cli_message(noise)
    with pytest.warns(AnalysisWarning, match="moves by") as relative:
        analyse(gan_search(), **_options(tolerance=0.001))
    (noise,) = [w.message for w in relative if "moves by" in str(w.message)]
    assert "above that noise (tune-stop recommend --tolerance)" in cli_message(noise)


def _first_number(cell: str) -> float:
    return float(cell.split(" ")[0].rstrip("%"))


def test_the_table_csv_report_and_plots_give_regrets_in_points(tmp_path, capsys, monkeypatch):
    import matplotlib.figure

    from analysis import person_table

    curves = gan_search()
    points = analyse(curves, **_options(tolerance_points=3.0))
    assert points.points_scale == points.curves.regret_scale  # type: ignore[union-attr]
    table = person_table(points)
    header = "best model (fid_test points) [80%]"
    assert header in table.columns and "mean per-curve regret (fid_test points) [80%]" in table.columns
    rows = points.recommendations.reset_index(drop=True)
    for cell, share in zip(table[header], rows["best_regret"], strict=True):
        if np.isfinite(share):
            assert _first_number(cell) == pytest.approx(share * points.points_scale, rel=5e-3, abs=5e-3)
    relative = person_table(analyse(curves, **_options(tolerance=3.0 / points.points_scale)))
    assert "best model [80%]" in relative.columns and relative["best model [80%]"].str.contains("%").all()

    drawn = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    curves.to_csv(tmp_path / "gan.csv", index=False)
    argv = ["recommend", str(tmp_path / "gan.csv"), "--metric", "fid", "--policy", "gl", "--tolerance-points", "3"]
    assert run_main([*argv, "--no-keep-best", "--target", "fid_test", "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert header in printed
    (ceiling,) = [line for line in printed.splitlines() if line.startswith("Ceiling:")]
    assert "within the 3 fid_test points tolerance" in ceiling
    written = pd.read_csv(tmp_path / "r" / "recommendations.csv")
    assert np.allclose(written["best_regret_points"], written["best_regret"] * written["regret_scale"], equal_nan=True)
    assert np.allclose(written["regret_high_points"], written["regret_high"] * written["regret_scale"], equal_nan=True)
    report = (tmp_path / "r" / "recommendations.md").read_text()
    assert f"| {header} |" in report
    method = report.split("## What the figures mean")[1]
    assert "the 3 fid_test points tolerance" in method and "fid_test points by chance" in method  # choice, noise
    assert "the 3 fid_test points tolerance of" in (tmp_path / "r" / "stoppers.yaml").read_text()
    configurations = pd.read_csv(tmp_path / "r" / "configurations.csv")
    assert np.allclose(
        configurations["best_regret_max_points"], configurations["best_regret_max"] * configurations["regret_scale"]
    )
    tradeoff = next(f.axes[0] for f in drawn if f.axes[0].get_title().startswith("Per curve"))
    assert not any(line.get_label().startswith("tolerance") for line in tradeoff.get_lines())  # it bounds the search
    gl = written[written["policy"] == "gl"].iloc[0]
    assert gl["best_regret"] > 0  # drawn in points, not percent: the two differ
    for figure in drawn:
        axes = figure.axes[0]
        if "The search" not in axes.get_title():
            continue
        assert axes.get_ylabel().endswith("(fid_test points)")
        (tolerance,) = [line for line in axes.get_lines() if line.get_label() == "tolerance 3 fid_test points"]
        assert tolerance.get_ydata()[0] == pytest.approx(3.0)
        marks = [container.lines[0].get_ydata()[0] for container in axes.containers]
        assert any(mark == pytest.approx(gl["best_regret_points"]) for mark in marks)


def test_the_configurations_are_given_in_points_in_the_table():
    from analysis import judge_configurations, person_table

    points = analyse(gan_search(), **_options(tolerance_points=3.0))
    choice = judge_configurations(points, workers=2, draws=8)
    shown = ([choice.table.iloc[choice.chosen]] if choice.runs and choice.chosen is not None else []) + [
        row for _, row in choice.peers() if not choice.is_answer(row)
    ]
    table = person_table(points, choice)
    assert len(shown) >= 1
    for cell, row in zip(table["best model (fid_test points) [80%]"], shown, strict=False):
        mean, worst = (float(part.split(" ")[0]) for part in cell.split(", "))
        assert mean == pytest.approx(row["best_regret_mean"] * points.points_scale, rel=5e-3, abs=5e-3)
        assert worst == pytest.approx(row["best_regret_max"] * points.points_scale, rel=5e-3, abs=5e-3)


def test_a_tolerance_in_sds_is_that_many_of_the_estimators_sd_at_the_best_model_in_points(tmp_path, capsys):
    rng = np.random.default_rng(1)
    curves = gan_search().assign(fid_sd=lambda frame: 0.05 * frame["fid"] * rng.uniform(0.5, 1.5, len(frame)))
    with pytest.raises(ValueError, match="needs the estimator's own SD, a column fid_test_sd or fid_sd"):
        analyse(gan_search(), **_options(tolerance_sd=2.0))
    sds = analyse(curves, **_options(tolerance_sd=2.0))
    last = curves[curves["epoch"] == curves["epoch"].max()]
    best = last.groupby("config_id")["fid"].mean().idxmin()  # fid_test has no SD column: the estimator is fid's
    window = curves[(curves["config_id"] == best) & (curves["epoch"] > curves["epoch"].max() - 5)]
    spread = window["fid_sd"].mean()  # its last 5 epochs on every fold
    assert sds.estimator_sd == ("fid", pytest.approx(spread))
    points = analyse(curves, **_options(tolerance_points=2.0 * spread))
    assert sds.tolerance_points == pytest.approx(2.0 * spread) and sds.tolerance == pytest.approx(points.tolerance)
    pd.testing.assert_frame_equal(sds.candidates, points.candidates)
    with pytest.raises(ValueError, match="give tolerance_points or tolerance_sd, not both"):
        analyse(curves, **_options(tolerance_sd=2.0, tolerance_points=1.0))

    curves.to_csv(tmp_path / "gan.csv", index=False)
    argv = ["recommend", str(tmp_path / "gan.csv"), "--metric", "fid", "--policy", "gl", "--tolerance-sd", "2"]
    assert run_main([*argv, "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert f"Tolerance: 2 x fid_sd = {float(f'{2 * spread:.3g}'):g} fid_test points (fid_sd is {spread:.3g}" in printed


def test_a_fid_target_below_its_noise_is_also_advised_a_tolerance_in_points():
    from analysis import AnalysisWarning, answer_lines

    curves = gan_search()
    with pytest.warns(AnalysisWarning, match="moves by"):
        relative = analyse(curves, **_options(tolerance=0.001))
    (advice,) = [line for line in answer_lines(relative) if line.startswith("- **Next:**")]
    last = curves[curves["epoch"] == curves["epoch"].max()]
    best = last.groupby("config_id")["fid_test"].mean().min()
    value = float(advice.split("`--tolerance-points ")[1].split("`")[0])
    share = float(advice.split("`--tolerance ")[1].split("`")[0])
    assert relative.best_model_noise <= share  # above the noise, and the two flags say the same tolerance:
    assert share * best <= value <= 1.1 * share * best + 1e-9  # the share in points, rounded up to 2 figures
    assert "or in fid_test points" in advice
    (why,) = [line for line in answer_lines(relative) if line.startswith("- **Why:**")]
    assert f"({relative.best_model_noise * best:.3g} fid_test points)" in why
    accuracy = gan_search().rename(columns={"fid_test": "test_score"})
    with pytest.warns(AnalysisWarning, match="moves by"):
        other = analyse(accuracy, **{**_options(tolerance=0.001), "target": "test_score"})
    (advice,) = [line for line in answer_lines(other) if line.startswith("- **Next:**")]
    assert "--tolerance-points" not in advice  # only a FID is advised in points


def test_a_rule_chosen_because_no_scheduler_held_runs_with_none_as_it_was_judged(tmp_path, monkeypatch):
    import dataclasses

    import matplotlib.figure

    from analysis import answer_lines, judge_configurations
    from analysis._plots import plot_search
    from analysis._usage import stoppers_yaml
    from search_spaces import load_space
    from tune_stop.stopping import load_stopping

    analysis = analyse(gan_search(), **_options(tolerance_points=2.0))
    recommendation = analysis.recommended()
    assert recommendation is not None and analysis.asha is None  # the rule was judged alone
    choice = judge_configurations(analysis, workers=2, draws=8)
    none_held = dataclasses.replace(choice, chosen=None)  # as when no configuration met the risk
    space = load_space("gan-digits")
    assert space.scheduler["name"] == "asha"
    for judged, expected in ((none_held, "fifo"), (None, "asha")):
        path = tmp_path / f"{expected}.yaml"
        path.write_text(stoppers_yaml(analysis, recommendation, "curves.csv", judged))
        assert space.with_stoppers(path).scheduler["name"] == expected  # FIFO replaces the space's ASHA
        (run,) = [line for line in answer_lines(analysis, judged) if line.startswith("- **Run:**")]
        assert ("with no scheduler (FIFO), as it was judged" in run) == (expected == "fifo")
    assert type(load_stopping(tmp_path / "fifo.yaml", max_epochs=15).scheduler).__name__ == "FIFOScheduler"
    drawn = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda figure, *a, **k: drawn.append(figure))
    for judged in (none_held, choice):
        plot_search(analysis, "fid", analysis.tolerance, str(tmp_path / "search.png"), judged)
    legends = [[text.get_text() for text in figure.axes[0].get_legend().get_texts()] for figure in drawn]
    # No configuration.yaml is written where none held: the plot draws no configuration as the answer.
    assert [any("configuration.yaml" in label for label in legend) for legend in legends] == [False, True]


def test_with_no_tolerance_given_curves_that_carry_their_estimators_sd_default_to_two_of_them(tmp_path, capsys):
    from analysis import tolerance_in_points
    from tune_stop.defaults import DEFAULT_TOLERANCE, DEFAULT_TOLERANCE_SD

    rng = np.random.default_rng(1)
    curves = gan_search().assign(fid_sd=lambda frame: 0.05 * frame["fid"] * rng.uniform(0.5, 1.5, len(frame)))
    # As asked (default_sds), the default is the same analysis as the SDs given; a tolerance given in points or
    # SDs wins, and curves without an SD keep the share.
    by_default = analyse(curves, **_options(default_sds=DEFAULT_TOLERANCE_SD))
    given = analyse(curves, **_options(tolerance_sd=DEFAULT_TOLERANCE_SD))
    assert by_default.sds_by_default and not given.sds_by_default
    assert by_default.estimator_sd == given.estimator_sd and by_default.tolerance == pytest.approx(given.tolerance)
    pd.testing.assert_frame_equal(by_default.candidates, given.candidates)
    assert "It is the default where the curves carry their estimator's SD" in str(tolerance_in_points(by_default))
    assert "the default where" not in str(tolerance_in_points(given))
    points = analyse(curves, **_options(default_sds=2.0, tolerance_points=3.0))
    assert not points.sds_by_default and points.tolerance_points == 3.0
    with pytest.warns(Warning):  # the relative default is below this FID's noise
        plain = analyse(gan_search(), **_options(default_sds=2.0))
    assert not plain.sds_by_default and plain.tolerance_points is None and plain.tolerance == DEFAULT_TOLERANCE
    flat = curves.assign(fid_sd=0.0)  # no usable SD at the best model: the share holds, no error
    with pytest.warns(Warning):
        assert analyse(flat, **_options(default_sds=2.0)).tolerance == DEFAULT_TOLERANCE
    zero = curves.assign(fid_test=0.0)  # no best model to take points of: the default share holds, the SDs given fail
    with pytest.warns(Warning):
        assert not analyse(zero, **_options(default_sds=2.0)).sds_by_default
    with pytest.raises(ValueError):
        analyse(zero, **_options(tolerance_sd=2.0))
    with pytest.raises(ValueError, match="default_sds must be a finite number > 0"):
        analyse(curves, **_options(default_sds=0.0))

    # The command line: no flag gives the default in SDs and says so; --tolerance gives the share.
    curves.to_csv(tmp_path / "gan.csv", index=False)
    argv = ["recommend", str(tmp_path / "gan.csv"), "--metric", "fid", "--policy", "gl"]
    assert run_main([*argv, "--out", str(tmp_path / "r")]) == 0
    printed = capsys.readouterr().out
    assert "Tolerance: 2 x fid_sd = " in printed and "It is the default where the curves carry" in printed
    assert "It is the default where the curves carry" in (tmp_path / "r" / "recommendations.md").read_text()
    assert run_main([*argv, "--tolerance", "0.5", "--out", str(tmp_path / "s")]) == 0
    assert "Tolerance: " not in capsys.readouterr().out


def test_a_new_gan_loop_defaults_to_two_sds_of_its_fid_and_a_continued_loop_to_what_it_chose_with(tmp_path, capsys):
    from search_spaces import load_space
    from tune_stop.app._parser import build_parser
    from tune_stop.app.calibrate import LOOP_FILE, OtherTolerance, check_same_tolerance, recorded_tolerance
    from tune_stop.app.cmd_search import default_sds

    gan, mlp = load_space("gan-digits"), load_space("mlp-digits")

    def loop(space_name: str, *extra: str):
        return build_parser().parse_args(["search", space_name, "--calibrate", "4", *extra])

    assert default_sds(loop("gan-digits"), gan, None) == 2.0
    assert "chooses within 2 SDs of its FID estimate by default" in capsys.readouterr().err
    for extra in (["--tolerance", "0.1"], ["--tolerance-points", "3"], ["--tolerance-sd", "3"]):
        assert default_sds(loop("gan-digits", *extra), gan, None) is None  # a flag given: it holds
    assert default_sds(loop("mlp-digits"), mlp, None) is None  # not a GAN: the share holds
    assert capsys.readouterr().err == ""
    # A continued loop chooses as it first did: with the default SDs where it did, with the share where it was
    # begun before that default (its loop.json has no default_sds), and refuses another tolerance.
    (tmp_path / LOOP_FILE).write_text('{"tolerance": 0.01, "tolerance_points": null, "tolerance_sd": null}\n')
    assert default_sds(loop("gan-digits"), gan, recorded_tolerance(tmp_path)) is None
    check_same_tolerance(tmp_path, 0.01, None, None, None)
    (tmp_path / LOOP_FILE).write_text(
        '{"tolerance": 0.01, "tolerance_points": null, "tolerance_sd": null, "default_sds": 2.0}\n'
    )
    assert default_sds(loop("gan-digits"), gan, recorded_tolerance(tmp_path)) == 2.0
    assert capsys.readouterr().err == ""  # no note: it continues
    check_same_tolerance(tmp_path, 0.01, None, None, 2.0)
    with pytest.raises(OtherTolerance, match=r"--tolerance 0\.01: .* chose its stopping with --tolerance-sd 2\.0"):
        check_same_tolerance(tmp_path, 0.01, None, None, None)
