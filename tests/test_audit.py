"""Audit trials: trained to the budget while the policy only records, then predicted against realized."""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from ray.tune.schedulers import TrialScheduler

from analysis import CurveSet, analyse, audit_table, replay_policy, stop_epochs
from analysis._usage import prediction_block
from search_spaces import SpaceError, load_space
from tests.live import live_stop
from tests.test_intervals import synthetic_search
from tune_stop.app.search import build_param_space
from tune_stop.experiment import ExperimentRecord
from tune_stop.schedulers import RecordingASHAScheduler
from tune_stop.stoppers import AuditExempt, NonFiniteStopper, PatienceStopper


def _record(prediction, audited):
    """An experiment record with a prediction and its audit trials, as a search writes it."""
    return ExperimentRecord(
        "mlp-digits", "perceptron", "val_loss", "min", 3, prediction=prediction, audited_configs=list(audited)
    )


def test_an_audit_trial_trains_on_while_the_policy_records_where_it_would_have_stopped():
    history = [0.5, 0.4, 0.45, 0.46, 0.47, 0.3]
    plain = live_stop(AuditExempt(PatienceStopper("val_loss", "min", patience=2)), history)
    assert plain == 4  # not an audit trial: stopped as the policy says (two epochs without improvement)
    audited = AuditExempt(PatienceStopper("val_loss", "min", patience=2))
    stops = [audited("t", {"epoch": e, "val_loss": v, "config": {"audit": True}}) for e, v in enumerate(history, 1)]
    assert not any(stops)
    record = audited.stop_record("t")
    assert record is not None and record.epoch == 4  # where it would have stopped


def test_asha_never_cuts_an_audit_trial_but_counts_its_results():
    def run(audit: bool) -> list[str]:
        scheduler = RecordingASHAScheduler(
            time_attr="epoch", metric="val_loss", mode="min", max_t=9, grace_period=1, reduction_factor=3
        )
        good, bad = (
            SimpleNamespace(trial_id="good", config={}),
            SimpleNamespace(trial_id="bad", config={"audit": audit}),
        )
        for trial in (good, bad):
            scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
        scheduler.on_trial_result(None, good, {"epoch": 1, "val_loss": 0.1})  # type: ignore[arg-type]
        return [scheduler.on_trial_result(None, bad, {"epoch": 1, "val_loss": 0.9})]  # type: ignore[arg-type]

    assert run(audit=False) == [TrialScheduler.STOP]
    assert run(audit=True) == [TrialScheduler.CONTINUE]


def test_a_space_audits_a_seeded_share_of_its_configurations():
    space = load_space("mlp-digits").with_overrides(num_samples=10).with_audit(0.3)
    audited = space.audited_configs()
    assert len(audited) == 3 and audited == space.audited_configs()  # seeded: the same every time
    assert load_space("mlp-digits").with_overrides(num_samples=10).with_audit(0.01).audited_configs() != []
    table = build_param_space(space)["audit"].func.table  # type: ignore[union-attr]
    assert [row["config_id"] for row in table if row["audit"]] == audited
    stopper = space.build_stopper()
    assert all(isinstance(s, NonFiniteStopper | AuditExempt) for s in stopper.stoppers)
    assert load_space("mlp-digits").build_stopper().stoppers[1].__class__.__name__ == "ThresholdStopper"
    with pytest.raises(SpaceError, match=r"audit_fraction: must be in \[0, 1\)"):
        space.with_audit(1.0)


def searched(frame: pd.DataFrame, policy, audited: list[int]) -> pd.DataFrame:
    """The curves a search with ``policy`` records: audit configurations whole, the others cut at the stops."""
    curves = CurveSet.from_frame(frame)
    stops = stop_epochs(policy, curves)[:, 0]
    ends = dict(zip(curves.trial_ids, np.where(stops > 0, stops, curves.lengths), strict=True))
    keep = frame["config_id"].isin(audited) | (frame["epoch"] <= frame["trial_id"].map(ends))
    return frame[keep]


