"""Search-space files: built-ins, sampling, fold expansion and precise errors."""

from __future__ import annotations

from pathlib import Path

import pytest

import search_spaces
from search_spaces import SpaceError, builtin_spaces, load_space, threshold_key
from tune_stop.stoppers import NonFiniteStopper, PatienceStopper, ThresholdStopper

VALID = """
description: test space
trainable: perceptron
metric: val_loss
mode: min
num_samples: 3
num_folds: 2
seed: 7
config:
  hidden_sizes: {choice: [[8], [16]]}
  optimizer: adam
  lr: {loguniform: [0.001, 0.1]}
  batch_size: {grid: [16, 32]}
  max_epochs: 5
stoppers:
  - {policy: threshold, metric: val_loss, mode: min, threshold: {uniform: [0.1, 0.5]}}
  - {policy: patience, metric: val_loss, patience: 2}
scheduler: {name: asha, grace_period: 1, reduction_factor: 2}
"""


def write(tmp_path, text, name="space.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_builtin_spaces_load_and_include_the_required_ones():
    names = set(builtin_spaces())
    assert {"perceptron-xor", "perceptron-digits", "mlp-digits"} <= names
    for name in names:
        space = load_space(name)
        assert space.trial_configs()


def test_every_configuration_runs_on_every_fold_with_the_same_hyperparameters(tmp_path):
    space = load_space(write(tmp_path, VALID))
    configs = space.sample_configs()
    assert len(configs) == 3 * 2  # num_samples x the batch_size grid
    assert [c["batch_size"] for c in configs] == [16, 32] * 3
    trials = space.trial_configs()
    assert len(trials) == len(configs) * 2
    for config in configs:
        folds = [t for t in trials if t["config_id"] == config["config_id"]]
        assert sorted(t["fold"] for t in folds) == [0, 1]
        for trial in folds:
            assert {k: trial[k] for k in config} == config
            assert trial["num_folds"] == 2


def test_sampling_is_deterministic_and_seeded(tmp_path):
    space = load_space(write(tmp_path, VALID))
    assert space.sample_configs() == space.sample_configs()
    other = space.with_overrides(seed=8).sample_configs()
    assert [c["lr"] for c in other] != [c["lr"] for c in space.sample_configs()]
    # Trial seeds differ per configuration and are shared by its folds.
    assert [c["seed"] for c in space.sample_configs()] == [7 + i for i in range(6)]


def test_sampled_threshold_becomes_a_per_trial_config_key(tmp_path):
    space = load_space(write(tmp_path, VALID))
    key = threshold_key("val_loss")
    values = [c[key] for c in space.sample_configs()]
    assert all(0.1 <= v <= 0.5 for v in values) and len(set(values)) == len(values)
    stopper = space.build_stopper()
    threshold = next(s for s in stopper.stoppers if isinstance(s, ThresholdStopper))
    assert threshold.threshold_key == key and threshold.threshold is None
    assert any(isinstance(s, PatienceStopper) for s in stopper.stoppers)
    # The non-finite guard is added in front, so NaN never reaches ASHA.
    assert isinstance(stopper.stoppers[0], NonFiniteStopper)


def test_toml_files_use_the_same_schema(tmp_path):
    toml = """
trainable = "perceptron"
metric = "val_accuracy"
mode = "max"
num_folds = 2
[config]
lr = { loguniform = [0.01, 1.0] }
max_epochs = 4
[[stoppers]]
policy = "threshold"
metric = "val_accuracy"
mode = "max"
threshold = 0.9
[scheduler]
name = "fifo"
"""
    space = load_space(write(tmp_path, toml, "space.toml"))
    assert space.mode == "max" and space.max_epochs == 4
    assert space.build_stopper().stoppers[1].threshold == 0.9


def test_overrides(tmp_path):
    space = load_space(write(tmp_path, VALID)).with_overrides(num_samples=1, max_epochs=9, scheduler="fifo")
    assert space.num_samples == 1 and space.max_epochs == 9 and space.scheduler == {"name": "fifo"}
    assert len(space.sample_configs()) == 2


MALFORMED = [
    # replacement (old -> new) applied to VALID, expected key in message, expected words
    (("trainable: perceptron", "trainable: gan9"), "trainable", "not one of"),
    (("metric: val_loss\nmode", "metric: val_los\nmode"), "metric", "not reported"),
    (("mode: min\nnum", "mode: up\nnum"), "mode", "'min' or 'max'"),
    (("num_samples: 3", "num_samples: 0"), "num_samples", ">= 1"),
    (("num_samples: 3", "num_samples: three"), "num_samples", "integer"),
    (("num_folds: 2", "num_folds: -1"), "num_folds", ">= 1"),
    (("seed: 7", "seed: -7"), "seed", ">= 0"),
    (("  optimizer: adam", "  optimiser: adam"), "config.optimiser", "allowed: "),
    (("  optimizer: adam", "  optimizer: lbfgs"), "config (config_id 0)", "optimizer='lbfgs'"),
    (("  optimizer: adam", "  fold: 1"), "config.fold", "set by tune-stop"),
    (("{loguniform: [0.001, 0.1]}", "{loguniform: [0.0, 0.1]}"), "config.lr", "0 < low"),
    (("{loguniform: [0.001, 0.1]}", "{loguniform: [0.1, 0.001]}"), "config.lr", "low < high"),
    (("{loguniform: [0.001, 0.1]}", "{lognormal: [0.1, 0.001]}"), "config.lr", "unknown sampler"),
    (("  max_epochs: 5", "  max_epochs: {choice: [5, 6]}"), "config.max_epochs", "fixed"),
    (("  max_epochs: 5", "  max_epochs: 0"), "config.max_epochs", ">= 1"),
    (("{grid: [16, 32]}", "{grid: []}"), "config.batch_size", "non-empty"),
    (("policy: patience", "policy: patient"), "stoppers[1].policy", "not one of"),
    (("patience: 2}", "patience: -2}"), "stoppers[1]", "patience=-2"),
    (("patience: 2}", "patience: 2, delta: 1}"), "stoppers[1].delta", "allowed: "),
    (("metric: val_loss, patience", "metric: val_acc, patience"), "stoppers[1].metric", "not reported"),
    (
        ("threshold: {uniform: [0.1, 0.5]}", "threshold: {uniform: [0.5, 0.1]}"),
        "stoppers[0].threshold",
        "low < high",
    ),
    (("threshold: {uniform: [0.1, 0.5]}", "threshold: .nan"), "stoppers[0]", "threshold=nan"),
    (("threshold: {uniform: [0.1, 0.5]}", "threshold: -0.5"), "stoppers[0].threshold", "outside the range of val_loss"),
    (("threshold: {uniform: [0.1, 0.5]}", "threshold: {uniform: [-1.0, 0.5]}"), "stoppers[0].threshold", "outside"),
    (("name: asha", "name: hyperband"), "scheduler", "name must be one of"),
    (("reduction_factor: 2", "reduction_factor: 1"), "scheduler.reduction_factor", "> 1"),
    (("grace_period: 1", "grace_period: 9"), "scheduler.grace_period", "exceeds max_t"),
    (("{uniform: [0.1, 0.5]}}", "{uniform: [0.1, 0.5]}, grace_period: -1}"), "stoppers[0]", "grace_period=-1"),
    (("grace_period: 1", "brackets: 1"), "scheduler.brackets", "allowed: "),
    (("description: test space", "descripton: test space"), "descripton", "unknown key"),
]


@pytest.mark.parametrize(("replacement", "key", "words"), MALFORMED)
def test_malformed_space_names_file_key_and_what_is_allowed(tmp_path, replacement, key, words):
    old, new = replacement
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(SpaceError) as caught:
        load_space(path)
    error = caught.value
    assert error.source == str(path)
    assert error.key == key
    assert words in error.problem
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("text", "name", "words"),
    [
        ("a: [\n", "space.yaml", "not valid YAML"),
        ("a = [\n", "space.toml", "not valid TOML"),
        ("- 1\n- 2\n", "space.yaml", "must hold a mapping"),
        ("metric: val_loss\n", "space.yaml", "trainable: is required"),
    ],
)
def test_unparseable_files(tmp_path, text, name, words):
    with pytest.raises(SpaceError, match=words):
        load_space(write(tmp_path, text, name))


