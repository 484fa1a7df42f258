"""The DCGAN trainable, driven directly (no Ray cluster needed)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests.idx_files import make_mnist
from tune_stop.trainables.gan import GAN_METRICS, Discriminator, GANTrainable, Generator


@pytest.fixture(autouse=True, scope="module")
def private_cache(tmp_path_factory):
    """One cache for this module (its FID classifier is trained once), apart from the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNE_STOP_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


def run(trainable: GANTrainable, epochs: int) -> list[dict]:
    return [trainable.train() for _ in range(epochs)]


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_generator_and_discriminator_are_sized_from_the_image_shape(shape):
    generator, discriminator = Generator(16, 8, shape), Discriminator(8, shape)
    images = generator(torch.randn(5, 16))
    assert images.shape == (5, *shape)
    assert float(images.detach().abs().max()) <= 1.0
    assert discriminator(images).shape == (5,)


def test_unsupported_image_shape():
    with pytest.raises(ValueError, match="8x8, 28x28 and 32x32"):
        Generator(16, 8, (1, 16, 16))


@pytest.mark.e2e  # trains a GAN for several epochs: seconds each, kept out of the fast set
def test_the_gan_learns_digits_fid_falls():
    trainable = GANTrainable(config={"max_epochs": 8, "sample_every": 4})
    try:
        results = run(trainable, 8)
        samples = sorted((Path(trainable.logdir) / "samples").glob("*.png"))
    finally:
        trainable.stop()
    first, last = results[0]["fid"], results[-1]["fid"]
    assert last < 0.5 * first, (first, last)
    for result in results:
        for key in GAN_METRICS:
            assert key in result
        assert isinstance(result["fid_features"], str) and result["fid_features"] == "classifier"
        assert all(isinstance(result[k], float) for k in GAN_METRICS if k not in ("epoch", "fid_features"))
        assert 0.0 <= result["d_accuracy"] <= 1.0 and result["fid_samples"] == 500.0
        assert result["epoch_time_s"] > 0 and result["fid_time_s"] > 0
    assert [p.name for p in samples] == ["epoch_0004.png", "epoch_0008.png"]
    assert samples[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 8x8 digits blown up 8 times, 8 per row with 2-pixel padding: a person can see them.
    from PIL import Image

    with Image.open(samples[0]) as grid:
        assert grid.width == 8 * (64 + 2) + 2


@pytest.mark.e2e  # trains a GAN for 4 epochs: seconds, kept out of the fast set
def test_checkpoint_restores_both_networks_optimisers_epoch_and_rng(tmp_path):
    config = {"width": 16, "fid_samples": 100, "sample_every": 0, "seed": 4}
    reference = GANTrainable(config=config)
    first = run(reference, 2)
    checkpoint = reference.save(str(tmp_path / "ckpt"))
    expected = run(reference, 2)
    restored = GANTrainable(config=config)
    restored.restore(checkpoint)
    resumed = run(restored, 2)
    assert [r["epoch"] for r in resumed] == [3, 4]
    for a, b in zip(expected, resumed, strict=True):
        for key in ("d_loss", "g_loss", "fid", "d_accuracy", "kept_epoch"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key
    # The best snapshot: each result names the epoch of the lowest fid so far, and the trial folder holds that
    # epoch's generator (the restored trial's too: the checkpoint carries the kept weights) and its sample grid.
    fids = [r["fid"] for r in [*first, *expected]]
    lowest = [1 + min(range(k + 1), key=fids.__getitem__) for k in range(4)]
    assert [r["kept_epoch"] for r in [*first, *expected]] == lowest

    def kept(trainable: GANTrainable) -> dict:
        assert (Path(trainable.logdir) / "best" / "samples.png").stat().st_size > 0
        return torch.load(Path(trainable.logdir) / "best" / "generator.pt", weights_only=False)

    for trainable in (reference, restored):
        snapshot = kept(trainable)
        assert snapshot["epoch"] == lowest[-1] and snapshot["fid"] == pytest.approx(min(fids), rel=1e-5)
    generator = Generator(32, 16, (1, 8, 8))
    generator.load_state_dict(kept(reference)["netG"])  # the weights of the kept generator, whole
    # Restored to epoch 2, the folder holds what was kept by epoch 2 (written again from the checkpoint, whatever
    # the folder held), not a snapshot of epochs undone.
    (Path(reference.logdir) / "best" / "generator.pt").write_bytes(b"a later epoch's snapshot")
    reference.restore(checkpoint)
    assert kept(reference)["epoch"] == lowest[1] and reference.kept_epoch == lowest[1]
    # The averaged generator comes back with the checkpoint; one written before there was one starts it from the
    # raw generator's weights.
    state = torch.load(Path(checkpoint.checkpoint.path) / "gan.pt", weights_only=False)
    averaged = reference.netG_ema.state_dict()
    assert all(torch.equal(state["extra"]["netG_ema"][name], value) for name, value in averaged.items())
    state["extra"].pop("netG_ema")
    torch.save(state, Path(checkpoint.checkpoint.path) / "gan.pt")
    reference.restore(checkpoint)
    raw = reference.netG.state_dict()
    assert all(torch.equal(raw[name], value) for name, value in reference.netG_ema.state_dict().items())
    for trainable in (reference, restored):
        trainable.stop()


@pytest.mark.e2e  # trains a GAN for several epochs: seconds each, kept out of the fast set
def test_reset_config_and_same_seed_same_curve():
    config = {"width": 16, "fid_samples": 100, "sample_every": 0}
    trainable = GANTrainable(config=config)
    first = [r["fid"] for r in run(trainable, 2)]
    assert trainable.reset_config({**config, "fold": 1})
    second = run(trainable, 1)
    fresh = GANTrainable(config={**config, "fold": 1})
    expected = run(fresh, 1)
    again = GANTrainable(config=config)
    repeat = [r["fid"] for r in run(again, 2)]
    for t in (trainable, fresh, again):
        t.stop()
    assert second[0]["epoch"] == 1 and second[0]["fold"] == 1.0
    assert second[0]["fid"] == pytest.approx(expected[0]["fid"], rel=1e-5)
    assert first == pytest.approx(repeat, rel=1e-6)


@pytest.mark.e2e  # trains a GAN for several epochs: seconds each, kept out of the fast set
def test_trains_on_28x28_mnist_format_files(tmp_path):
    make_mnist(tmp_path / "data", n_train=150, n_test=30)
    trainable = GANTrainable(
        config={
            "dataset": "mnist",
            "data_root": str(tmp_path / "data"),
            "width": 8,
            "fid_samples": 40,
            "batch_size": 32,
            "sample_every": 1,
        }
    )
    try:
        result = trainable.train()
    finally:
        trainable.stop()
    assert math.isfinite(result["fid"]) and result["epoch"] == 1


@pytest.mark.e2e  # trains a GAN for several epochs: seconds each, kept out of the fast set
def test_inception_features_inside_the_trainable(tmp_path, random_fid_network_state):
    path = tmp_path / "weights.pth"
    torch.save(random_fid_network_state, path)
    trainable = GANTrainable(
        config={
            "fid_features": "inception",
            "fid_weights": str(path),
            "fid_samples": 6,
            "width": 8,
            "sample_every": 0,
            "num_folds": 10,  # a small held-out fold: fewer reference images through the Inception network
        }
    )
    try:
        result = trainable.train()
    finally:
        trainable.stop()
    assert result["fid_features"] == "inception" and math.isfinite(result["fid"])


@pytest.mark.e2e  # trains a GAN for several epochs: seconds each, kept out of the fast set
def test_mixed_precision_option_trains(tmp_path):
    # On the CPU mixed precision is bfloat16 autocast; on CUDA float16 with loss scaling.
    trainable = GANTrainable(config={"amp": True, "sample_every": 0})
    try:
        fids = [trainable.train()["fid"] for _ in range(3)]  # about 3.5 s an epoch on 2 CPU cores
        assert trainable.amp_dtype == torch.bfloat16
        restored = GANTrainable(config={"amp": True, "sample_every": 0})
        restored.restore(trainable.save(str(tmp_path / "ckpt")))
        assert restored.epoch == 3
        restored.stop()
    finally:
        trainable.stop()
    assert all(math.isfinite(f) for f in fids)
    assert fids[-1] < 0.75 * fids[0]  # it learns (823 to 540 here in 3 epochs, seed 0)


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"fid_features": "clip"}, "fid_features='clip'"),
        ({"fid_samples": 1}, "fid_samples must be >= 2"),
        ({"lr_g": 0}, "lr_g=0"),
        ({"betas": [0.5]}, "betas="),
        ({"label_smoothing": 0.7}, "label_smoothing=0.7"),
        ({"d_steps": 0}, "d_steps=0"),
        ({"dataset": "xor"}, "no images"),
        ({"num_folds": 1}, "num_folds must be >= 2"),
        ({"amp": "yes"}, "amp='yes'"),
        ({"ema_decay": 1.0}, "ema_decay=1.0"),
        ({"passes": 0}, "passes=0"),
        ({"ema_decay": -0.1}, "ema_decay=-0.1"),
    ],
)
def test_bad_config(config, match):
    with pytest.raises(ValueError, match=match):
        GANTrainable(config=config)