def test_audit_table_sets_the_realized_figures_beside_the_predicted_ones():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = analyse(synthetic_search(30, seed=11), metrics=[("val_loss", "min")], objective="search")
    recommendation = analysis.recommended()
    assert recommendation is not None
    block = prediction_block(analysis, recommendation, "synthetic")
    new = synthetic_search(20, seed=12)
    new["config_id"] = new["config_id"].str[1:].astype(int)
    audited = [0, 3, 4, 9, 15]
    recorded = searched(new, recommendation.policy, audited)
    table = audit_table(recorded, _record(block, audited)).set_index("quantity")
    # The realized per-curve regret is the replay's on the audit curves; compute is the other trials'.
    audit = CurveSet.from_frame(new[new["config_id"].isin(audited)])
    result = replay_policy(recommendation.policy, audit, "test_accuracy", "max")
    assert table.loc["regret", "realized"] == pytest.approx(result.regret[result.evaluable[:, 0], 0].mean())
    others = recorded[~recorded["config_id"].isin(audited)]
    assert table.loc["compute_used", "realized"] == pytest.approx(len(others) / (15 * 2 * 30))
    assert block["new_configs"] == 30 and block["observed_configs"] == 30
    for name in ("regret", "epochs_saved", "best_regret", "selected_regret", "compute_used"):
        row = table.loc[name]
        point, low, high = block["predicted"][name]
        assert row["predicted"] == pytest.approx(point)
        if name in ("regret", "epochs_saved"):
            # A mean over the 5 audit configurations: the interval for 30 rescaled to 5.
            scale = np.sqrt((1 / 30 + 1 / 5) / (1 / 30 + 1 / 30))
            assert (row["low"], row["high"]) == pytest.approx(
                (point - scale * (point - low), point + scale * (high - point))
            )
        if name in ("best_regret", "selected_regret"):
            assert row["side"] == "not comparable" and not row["outside"]  # the best of 5 is not the best of 30
        else:
            inside = row["low"] <= row["realized"] <= row["high"]
            assert row["outside"] == (not inside)
            assert row["side"] == ("inside" if inside else "above" if row["realized"] > row["high"] else "below")
    assert audit_table(recorded, _record(block, [])) is None
    # One audit configuration: the rescaled intervals are wide, but stay within what each figure can be.
    alone = audit_table(searched(new, recommendation.policy, [0]), _record(block, [0]))
    alone = alone.set_index("quantity")
    assert (
        alone.loc["regret", "low"] >= 0
        and 0 <= alone.loc["epochs_saved", "low"] <= alone.loc["epochs_saved", "high"] <= 1
    )
    assert alone.loc["regret", "judged_on"].endswith("(interval for 1 configuration)")


def test_an_interval_rescaled_to_a_smaller_audit_widens_as_1_over_m_plus_1_over_n_within_its_bounds():
    from analysis._audit import _for_size

    scale = np.sqrt((1 / 30 + 1 / 1) / (1 / 30 + 1 / 30))
    low, high = _for_size(0.5, 0.4, 0.62, 30, 30, 1, (0.0, 1.0))
    assert (low, high) == pytest.approx((0.5 - scale * 0.1, 0.5 + scale * 0.12))
    # Past what a figure can be: clipped (a regret never below 0, a share never above 1).
    assert _for_size(0.005, 0.003, 0.008, 30, 30, 1, (0.0, np.inf))[0] == 0.0
    assert _for_size(0.9, 0.85, 0.95, 30, 30, 1, (0.0, 1.0))[1] == 1.0
    # The size the interval was for, or no record of the observed configurations: as it was.
    assert _for_size(0.5, 0.4, 0.62, 30, 30, 30, (0.0, 1.0)) == (0.4, 0.62)
    assert _for_size(0.5, 0.4, 0.62, None, 30, 1, (0.0, 1.0)) == (0.4, 0.62)