def test_unknown_space_and_missing_file(tmp_path):
    with pytest.raises(SpaceError, match="built-in spaces: "):
        load_space("no-such-space")
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "absent.yaml")


def test_removing_the_threshold_policies_keeps_the_sampled_hyperparameters():
    """A FIFO full-training baseline of a space must train the very same configurations."""
    from dataclasses import replace

    space = load_space("gan-digits")
    guard_only = replace(space, stoppers=[spec for spec in space.stoppers if spec["policy"] == "non_finite"])
    with_thresholds, without = space.sample_configs(), guard_only.sample_configs()
    assert [sorted(set(a) - set(b)) for a, b in zip(with_thresholds, without, strict=True)] == [
        ["fid_threshold"]
    ] * len(without)
    assert [{k: a[k] for k in b} for a, b in zip(with_thresholds, without, strict=True)] == without
    assert len({config["lr_g"] for config in without}) == len(without)  # really sampled


def test_replay_settings_are_the_fixed_arguments_the_stoppers_were_given():
    assert load_space("gan-digits").replay_settings() == {}  # its FID threshold and GL keep no fixed argument
    assert load_space("mlp-digits").replay_settings() == {"patience": {"val_loss": {"min_delta": 0.001}}}
    assert load_space("perceptron-xor").replay_settings() == {}


