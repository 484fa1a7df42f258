"""FID: the Fréchet distance against pytorch-fid, and both feature extractors."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from tune_stop import metrics
from tune_stop._compat import fid_inception_v3_from_state, pytorch_fid_frechet_distance
from tune_stop.metrics import (
    InceptionWeightsError,
    feature_statistics,
    frechet_distance,
    inception_features,
    load_classifier,
    load_inception,
)


def random_statistics(rng, dim, samples):
    a = rng.normal(size=(samples, dim)) @ rng.normal(size=(dim, dim)) * 0.3
    b = rng.normal(0.5, 1.0, size=(samples, dim)) @ rng.normal(size=(dim, dim)) * 0.3
    return (*feature_statistics(a), *feature_statistics(b))


@pytest.mark.parametrize(("dim", "samples"), [(8, 100), (64, 500), (128, 1000), (512, 2000)])
def test_matches_pytorch_fid(dim, samples):
    mu1, s1, mu2, s2 = random_statistics(np.random.default_rng(dim), dim, samples)
    ours = frechet_distance(mu1, s1, mu2, s2)
    reference = pytorch_fid_frechet_distance(mu1, s1, mu2, s2)
    assert ours == pytest.approx(reference, rel=1e-6)


def test_the_pytorch_fid_reference_runs_where_sqrtm_takes_no_disp(monkeypatch):
    """SciPy 1.18 removed ``sqrtm``'s ``disp``, which pytorch-fid 0.3.0 passes."""
    from scipy import linalg

    mu1, s1, mu2, s2 = random_statistics(np.random.default_rng(3), 16, 200)
    with_disp = pytorch_fid_frechet_distance(mu1, s1, mu2, s2)
    original = linalg.sqrtm
    monkeypatch.setattr(linalg, "sqrtm", lambda matrix: original(matrix))
    with pytest.raises(TypeError, match="disp"):
        from pytorch_fid.fid_score import calculate_frechet_distance

        calculate_frechet_distance(mu1, s1, mu2, s2)
    assert pytorch_fid_frechet_distance(mu1, s1, mu2, s2) == pytest.approx(with_disp, rel=1e-12)


def test_a_sample_against_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(400, 32))
    mu, sigma = feature_statistics(features)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8 * np.trace(sigma)


def test_equal_covariances_give_the_squared_mean_difference():
    rng = np.random.default_rng(1)
    sigma = np.cov(rng.normal(size=(200, 10)), rowvar=False)
    mu1, mu2 = rng.normal(size=10), rng.normal(size=10)
    assert frechet_distance(mu1, sigma, mu2, sigma) == pytest.approx(float(np.sum((mu1 - mu2) ** 2)), rel=1e-8)


def test_non_finite_statistics_give_nan_and_shapes_are_checked():
    mu, sigma = np.zeros(3), np.eye(3)
    assert np.isnan(frechet_distance(mu, sigma, np.array([np.nan, 0, 0]), sigma))
    with pytest.raises(ValueError, match="shapes differ"):
        frechet_distance(mu, sigma, np.zeros(4), np.eye(4))


@pytest.fixture
def hub_dir(tmp_path):
    previous = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    metrics._INCEPTIONS.clear()
    yield tmp_path / "hub"
    torch.hub.set_dir(previous)
    metrics._INCEPTIONS.clear()


def test_inception_without_weights_says_which_file_and_where(hub_dir, tmp_path):
    with pytest.raises(InceptionWeightsError) as caught:
        load_inception(None)
    message = str(caught.value)
    assert metrics.FID_WEIGHTS_FILE in message and str(hub_dir / "checkpoints") in message
    with pytest.raises(InceptionWeightsError, match="does not exist"):
        load_inception(tmp_path / "missing.pth")


def test_inception_loads_a_pytorch_fid_module_state_dict_and_gives_2048_features(
    hub_dir, tmp_path, random_fid_network_state
):
    state = random_fid_network_state
    module = fid_inception_v3_from_state(state, [3])
    path = tmp_path / "inception.pt"
    torch.save(module.state_dict(), path)
    model = load_inception(path)
    loaded = dict(model.state_dict())
    for key, value in module.state_dict().items():
        assert torch.equal(loaded[key], value), key
    features = inception_features(model, torch.rand(3, 1, 8, 8))
    assert features.shape == (3, 2048) and torch.isfinite(features).all()


def test_inception_loads_the_network_file_from_the_torch_hub_cache(hub_dir, random_fid_network_state):
    state = random_fid_network_state
    (hub_dir / "checkpoints").mkdir(parents=True)
    torch.save(state, hub_dir / "checkpoints" / metrics.FID_WEIGHTS_FILE)
    model = load_inception(None)
    assert torch.equal(model.blocks[0][0].conv.weight, state["Conv2d_1a_3x3.conv.weight"])
    assert inception_features(model, torch.rand(2, 3, 32, 32)).shape == (2, 2048)


def test_classifier_is_trained_once_and_cached_on_disk(tmp_path, monkeypatch):
    from tune_stop.data import load_dataset

    monkeypatch.setenv("TUNE_STOP_CACHE", str(tmp_path))
    metrics._CLASSIFIERS.clear()
    data = load_dataset("digits")
    results = []

    def load():
        results.append(load_classifier("digits", data.x_train, data.y_train, 10, epochs=1))

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    files = list((tmp_path / "classifiers").glob("*.pt"))
    assert len(files) == 1
    written = files[0].stat().st_mtime_ns
    metrics._CLASSIFIERS.clear()  # a new process: only the disk cache is left
    again = load_classifier("digits", data.x_train, data.y_train, 10, epochs=1)
    assert files[0].stat().st_mtime_ns == written  # loaded, not retrained
    for a, b in zip(again.state_dict().values(), results[0].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    # It is a real classifier: well above chance on the held-out test split.
    with torch.no_grad():
        accuracy = (again(data.x_test * 2 - 1).argmax(1) == data.y_test).float().mean()
    assert accuracy > 0.8
    metrics._CLASSIFIERS.clear()
