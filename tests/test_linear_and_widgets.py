import numpy as np
import pytest
import torch

from torch import nn

from helpers.linear import (
    SaturatingTanh,
    activation_change_by_dimension,
    best_linf_step_versus_random,
    l2_perturbation,
    linear_regime_share,
    logit_linearity_along_fgsm,
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


def _mlp(activation: nn.Module, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 32), activation, nn.Linear(32, 5))


def test_saturating_tanh_has_slope_one_at_zero_and_saturates_at_one_over_s():
    a = torch.tensor([-100.0, -1e-4, 0.0, 1e-4, 100.0])
    out = SaturatingTanh(4.0)(a)
    assert out[2] == 0 and out[3] / 1e-4 == pytest.approx(1.0, rel=1e-3)  # slope 1 near zero
    assert out[-1] == pytest.approx(0.25) and out[0] == pytest.approx(-0.25)  # bounded by 1/s
    assert torch.allclose(SaturatingTanh(1.0)(a), torch.tanh(a))


def test_a_linear_model_is_exactly_its_linearisation_along_fgsm():
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).train()
    x = 0.25 + 0.5 * torch.rand(6, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    before = x.clone()
    result = logit_linearity_along_fgsm(model, x, None, 0.1, points=5)
    assert result["logits"].shape == result["predicted"].shape == (5, 6, 5)
    assert np.allclose(result["logits"], result["predicted"], atol=1e-5)
    assert np.all(result["relative_error"] < 1e-4)
    assert np.array_equal(result["predicted_flip"], result["flipped"])
    assert torch.equal(x, before) and model.training  # input untouched, mode restored
    with torch.no_grad():  # t = 0 is the clean logits, t = 1 the FGSM image's
        assert np.allclose(result["logits"][0], model(x).numpy(), atol=1e-6)


def test_saturating_units_bend_the_logits_along_fgsm_and_leave_their_linear_regime():
    x = torch.rand(20, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    errors, shares = {}, {}
    for s in (0.01, 30.0):  # almost linear, and saturating
        model = _mlp(SaturatingTanh(s))
        errors[s] = np.median(logit_linearity_along_fgsm(model, x, None, 0.2)["relative_error"])
        shares[s] = linear_regime_share(model, x)["share"]
    assert errors[0.01] < 0.01 < 0.1 < errors[30.0]
    assert shares[0.01] == 1.0 and shares[30.0] < 0.5


def test_linear_regime_share_counts_active_relus_and_unsaturated_tanh_units():
    x = torch.full((3, 1, 1, 1), 0.5)
    layer = nn.Linear(1, 4)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0], [1.0], [4.0], [-4.0]]))  # a = 0.5, 0.5 - 1, 2, -2
        layer.bias.copy_(torch.tensor([0.0, -1.0, 0.0, 0.0]))
    relu = linear_regime_share(nn.Sequential(nn.Flatten(), layer, nn.ReLU()), x)
    assert relu == {"share": 0.5, "per_layer": [0.5]}  # active: a = 0.5 and 2
    tanh = linear_regime_share(nn.Sequential(nn.Flatten(), layer, nn.Tanh()), x)
    assert tanh["share"] == 0.5  # |a| < 0.88: a = 0.5 and -0.5
    sigmoid = linear_regime_share(nn.Sequential(nn.Flatten(), layer, nn.Sigmoid()), x)
    assert sigmoid["share"] == 0.5  # slope >= half of 1/4 where |a| < 1.76
    assert linear_regime_share(nn.Sequential(nn.Flatten(), layer, nn.Tanh()), x, threshold=0.01)["share"] == 1.0
    two = linear_regime_share(nn.Sequential(nn.Flatten(), layer, nn.ReLU(), nn.Linear(4, 2), nn.Tanh()), x)
    assert len(two["per_layer"]) == 2 and two["share"] == pytest.approx((4 * 0.5 + 2 * two["per_layer"][1]) / 6)


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