def test_replay_settings_keep_every_fixed_argument_of_the_registry_baseline_and_train_metric_included(tmp_path):
    text = VALID.replace(
        "  - {policy: patience, metric: val_loss, patience: 2}\n",
        "  - {policy: patience, metric: val_loss, patience: 2, baseline: 0.4, grace_period: 1}\n"
        "  - {policy: pq, metric: val_loss, train_metric: train_loss, alpha: 1.0, strip: 3}\n"
        "  - {policy: up, metric: val_loss, strips: 2, strip: 4}\n",
    )
    assert load_space(write(tmp_path, text)).replay_settings() == {
        "patience": {"val_loss": {"grace_period": 1, "baseline": 0.4}},
        "pq": {"val_loss": {"strip": 3, "train_metric": "train_loss"}},
        "up": {"val_loss": {"strip": 4}},
    }


def test_full_curves_keeps_only_the_guard_and_the_stoppers_settings_for_the_replay(tmp_path):
    gan = load_space("gan-digits")
    full = gan.full_curves()
    assert full.scheduler == {"name": "fifo"}
    assert full.stoppers == [{"policy": "non_finite", "metrics": ["d_loss", "g_loss", "fid"]}]
    assert full.replay_settings() == gan.replay_settings()
    graced = load_space("mlp-digits")
    assert (
        graced.full_curves().replay_settings()
        == graced.replay_settings()
        == {"patience": {"val_loss": {"min_delta": 0.001}}}
    )
    without_thresholds = [{k: v for k, v in c.items() if not k.endswith("_threshold")} for c in gan.sample_configs()]
    assert full.sample_configs() == without_thresholds  # the same hyperparameters
    # A space with no guard of its own gets one on every metric its stoppers watched.
    original = load_space(write(tmp_path, VALID))
    user = original.full_curves()
    assert user.stoppers == [{"policy": "non_finite", "metrics": ["val_loss"]}]
    (stopper,) = user.build_stopper().stoppers
    assert isinstance(stopper, NonFiniteStopper)
    assert user.full_curves().replayed_stoppers == original.stoppers  # applying it twice changes nothing


@pytest.mark.parametrize(
    ("old", "new", "check"),
    [
        ("lr: {loguniform: [0.001, 0.1]}", "lr: 1e-3", lambda space: space.config["lr"] == 0.001),
        (
            "{loguniform: [0.001, 0.1]}",
            "{loguniform: [1e-4, 1E-2]}",
            lambda space: space.config["lr"]["loguniform"] == [1e-4, 1e-2],
        ),
        ("threshold: {uniform: [0.1, 0.5]}", "threshold: 2e-1", lambda space: space.stoppers[0]["threshold"] == 0.2),
        ("max_epochs: 5", "max_epochs: 5\n  weight_decay: .5e-3", lambda space: space.config["weight_decay"] == 0.0005),
    ],
)
def test_space_files_read_numbers_as_yaml_1_2_does(tmp_path, old, new, check):
    assert old in VALID
    assert check(load_space(write(tmp_path, VALID.replace(old, new))))


def test_broken_yaml_is_reported_with_its_line_and_column(tmp_path):
    with pytest.raises(SpaceError, match=r"not valid YAML: .* at line 3, column \d+$"):
        load_space(write(tmp_path, "description: x\ntrainable: perceptron\nconfig: {lr: [1, 2}\nseed: 1\n"))


def test_a_budget_below_ashas_grace_period_lowers_it_with_a_note():
    with pytest.warns(UserWarning, match="scheduler.grace_period 3 exceeds the 2 epochs asked for: lowered to 2"):
        space = load_space("perceptron-digits").with_overrides(max_epochs=2, scheduler="asha")
    assert space.scheduler["grace_period"] == 2


def test_libyaml_and_the_python_parser_read_the_same_and_errors_come_from_the_python_one():
    import glob

    import yaml

    from tune_stop._yaml import _FastYaml12Loader, _Yaml12Loader, parse_yaml

    if not yaml.__with_libyaml__:
        pytest.skip("PyYAML was built without libyaml: only the pure-Python parser runs")
    assert issubclass(_FastYaml12Loader, yaml.CSafeLoader)  # the fast path is taken
    texts = [Path(name).read_text() for name in sorted(glob.glob(str(Path(search_spaces.__file__).parent / "*.yaml")))]
    texts += ["a: 1e-3\nb: .5\nc: 1_000\nd: yes\ne: 0x10\nf: -.inf\ng: 2E5\nh: '1e-3'\n"]
    assert len(texts) > 5
    for text in texts:
        assert parse_yaml(text) == yaml.load(text, Loader=_Yaml12Loader)
    with pytest.raises(yaml.YAMLError) as raised:
        parse_yaml("\t a: 1")
    assert "found character '\\t' that cannot start any token" in str(raised.value)  # PyYAML's words, not libyaml's