def test_fid_uses_fixed_noise_reports_its_sd_and_judges_on_the_test_split_apart():
    trainable = GANTrainable(config={"width": 16, "fid_samples": 200, "sample_every": 0, "seed": 2})
    result = trainable.train()
    # Common random numbers: the same generator evaluated again gives the same FID (a fresh draw would move it),
    # and evaluating draws nothing from the training's random stream.
    state = trainable.rng.get_state()
    again = trainable._fid()
    assert again["fid"] == pytest.approx(result["fid"], rel=1e-9)
    assert torch.equal(trainable.rng.get_state(), state)
    # The SD from two disjoint halves, and the independent judge: the test split, noise of its own.
    assert math.isfinite(result["fid_sd"]) and result["fid_sd"] >= 0
    assert math.isfinite(result["fid_test"]) and result["fid_test"] != result["fid"]
    assert not torch.equal(trainable.fid_noise, trainable.fid_test_noise)
    assert {"fid_sd", "fid_test"} <= set(GAN_METRICS)
    trainable.stop()


def test_a_gans_curves_are_judged_by_the_test_fid_at_the_best_snapshot_by_default(tmp_path, capsys):
    import pandas as pd

    from analysis import default_target
    from tests.curves import misleading_start_curves
    from tune_stop.app.cli import main

    assert default_target(["fid", "fid_test", "d_accuracy"]) == ("fid_test", "min")
    assert default_target(["fid", "d_accuracy"]) == ("fid", "min")  # curves recorded before fid_test
    curves = misleading_start_curves()
    curves.assign(fid_test=curves["fid"] * 1.05).to_csv(tmp_path / "gan.csv", index=False)
    argv = ["recommend", str(tmp_path / "gan.csv"), "--metric", "fid", "--tolerance", "0.5"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == 0
    assert (pd.read_csv(tmp_path / "r" / "recommendations.csv")["target"] == "fid_test (best fid snapshot)").all()
    assert 'checkpoint_score_attribute="fid"' in capsys.readouterr().out
    assert main([*argv, "--no-keep-best", "--out", str(tmp_path / "s")]) == 0
    assert (pd.read_csv(tmp_path / "s" / "recommendations.csv")["target"] == "fid_test").all()


def test_what_is_evaluated_and_kept_is_the_generators_moving_average():
    trainable = GANTrainable(config={"width": 16, "fid_samples": 200, "sample_every": 0, "seed": 3})
    raw, averaged = trainable.netG, trainable.netG_ema
    assert averaged is not raw
    # The update: decay min(ema_decay, (1 + n) / (10 + n)) after the (n + 1)-th generator step.
    with torch.no_grad():
        for a, r in zip(averaged.parameters(), raw.parameters(), strict=True):
            a.zero_()
            r.fill_(1.0)
    trainable._average_generator(0)  # decay 0.1: 0.9 of the way to the raw weights
    assert all(torch.allclose(a, torch.full_like(a, 0.9)) for a in averaged.parameters())
    trainable._average_generator(10_000)  # decay ema_decay (0.999): 0.001 of the rest of the way
    assert all(torch.allclose(a, torch.full_like(a, 0.9 + 0.1 * 0.001)) for a in averaged.parameters())
    trainable.stop()

    trainable = GANTrainable(config={"width": 16, "fid_samples": 200, "sample_every": 0, "seed": 3})
    result = trainable.train()
    assert result["ema_decay"] == 0.999
    averaged = trainable.netG_ema
    # The kept snapshot is the average's weights, and FID is the average's, which trails the raw generator:
    # evaluating the raw one gives another number.
    assert result["kept_epoch"] == 1
    kept = trainable.kept["netG"]
    assert all(torch.equal(kept[name], value) for name, value in averaged.state_dict().items())
    assert not all(torch.equal(kept[name], value) for name, value in trainable.netG.state_dict().items())
    assert trainable._fid()["fid"] == pytest.approx(result["fid"], rel=1e-9)
    trainable.netG_ema = trainable.netG
    assert trainable._fid()["fid"] != pytest.approx(result["fid"], rel=1e-3)
    trainable.stop()

    plain = GANTrainable(config={"width": 16, "fid_samples": 200, "sample_every": 0, "seed": 3, "ema_decay": 0})
    assert plain.netG_ema is plain.netG  # 0: the raw generator is evaluated and kept
    plain.stop()


def test_an_epoch_is_passes_passes_over_the_data_then_one_evaluation():
    trainable = GANTrainable(config={"width": 16, "fid_samples": 200, "sample_every": 0, "seed": 3, "passes": 3})
    updates, evaluations = [], []
    average, evaluate = trainable._average_generator, trainable._fid
    trainable._average_generator = lambda n: (updates.append(n), average(n))[1]
    trainable._fid = lambda: (evaluations.append(trainable.epoch), evaluate())[1]
    results = run(trainable, 2)
    trainable.stop()
    assert [r["epoch"] for r in results] == [1, 2] and results[-1]["passes"] == 3.0
    assert evaluations == [1, 2]  # one FID per epoch, after its passes
    assert updates == list(range(2 * 3 * trainable.steps_per_pass))  # the average counts every generator step
