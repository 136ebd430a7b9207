import numpy as np
import pytest
import torch

from helpers.linear import (
    activation_change_by_dimension,
    best_linf_step_versus_random,
    l2_perturbation,
    sign_perturbation,
)


def test_sign_step_moves_the_activation_by_exactly_eps_times_the_l1_norm():
    dims = [1, 10, 100, 1000, 10000]
    result = activation_change_by_dimension(dims, eps=0.01, seed=3)
    assert np.allclose(result["linf_change"], result["eps_l1"], rtol=1e-9)
    assert np.allclose(result["l2_change"], result["eps_l2"], rtol=1e-9)
    assert np.allclose(result["pixel_change"], 0.01)  # every input moves by eps at most
    # linear growth for L-inf (about eps * sqrt(2/pi) * n), square-root growth for L2
    assert result["linf_change"][-1] / result["linf_change"][-2] == pytest.approx(10, rel=0.15)
    assert result["l2_change"][-1] / result["l2_change"][-2] == pytest.approx(10**0.5, rel=0.15)
    assert result["linf_change"][-1] == pytest.approx(0.01 * np.sqrt(2 / np.pi) * 10000, rel=0.05)


def test_perturbations_have_the_stated_size():
    w = np.array([3.0, -4.0, 0.0])
    assert np.array_equal(sign_perturbation(w, 0.5), [0.5, -0.5, 0.0])
    assert np.linalg.norm(l2_perturbation(w, 0.5)) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="eps"):
        sign_perturbation(w, -1.0)


def test_no_random_corner_of_the_ball_beats_the_gradient_sign():
    g = np.random.default_rng(0).normal(size=200)
    result = best_linf_step_versus_random(g, 0.1, trials=2000)
    assert result["fgsm"] == pytest.approx(0.1 * np.abs(g).sum())
    assert result["best_random"] < result["fgsm"]
    assert abs(result["mean_random"]) < 0.1 * result["fgsm"]


def test_fgsm_explorer_updates_the_prediction_when_the_slider_moves(lite0, cat_batch):
    from helpers.widgets import fgsm_explorer

    before = cat_batch.clone()
    explorer = fgsm_explorer(lite0, cat_batch, max_eps_255=8)
    assert explorer.label.value.startswith("eps = 0/255: Egyptian cat")
    explorer.slider.value = 8
    assert explorer.label.value.startswith("eps = 8/255: ")
    assert "Egyptian cat" not in explorer.label.value  # FGSM at 8/255 changes the top-1
    assert explorer.update()[0][0] == explorer.label.value.split(": ")[1].split(" (")[0]
    assert torch.equal(cat_batch, before)
    with pytest.raises(ValueError, match="one image"):
        fgsm_explorer(lite0, cat_batch.repeat(2, 1, 1, 1))
