"""Canaries for the private Ray Tune and pytorch-fid internals tune-stop uses, all owned by ``tune_stop._compat``.

Each test fails when the installed library no longer has the internal in the shape
``_compat`` expects; ``test_no_private_access_outside_compat`` keeps them in one place.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path
from types import SimpleNamespace

import ray
from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

from tune_stop import _compat
from tune_stop.schedulers import RecordingASHAScheduler

ROOT = Path(__file__).resolve().parents[1]
OWN_PACKAGES = ("tune_stop", "analysis", "search_spaces")


def test_installed_ray_is_in_the_tested_range_and_pyproject_pins_it():
    assert _compat.ray_version_tested(ray.__version__)
    low, high = _compat.RAY_TESTED
    assert f"ray[default,tune]>={low},<{high}" in (ROOT / "pyproject.toml").read_text()
    assert not _compat.ray_version_tested("2.59.1") and not _compat.ray_version_tested(high + ".0")


def test_asha_internals_metric_time_attr_and_rungs():
    scheduler = RecordingASHAScheduler(
        time_attr="epoch", metric="val_loss", mode="min", max_t=27, grace_period=1, reduction_factor=3
    )
    assert _compat.asha_metric(scheduler) == "val_loss" and _compat.asha_time_attr(scheduler) == "epoch"
    assert _compat.asha_milestones(scheduler) == {1, 3, 9, 27}
    state = _compat.asha_rung_state(scheduler)
    assert set(state) == {"brackets", "trial_info", "num_stopped"} and isinstance(state["trial_info"], dict)
    state["trial_info"]["t"] = state["brackets"][0]
    _compat.asha_forget_trial(scheduler, "t")
    assert "t" not in _compat.asha_rung_state(scheduler)["trial_info"]
    other = RecordingASHAScheduler(time_attr="epoch", metric="val_loss", mode="min", max_t=27)
    _compat.asha_restore_rung_state(other, state)
    assert _compat.asha_rung_state(other)["brackets"] is state["brackets"]


def test_asha_milestones_are_the_first_epoch_at_or_past_each_rung():
    from ray.tune.schedulers import AsyncHyperBandScheduler

    scheduler = AsyncHyperBandScheduler(
        time_attr="epoch", metric="m", mode="min", max_t=20, grace_period=1, reduction_factor=2.5
    )
    assert _compat.asha_milestones(scheduler) == {1, 3, 7, 16}  # rungs 1, 2.5, 6.25, 15.625
    assert _compat.asha_bracket_rungs(scheduler) == [[16, 7, 3, 1]]  # one bracket, highest rung first
    brackets = AsyncHyperBandScheduler(
        time_attr="epoch", metric="m", mode="min", max_t=27, reduction_factor=3, brackets=2
    )
    assert _compat.asha_bracket_rungs(brackets) == [[27, 9, 3, 1], [27, 9, 3]]


def test_asha_cutoffs_can_be_computed_elsewhere_and_decide_there():
    from types import SimpleNamespace

    from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

    scheduler = AsyncHyperBandScheduler(time_attr="epoch", metric="m", mode="max", max_t=9, reduction_factor=3)
    asked: list[tuple[dict[str, float], float]] = []

    def cutoff(recorded: dict[str, float], reduction_factor: float) -> float | None:
        asked.append((dict(recorded), reduction_factor))
        return 100.0 if recorded else None  # every result is below 100: the second trial at the rung is stopped

    _compat.asha_replace_cutoffs(scheduler, cutoff)
    first, second = SimpleNamespace(trial_id="a"), SimpleNamespace(trial_id="b")
    for trial in (first, second):
        scheduler.on_trial_add(None, trial)  # type: ignore[arg-type]
    assert scheduler.on_trial_result(None, first, {"epoch": 1, "m": 5.0}) == TrialScheduler.CONTINUE  # no records
    assert scheduler.on_trial_result(None, second, {"epoch": 1, "m": 7.0}) == TrialScheduler.STOP
    assert asked == [({}, 3.0), ({"a": 5.0}, 3.0)]


@dataclasses.dataclass(frozen=True)
class _Trial:
    trial_id: str


def test_median_rule_internals_metric_state_and_spare():
    from ray.tune.schedulers import MedianStoppingRule

    rule = MedianStoppingRule(time_attr="epoch", metric="m", mode="min", grace_period=1, min_samples_required=1)
    assert _compat.median_metric(rule) == "m"
    nothing_waits = SimpleNamespace(get_live_trials=list)
    first, second = _Trial("a"), _Trial("b")  # Ray keys its results by the trial
    rule.on_trial_result(nothing_waits, first, {"epoch": 1, "m": 0.1})
    assert rule.on_trial_result(nothing_waits, second, {"epoch": 1, "m": 0.9}) == "STOP"
    state = _compat.median_state(rule)
    assert set(state) == {"results", "stopped_trials"} and second in state["stopped_trials"]
    _compat.median_spare(rule, second)
    # Asked again after its stop was forgotten: decided (no one else reached epoch 2), no assertion.
    assert rule.on_trial_result(nothing_waits, second, {"epoch": 2, "m": 0.95}) == "CONTINUE"
    fresh = MedianStoppingRule(time_attr="epoch", metric="m", mode="min")
    _compat.median_restore_state(fresh, state)
    assert _compat.median_state(fresh)["results"].keys() == state["results"].keys()


def test_logger_restore_hook_has_the_signature_keep_driver_copy_overrides():
    for callback in (CSVLoggerCallback, JsonLoggerCallback):
        hook = inspect.signature(callback._restore_from_remote)
        assert list(hook.parameters) == ["self", "file_name", "trial"], callback


def test_json_logger_keeps_its_open_files_where_one_shot_json_results_reads_them():
    assert "self._trial_files" in inspect.getsource(JsonLoggerCallback.__init__)
    assert "self._trial_files[trial] = " in inspect.getsource(JsonLoggerCallback.log_trial_start)
    writes = inspect.getsource(JsonLoggerCallback.log_trial_result)  # what OneShotJsonResults writes instead
    assert "json.dump(result, self._trial_files[trial], cls=SafeFallbackEncoder)" in writes
    assert '.write("\\n")' in writes
    assert list(inspect.signature(JsonLoggerCallback.log_trial_result).parameters) == [
        "self",
        "iteration",
        "trial",
        "result",
    ]


def test_tune_controller_actor_reuse_internals():
    from ray.tune.execution.placement_groups import PlacementGroupFactory  # noqa: F401  (Tune is importable)
    from ray.tune.execution.tune_controller import TuneController

    assert list(inspect.signature(TuneController._maybe_reuse_cached_actor).parameters) == ["self", "trial"]
    init = inspect.getsource(TuneController.__init__)
    for attribute in ("_trial_to_actor", "_actor_manager", "_resetting_trials"):
        assert f"self.{attribute}" in init, attribute
    from ray.air.execution import FixedResourceManager  # noqa: F401
    from ray.air.execution._internal import RayActorManager

    assert callable(RayActorManager.is_actor_started)
    with _compat.patched_reuse_cached_actor(lambda trial, actor, started: False) as applied:
        assert applied and TuneController._maybe_reuse_cached_actor.tune_stop_patched
        with _compat.patched_reuse_cached_actor(lambda trial, actor, started: False) as nested:
            assert not nested  # applied once only
    assert not getattr(TuneController._maybe_reuse_cached_actor, "tune_stop_patched", False)


def test_pytorch_fid_inception_builder_internals():
    import pytorch_fid.inception as fid_inception

    original = fid_inception.fid_inception_v3
    assert callable(fid_inception._inception_v3) and callable(original)
    network = _compat.fid_inception_network()
    assert type(network.Mixed_7c).__name__ == "FIDInceptionE_2" and network.fc.out_features == 1008
    model = _compat.fid_inception_v3_from_state(network.state_dict(), [0])
    assert fid_inception.fid_inception_v3 is original and len(model.blocks) == 1  # the patch was undone


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_accesses(path: Path) -> list[str]:
    """``x._name`` where x is not self/cls, and imports of private modules of other packages."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value.id if isinstance(node.value, ast.Name) else ""
            if owner not in ("self", "cls", "np"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: .{node.attr}")
        module = node.module if isinstance(node, ast.ImportFrom) and node.module else ""
        if module and not module.startswith(OWN_PACKAGES) and any(_private(part) for part in module.split(".")):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {module}")
    return found


def test_no_private_access_outside_compat():
    files = [
        path
        for package in ("tune_stop", "analysis", "search_spaces")
        for path in sorted((ROOT / package).rglob("*.py"))
        if path.name != "_compat.py"
    ]
    accesses = [access for path in files for access in _private_accesses(path)]
    assert accesses == []
