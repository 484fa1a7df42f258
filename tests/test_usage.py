"""The recommended policy carried into the next search: stoppers.yaml, --stoppers, Ray Tune code, Lightning/Keras."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from analysis import Choice, CurveSet, Policy, analyse, stop_epochs, write_report
from analysis._recommend import Recommendation
from analysis._usage import peer_arguments, tuner_code
from search_spaces import SpaceError, load_space
from tests.live import live_stop_epoch, results
from tests.test_intervals import synthetic_search
from tune_stop.stoppers import AnyStopper, NonFiniteStopper, PatienceStopper


def recommendation_of(objective: str, tmp_path):
    frame = synthetic_search(30, seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = analyse(frame, metrics=[("val_loss", "min")], objective=objective)
    write_report(analysis, tmp_path, tolerance=0.01, source="synthetic")
    return frame, analysis, analysis.recommended()


@pytest.mark.parametrize("objective", ["search", "tolerance"])
def test_the_stoppers_file_runs_in_a_search_and_stops_where_the_recommendation_does(tmp_path, objective):
    frame, analysis, recommendation = recommendation_of(objective, tmp_path)
    assert recommendation is not None
    # The chosen row: least compute (search) or most epochs saved (tolerance) among those within the tolerance.
    table = analysis.recommendations
    within = table[(table["kind"] == "recommended") & (table["choice"] == Choice.WITHIN)]
    key = "compute_used" if objective == "search" else "epochs_saved"
    best = within[key].min() if objective == "search" else within[key].max()
    assert recommendation.row[key] == pytest.approx(best)
    text = (tmp_path / "stoppers.yaml").read_text()
    assert f"objective {objective}" in text and "predicted (80% intervals, a new search of 30" in text
    space = load_space("mlp-digits").with_stoppers(tmp_path / "stoppers.yaml")
    assert space.stoppers_source == str(tmp_path / "stoppers.yaml") and space.source == "built-in space mlp-digits"
    live = space.build_stopper()
    assert isinstance(live, AnyStopper) and isinstance(live.stoppers[0], NonFiniteStopper)
    # Every curve stops where the replay of the recommended value says.
    curves = CurveSet.from_frame(frame)
    expected = stop_epochs(recommendation.policy, curves)[:, 0]
    for row, (trial_id, trial) in enumerate(frame.groupby("trial_id", sort=True)):
        stopper = load_space("mlp-digits").with_stoppers(tmp_path / "stoppers.yaml").build_stopper()
        assert live_stop_epoch(stopper, results(trial), trial_id=str(trial_id)) == expected[row], trial_id


@pytest.mark.parametrize("objective", ["search", "tolerance"])
def test_the_report_opens_with_the_answer_the_stoppers_file_holds_and_one_narrow_table(tmp_path, objective):
    import pandas as pd
    import yaml

    _, _, recommendation = recommendation_of(objective, tmp_path)
    lines = (tmp_path / "recommendations.md").read_text().splitlines()
    # The answer in the first 6 lines: what to run, what it buys, against ASHA, how sure.
    assert lines[0] == "# What to run next"
    assert [line.split(":**")[0] for line in lines[2:6]] == [
        "- **Run",
        "- **Buys",
        "- **Against ASHA alone",
        "- **How sure",
    ]
    assert recommendation.row["description"] in lines[2] and "--stoppers stoppers.yaml" in lines[2]
    saved = yaml.safe_load((tmp_path / "stoppers.yaml").read_text())["recommendation"]["policy"]
    assert (saved["family"], saved["metric"]) == (recommendation.row["policy"], recommendation.row["metric"])
    # One table a person reads: at most 10 columns, and only the answer's row says recommended.
    header = next(line for line in lines if line.startswith("| rule |"))
    assert header.count("|") - 1 <= 10
    rows = [line for line in lines if line.startswith("| ") and line.endswith(" |") and line != header]
    recommended = [row for row in rows if row.endswith("| recommended |")]
    assert recommended == [row for row in rows if row.startswith(f"| {recommendation.row['policy']} on val_loss |")]
    table = pd.read_csv(tmp_path / "recommendations.csv")
    assert (table["status"] == "recommended").sum() == 1 and "recommended" not in set(table["kind"])
    assert "of the compute of training everything" in lines[3]  # whole curves: the search's figures


def test_no_choice_within_the_tolerance_writes_no_stoppers_file_and_removes_an_old_one(tmp_path):
    (tmp_path / "stoppers.yaml").write_text("stoppers: []\n")  # from an earlier recommendation
    frame = synthetic_search(12, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = analyse(frame, metrics=[("val_loss", "min")], tolerance=0.0, families=("patience",))
    assert analysis.recommended() is None
    write_report(analysis, tmp_path, tolerance=0.0, source="synthetic")
    assert not (tmp_path / "stoppers.yaml").exists()
    text = (tmp_path / "recommendations.md").read_text()
    assert "No policy saves epochs within the tolerance" in text
    assert text.splitlines()[2].startswith("- **Run:** nothing new") and "`--tolerance 0." in text.splitlines()[4]


def test_a_file_without_a_stoppers_list_is_refused_naming_it(tmp_path):
    (tmp_path / "empty.toml").write_text('metric = "val_loss"\n')
    with pytest.raises(SpaceError, match=r"empty.toml: stoppers: is required"):
        load_space("mlp-digits").with_stoppers(tmp_path / "empty.toml")
    (tmp_path / "stoppers.toml").write_text('[[stoppers]]\npolicy = "patience"\nmetric = "val_loss"\npatience = 4\n')
    space = load_space("mlp-digits").with_stoppers(tmp_path / "stoppers.toml")
    assert space.stoppers == [{"policy": "patience", "metric": "val_loss", "patience": 4}]


def _recommendation(policy: Policy) -> Recommendation:
    return Recommendation({}, policy, policy.candidates[0])


def test_peer_arguments_and_tuner_code_say_the_same_rule():
    patience = Policy("patience", "val_loss", "min", (5.0,), settings={"min_delta": 0.001, "grace_period": 2})
    lightning, keras = peer_arguments(_recommendation(patience))
    assert 'EarlyStopping(monitor="val_loss", mode="min", patience=5, min_delta=0.001, check_finite=True)' in lightning
    assert "Lightning has no grace period" in lightning
    assert "min_delta=0.001, start_from_epoch=2)" in keras
    threshold = Policy("threshold", "val_accuracy", "max", (0.95,))
    assert "stopping_threshold=0.95" in peer_arguments(_recommendation(threshold))[0]
    assert "no GL rule" in peer_arguments(_recommendation(Policy("gl", "val_loss", "min", (2.0,))))[0]
    # The Ray Tune code builds the stoppers the specs name, with the same arguments.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = analyse(synthetic_search(8, seed=2), metrics=[("val_loss", "min")], families=("patience",))
    code = tuner_code(analysis, _recommendation(patience))
    namespace: dict[str, object] = {}
    exec(code.split("tuner = ")[0], namespace)  # the stopper part of the snippet runs as written
    built = namespace["stopper"]
    assert isinstance(built, AnyStopper) and isinstance(built.stoppers[1], PatienceStopper)
    assert built.stoppers[1].patience == 5 and np.isclose(built.stoppers[1].min_delta, 0.001)


def test_the_curves_plot_shows_only_the_recommended_rules_stops(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis._plots import plot_curves

    _, analysis, recommendation = recommendation_of("search", tmp_path)
    monkeypatch.setattr(plt, "close", lambda figure: None)  # keep the figure to read it
    plot_curves(analysis, "val_loss", str(tmp_path / "c.png"))
    axes = plt.gcf().axes[0]
    labels = [text.get_text() for text in axes.get_legend().get_texts()]
    stops = [label for label in labels if label.startswith("stops of")]
    assert stops == [f"stops of: {recommendation.row['description']}"]  # one rule: the answer
    assert "recommended rule stops them" in axes.get_title()
    plt.close("all")


def test_rules_drawn_on_one_spot_are_named_beside_it():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis._plots import _name_overlaps

    figure, axes = plt.subplots()
    # Three rules that never fire sit at (0, 0); one alone at (10, 0.5); two on the same 0.1-point grid point
    # count as one spot.
    across = np.array([0.0, 0.0, 0.0, 10.0, 20.0, 20.04])
    up = np.array([0.0, 0.0, 0.0, 0.5, 1.0, 1.0])
    _name_overlaps(axes, across, up, ["threshold", "patience", "gl", "up", "pq", "keras_default"])
    texts = sorted(text.get_text().replace("\n", " ") for text in axes.texts)
    assert texts == ["2 here: pq, keras_default", "3 here: threshold, patience, gl"]
    assert sorted(text.xy for text in axes.texts) == [(0.0, 0.0), (20.0, 1.0)]
    plt.close(figure)


def test_a_fid_that_falls_by_more_than_ten_times_is_drawn_on_a_log_axis(tmp_path, monkeypatch):
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from analysis._plots import plot_curves

    rows = gan_like_rows()
    monkeypatch.setattr(plt, "close", lambda figure: None)  # keep the figures to read them
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few configurations: the intervals' warning is not what this tests
        analysis = analyse(pd.DataFrame(rows), metrics=[("fid", "min")], families=("threshold",), tolerance=0.5)
        frame = pd.DataFrame(rows)
        frame["fid"] = frame["fid"] / 10 + 40  # the same shapes within a factor of 10: a linear axis
        linear = analyse(frame, metrics=[("fid", "min")], families=("threshold",), tolerance=0.5)
    plot_curves(analysis, "fid", str(tmp_path / "log.png"))
    assert plt.gcf().axes[0].get_yscale() == "log" and "log scale" in plt.gcf().axes[0].get_ylabel()
    ticks = [tick for tick in plt.gcf().axes[0].get_xticks() if 1 <= tick <= 15]
    assert ticks and all(float(tick).is_integer() for tick in ticks)  # epochs are whole
    plot_curves(linear, "fid", str(tmp_path / "linear.png"))
    assert plt.gcf().axes[0].get_yscale() == "linear"
    plt.close("all")


def gan_like_rows() -> list[dict[str, object]]:
    """12 GAN-like curves: FID falls from about 400 to 15-60 in 15 epochs; its estimator's SD is 2% of it."""
    rng = np.random.default_rng(0)
    rows = []
    for trial in range(12):
        floor = rng.uniform(15, 60)
        for epoch in range(1, 16):
            fid = floor + 400 * np.exp(-epoch / 3) + rng.normal(0, 1)
            rows.append(
                {"trial_id": f"g{trial}", "fold": trial % 3, "epoch": epoch, "fid": fid, "fid_test": fid}
                | {"fid_sd": 0.02 * fid}
            )
    return rows


def test_the_report_sets_the_estimators_own_sd_beside_the_tolerance():
    import pandas as pd

    from analysis._method import method_lines

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # few configurations: the intervals' warning is not what this tests
        analysis = analyse(pd.DataFrame(gan_like_rows()), metrics=[("fid", "min")], families=("threshold",))
        without = pd.DataFrame(gan_like_rows()).drop(columns="fid_sd")
        plain = analyse(without, metrics=[("fid", "min")], families=("threshold",))
    text = " ".join(method_lines(analysis, 0.01))
    assert "fid's own standard deviation (`fid_sd`, as the curves recorded it) is 2.0% of fid" in text
    assert "above the 1.0% tolerance" in text
    assert "is 2.0% of fid (median over every epoch), below the 5.0% tolerance" in " ".join(
        method_lines(analysis, 0.05)
    )
    assert "own standard deviation" not in " ".join(method_lines(plain, 0.01))  # no SD recorded: nothing said