def test_an_audit_trial_that_ran_its_budget_is_recorded_as_completed_with_where_its_policy_would_have_stopped():
    from tune_stop.reasons import StopReasonsCallback
    from tune_stop.stoppers import AnyStopper

    history = [0.5, 0.4, 0.45, 0.46, 0.47, 0.3]
    stopper = AnyStopper(NonFiniteStopper(["val_loss"]), AuditExempt(PatienceStopper("val_loss", "min", patience=2)))
    callback = StopReasonsCallback(stopper, metric="val_loss")
    rows = {}
    for trial_id, audit in (("plain", False), ("audited", True)):
        config = {"audit": audit, "max_epochs": len(history)}
        for epoch, value in enumerate(history, 1):
            result = {"epoch": epoch, "val_loss": value, "config": config}
            if stopper(trial_id, result):
                break
        trial = SimpleNamespace(trial_id=trial_id, config=config, last_result=result)
        rows[trial_id] = callback._classify(trial)  # type: ignore[arg-type]
    assert (rows["plain"]["stop_reason"], rows["plain"]["stop_epoch"]) == ("patience", 4)
    audited = rows["audited"]
    assert (audited["stop_reason"], audited["stop_epoch"], audited["audit_stop_epoch"]) == ("completed", 6, 4)
    assert "its policy would have stopped it at epoch 4" in audited["detail"]


def test_an_audit_of_a_prediction_at_the_best_snapshot_judges_the_audit_curves_so_too():
    from analysis._snapshot import kept_columns

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = analyse(
            synthetic_search(30, seed=11), metrics=[("val_loss", "min")], objective="search", keep_best=True
        )
    recommendation = analysis.recommended()
    assert recommendation is not None
    block = prediction_block(analysis, recommendation, "synthetic")
    assert block["target"] == "test_accuracy" and block["kept_by"] == ["val_loss", "min"]
    new = synthetic_search(20, seed=12)
    new["config_id"] = new["config_id"].str[1:].astype(int)
    audited = [0, 3, 4, 9, 15]
    recorded = searched(new, recommendation.policy, audited)
    table = audit_table(recorded, _record(block, audited)).set_index("quantity")
    kept, target, _ = kept_columns(new[new["config_id"].isin(audited)], "val_loss", "min", "test_accuracy")
    result = replay_policy(recommendation.policy, CurveSet.from_frame(kept), target, "max")
    assert table.loc["regret", "realized"] == pytest.approx(result.regret[result.evaluable[:, 0], 0].mean())


def test_an_audit_of_a_prediction_in_points_measures_the_realized_regret_in_the_same_points():
    import dataclasses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        analysis = analyse(
            synthetic_search(30, seed=11), metrics=[("val_loss", "min")], objective="search", tolerance_points=0.02
        )
    recommendation = analysis.recommended()
    assert recommendation is not None and analysis.curves is not None
    block = prediction_block(analysis, recommendation, "synthetic")
    assert block["tolerance_points"] == 0.02 and block["regret_scale"] == analysis.curves.regret_scale
    new = synthetic_search(20, seed=12)
    new["config_id"] = new["config_id"].str[1:].astype(int)
    audited = [0, 3, 4, 9, 15]
    table = audit_table(searched(new, recommendation.policy, audited), _record(block, audited)).set_index("quantity")
    audit = CurveSet.from_frame(new[new["config_id"].isin(audited)])
    in_points = replay_policy(
        recommendation.policy, dataclasses.replace(audit, regret_scale=block["regret_scale"]), "test_accuracy", "max"
    )
    share = replay_policy(recommendation.policy, audit, "test_accuracy", "max")
    realized = table.loc["regret", "realized"]
    assert realized == pytest.approx(in_points.regret[in_points.evaluable[:, 0], 0].mean())
    assert realized != pytest.approx(share.regret[share.evaluable[:, 0], 0].mean())
