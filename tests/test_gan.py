import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from helpers import config
from helpers.gan import (
    Discriminator,
    Generator,
    VirtualBatchNorm,
    d_loss,
    g_loss_non_saturating,
    g_loss_saturating,
    generate,
    recalibrate_batchnorm,
    sample_latent,
    train_gan,
    update_average,
)

TINY = {"latent_dim": 8, "width": 8}


def tiny_models(seed=0, norm="batch"):
    config.seed_everything(seed)
    return Generator(norm=norm, **TINY), Discriminator(width=8)


@pytest.fixture(scope="module")
def data():
    return torch.rand(40, 1, 16, 16, generator=torch.Generator().manual_seed(0))


# --- models ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [8, 16, 32])
def test_models_are_sized_to_the_data(size):
    G, D = Generator(image_size=size, **TINY), Discriminator(image_size=size, width=8)
    images = G(torch.randn(5, 8))
    assert images.shape == (5, 1, size, size)
    assert images.min() >= 0 and images.max() <= 1  # a tanh rescaled to [0, 1]
    assert D(images).shape == (5,)  # one logit per image


def test_dcgan_initialisation_is_normal_with_std_0_02():
    torch.manual_seed(0)
    G, D = Generator(), Discriminator()
    for model in (G, D):
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
                assert abs(module.weight.std().item() - 0.02) < 0.002 and abs(module.weight.mean().item()) < 0.002
            if isinstance(module, torch.nn.BatchNorm2d):
                assert abs(module.weight.mean().item() - 1) < 0.01 and module.bias.abs().max() == 0


def test_the_discriminator_returns_logits_not_probabilities():
    D = Discriminator(width=8)
    with torch.no_grad():
        for module in D.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.mul_(50)
    logits = D.eval()(torch.rand(64, 1, 16, 16))
    assert (logits < 0).any() or (logits > 1).any()


def test_a_generator_drawing_at_8x8_upscales_like_load_digits():
    G = Generator(native_size=8, **TINY).eval()
    z = torch.randn(3, 8)
    drawn = (G.net(z[:, :, None, None]) + 1) / 2  # what it draws, (3, 1, 8, 8) in [0, 1]
    assert drawn.shape == (3, 1, 8, 8)
    expected = F.interpolate(drawn, size=(16, 16), mode="bilinear", align_corners=False)  # as load_digits
    assert torch.allclose(G(z), expected, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs", [{"image_size": 12}, {"image_size": 4}, {"native_size": 32}, {"native_size": 12}, {"norm": "layer"}]
)
def test_bad_model_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        Generator(**kwargs)


def test_models_reject_the_wrong_shape():
    G, D = tiny_models()
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        G(torch.randn(3, 9))
    with pytest.raises(ValueError, match="1, 16, 16"):
        D(torch.rand(3, 1, 8, 8))


# --- losses ----------------------------------------------------------------------------------------------


def test_losses_equal_their_formulas():
    real, fake = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    for t in (1.0, 0.9):
        expected = -(t * d_real.log() + (1 - t) * (1 - d_real).log()).mean() - (1 - d_fake).log().mean()
        assert torch.allclose(d_loss(real, fake, real_label=t), expected)
    assert torch.allclose(g_loss_saturating(fake), (1 - d_fake).log().mean())
    assert torch.allclose(g_loss_non_saturating(fake), -d_fake.log().mean())


def test_label_smoothing_is_one_sided():
    real, fake = torch.zeros(4), torch.full((4,), -3.0)
    # the fake term is the same with and without smoothing; only the real target moves
    fake_term = F.binary_cross_entropy_with_logits(fake, torch.zeros(4))
    assert torch.allclose(d_loss(real, fake, 0.9) - d_loss(real, torch.full((4,), -1e4), 0.9), fake_term)
    assert torch.allclose(d_loss(torch.full((4,), 1e4), torch.full((4,), -1e4), 1.0), torch.tensor(0.0))
    assert d_loss(torch.full((4,), 1e4), torch.full((4,), -1e4), 0.9) > 1  # smoothing punishes overconfidence


def logit_gradient(loss_fn, probability):
    logit = torch.logit(torch.tensor([probability], dtype=torch.float64)).requires_grad_(True)
    loss_fn(logit).backward()
    return logit.grad.item()


def test_the_saturating_gradient_vanishes_when_d_rejects_the_samples_and_the_non_saturating_does_not():
    for p in (0.5, 1e-2, 1e-4, 1e-8):
        assert logit_gradient(g_loss_saturating, p) == pytest.approx(-p, rel=1e-6)  # -D(G(z))
        assert logit_gradient(g_loss_non_saturating, p) == pytest.approx(-(1 - p), rel=1e-6)  # -(1 - D(G(z)))
    assert abs(logit_gradient(g_loss_saturating, 1e-8)) < 1e-7
    assert abs(logit_gradient(g_loss_non_saturating, 1e-8)) > 0.99


def test_losses_are_finite_for_extreme_logits():
    extreme = torch.tensor([-1e4, -100.0, 0.0, 100.0, 1e4], requires_grad=True)
    for loss in (d_loss(extreme, extreme), d_loss(extreme, extreme, 0.9), g_loss_saturating(extreme),
                 g_loss_non_saturating(extreme)):
        (gradient,) = torch.autograd.grad(loss, extreme)
        assert torch.isfinite(loss) and torch.isfinite(gradient).all()
    assert g_loss_non_saturating(torch.tensor([-1e4])).item() == pytest.approx(1e4)  # -log(sigmoid(-1e4))


@pytest.mark.parametrize("label", [0.0, -0.1, 1.1, math.nan])
def test_real_label_outside_0_1_raises(label):
    with pytest.raises(ValueError, match="real_label"):
        d_loss(torch.zeros(2), torch.zeros(2), real_label=label)


# --- virtual batchnorm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(6, 4), (6, 4, 3, 3)])
def test_vbn_output_of_an_example_does_not_depend_on_its_minibatch(shape):
    torch.manual_seed(0)
    vbn = VirtualBatchNorm(4)
    reference, x, others = torch.randn(10, *shape[1:]), torch.randn(*shape), torch.randn(*shape) * 5 + 3
    alone, _ = vbn(x[:1], reference)
    in_batch, _ = vbn(x, reference)
    in_other_batch, _ = vbn(torch.cat([x[:1], others]), reference)
    assert torch.allclose(alone[0], in_batch[0], atol=1e-6)
    assert torch.allclose(alone[0], in_other_batch[0], atol=1e-6)
    # ... whereas batchnorm's does
    bn = torch.nn.BatchNorm1d(4) if len(shape) == 2 else torch.nn.BatchNorm2d(4)
    assert not torch.allclose(bn(x)[0], bn(torch.cat([x[:1], others]))[0], atol=1e-3)


@pytest.mark.parametrize("shape", [(16, 4), (16, 4, 5, 5)])
def test_vbn_with_the_reference_batch_as_the_batch_is_batchnorm_on_it(shape):
    torch.manual_seed(1)
    batch = torch.randn(*shape) * 3 + 1
    vbn = VirtualBatchNorm(4)
    bn = torch.nn.BatchNorm1d(4) if len(shape) == 2 else torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        for layer in (vbn, bn):
            layer.weight.copy_(torch.tensor([1.0, 2.0, 0.5, -1.0]))
            layer.bias.copy_(torch.tensor([0.0, 1.0, -1.0, 0.3]))
    _, reference_out = vbn(batch[:2], batch)
    assert torch.allclose(reference_out, bn.train()(batch), atol=1e-5)


def test_vbn_mixes_one_part_own_statistics_with_m_parts_reference():
    reference = torch.tensor([[-1.0], [1.0], [-1.0], [1.0]])  # mean 0, mean square 1
    x = torch.tensor([[6.0]])  # mean 6, mean square 36
    out, _ = VirtualBatchNorm(1, eps=0.0)(x, reference)
    mean, mean_sq = (6 + 4 * 0) / 5, (36 + 4 * 1) / 5
    assert out.item() == pytest.approx((6 - mean) / math.sqrt(mean_sq - mean**2), rel=1e-6)


def test_a_vbn_generator_is_independent_of_the_minibatch_and_of_train_or_eval_mode():
    G, _ = tiny_models(norm="virtual")
    z = torch.randn(6, 8)
    together = G(z)
    assert torch.allclose(G(z[:1])[0], together[0], atol=1e-6)
    assert torch.allclose(G.eval()(z), together, atol=1e-6)
    assert "reference_z" in G.state_dict()  # the reference batch is saved with the weights
    assert len(list(G.modules())) and any(isinstance(m, VirtualBatchNorm) for m in G.modules())


# --- training --------------------------------------------------------------------------------------------


class StepCounter:
    """Counts optimiser steps (and records the learning rate) per network, through torch's global hook."""

    def __init__(self, G, D):
        self.ids = {"G": {id(p) for p in G.parameters()}, "D": {id(p) for p in D.parameters()}}
        self.steps, self.lrs = [], {"G": set(), "D": set()}

    def __call__(self, optimizer, args, kwargs):
        params = {id(p) for group in optimizer.param_groups for p in group["params"]}
        name = next(name for name, ids in self.ids.items() if ids == params)
        self.steps.append(name)
        self.lrs[name] |= {group["lr"] for group in optimizer.param_groups}


@pytest.mark.parametrize("k_d", [1, 3])
def test_k_discriminator_updates_per_generator_update_with_separate_learning_rates(data, k_d):
    G, D = tiny_models()
    counter = StepCounter(G, D)
    handle = register_optimizer_step_post_hook(counter)
    try:
        history = train_gan(G, D, data, steps=4, k_d=k_d, lr_d=3e-4, lr_g=1e-4, batch_size=8, progress=False)
    finally:
        handle.remove()
    assert counter.steps == (["D"] * k_d + ["G"]) * 4
    assert counter.lrs == {"G": {1e-4}, "D": {3e-4}}
    assert len(history["d_loss"]) == len(history["g_loss"]) == len(history["d_real"]) == 4
    assert all(0 <= p <= 1 for p in history["d_real"] + history["d_fake"])
    assert not G.training and not D.training


@pytest.mark.parametrize("g_optimizer", ["adam", "sgd"])
def test_the_generator_optimizer_sgd_steps_by_the_gradient_and_adam_by_its_sign(data, g_optimizer):
    G, D = tiny_models()
    g_ids, steps = {id(p) for p in G.parameters()}, []

    def before(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        if {id(p) for p in params} == g_ids:
            steps.append((type(optimizer), params, [p.detach().clone() for p in params],
                          [p.grad.detach().clone() for p in params]))

    handle = register_optimizer_step_pre_hook(before)
    try:
        train_gan(G, D, data, steps=1, lr_d=1e-3, lr_g=0.01, g_optimizer=g_optimizer, batch_size=8, progress=False)
    finally:
        handle.remove()
    ((kind, params, weights, gradients),) = steps
    change = torch.cat([(p.detach() - w).flatten() for p, w in zip(params, weights)])
    gradient = torch.cat([g.flatten() for g in gradients])
    if g_optimizer == "sgd":  # the first step of SGD with momentum: -lr * gradient
        assert kind is torch.optim.SGD
        assert torch.allclose(change, -0.01 * gradient, rtol=1e-4, atol=1e-7)  # float32 rounding of w + step
    else:  # Adam's first step: -lr * gradient / |gradient|, whatever the gradient's size
        assert kind is torch.optim.Adam
        large = gradient.abs() > 1e-4  # beyond Adam's eps (1e-8)
        assert torch.allclose(change[large], -0.01 * gradient[large].sign(), rtol=1e-3)
        assert change.abs().max() <= 0.01 * (1 + 1e-4)


def test_training_moves_the_losses_and_does_not_modify_the_data(data):
    before = data.clone()
    G, D = tiny_models()
    z = sample_latent(16, 8, seed=0)
    start = generate(G, z)
    history = train_gan(G, D, data, steps=6, lr_d=1e-3, lr_g=1e-3, batch_size=8, progress=False,
                        sample_every=3, n_samples=5)
    assert torch.equal(data, before)
    assert history["d_loss"][-1] != history["d_loss"][0]
    assert not torch.allclose(generate(G, z), start)
    assert history["sample_steps"] == [0, 3, 6]
    assert [s.shape for s in history["samples"]] == [(5, 1, 16, 16)] * 3


@pytest.mark.parametrize("norm", ["batch", "virtual"])
def test_resume_from_a_checkpoint_reproduces_the_uninterrupted_run_exactly(tmp_path, data, norm):
    settings = dict(k_d=2, lr_d=2e-4, lr_g=4e-4, batch_size=16, real_label=0.9, sample_every=2, seed=3,
                    progress=False)  # 40 images, batches of 16: resuming crosses an epoch boundary
    G, D = tiny_models(norm=norm)
    average = copy.deepcopy(G)
    uninterrupted = train_gan(G, D, data, steps=6, average=average, **settings)

    G1, D1 = tiny_models(norm=norm)
    train_gan(G1, D1, data, steps=3, average=copy.deepcopy(G1), checkpoint=tmp_path / "gan.pt", **settings)
    torch.manual_seed(123)  # the resumed process's RNG state differs: the checkpoint must restore it
    G2, D2 = tiny_models(seed=7, norm=norm)  # ... and so do its weights
    average2 = copy.deepcopy(G2)
    resumed = train_gan(G2, D2, data, steps=6, average=average2, checkpoint=tmp_path / "gan.pt", **settings)

    for key in ("d_loss", "g_loss", "d_real", "d_fake", "sample_steps"):
        assert resumed[key] == uninterrupted[key], key
    assert all(torch.equal(a, b) for a, b in zip(resumed["samples"], uninterrupted["samples"]))
    for model, reference in ((G2, G), (D2, D), (average2, average)):
        for key, tensor in reference.state_dict().items():
            assert torch.equal(model.state_dict()[key], tensor), key


def test_a_finished_run_resumes_at_once_and_other_settings_are_refused(tmp_path, data):
    G, D = tiny_models()
    path = tmp_path / "gan.pt"
    history = train_gan(G, D, data, steps=2, lr_d=1e-4, lr_g=1e-4, batch_size=8, checkpoint=path, progress=False)
    G2, D2 = tiny_models(seed=1)
    again = train_gan(G2, D2, data, steps=2, lr_d=1e-4, lr_g=1e-4, batch_size=8, checkpoint=path, progress=False)
    assert again == history
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))
    with pytest.raises(ValueError, match="other settings"):
        train_gan(G2, D2, data, steps=4, k_d=2, lr_d=1e-4, lr_g=1e-4, batch_size=8, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        train_gan(G2, D2, data, steps=4, lr_d=1e-4, lr_g=1e-4, batch_size=8, checkpoint=path, progress=False,
                  average=copy.deepcopy(G2))
    with pytest.raises(ValueError, match="other settings"):  # the generator's optimizer is a setting too
        train_gan(G2, D2, data, steps=2, lr_d=1e-4, lr_g=1e-4, batch_size=8, checkpoint=path, progress=False,
                  g_optimizer="sgd")
    with pytest.raises(ValueError, match="beyond steps=1"):
        train_gan(G2, D2, data, steps=1, lr_d=1e-4, lr_g=1e-4, batch_size=8, checkpoint=path, progress=False)


def test_the_average_is_an_exponential_moving_average_of_the_generator(data):
    G, D = tiny_models()
    start = copy.deepcopy(G)
    average = copy.deepcopy(G)
    train_gan(G, D, data, steps=3, lr_d=1e-3, lr_g=1e-3, batch_size=8, average=average, average_decay=0.9,
              progress=False)
    for a, g, s in zip(average.parameters(), G.parameters(), start.parameters()):
        assert not torch.equal(a, g)  # behind the generator ...
        assert (a - s).abs().sum() < (g - s).abs().sum()  # ... and closer to the start
    assert not average.training
    # one step of the average, exactly
    model, avg = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expected = [0.75 * a + 0.25 * m for a, m in zip(avg.parameters(), model.parameters())]
    update_average(avg, model, decay=0.75)
    assert all(torch.allclose(a, e) for a, e in zip(avg.parameters(), expected))


def test_recalibrated_batchnorm_statistics_are_those_of_the_fresh_codes():
    G, _ = tiny_models()
    G.train()
    norm = G.net[1]
    norm.running_mean.fill_(5.0)  # stale statistics
    recalibrate_batchnorm(G, batches=3, batch_size=10, seed=4)
    codes = torch.cat([sample_latent(10, 8, seed=4 + i) for i in range(3)])
    first = G.net[0](codes[:, :, None, None]).detach()  # the input of the first batchnorm
    assert torch.allclose(norm.running_mean, first.mean(dim=(0, 2, 3)), atol=1e-6)
    assert norm.momentum == 0.1 and G.training  # settings and mode restored


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k_d": 0}, "k_d"),
        ({"k_d": 1.5}, "k_d"),
        ({"lr_d": 0.0}, "lr_d"),
        ({"lr_g": -1e-4}, "lr_g"),
        ({"lr_g": math.inf}, "lr_g"),
        ({"real_label": 0.0}, "real_label"),
        ({"real_label": 1.5}, "real_label"),
        ({"g_loss": "wasserstein"}, "g_loss"),
        ({"steps": -1}, "steps"),
        ({"batch_size": 41}, "batch_size"),
        ({"average_decay": 1.0}, "average_decay"),
        ({"average": torch.nn.Linear(2, 2)}, "copy of the generator"),
    ],
)
def test_bad_training_arguments_raise(data, kwargs, match):
    G, D = tiny_models()
    arguments = {"steps": 1, "lr_d": 1e-4, "lr_g": 1e-4, "batch_size": 8, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        train_gan(G, D, data, **arguments)


def test_bad_training_data_raise():
    G, D = tiny_models()
    with pytest.raises(ValueError, match="load_digits"):
        train_gan(G, D, torch.rand(20, 1, 8, 8), steps=1, lr_d=1e-4, lr_g=1e-4, batch_size=8, progress=False)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_gan(G, D, torch.rand(20, 1, 16, 16) * 2 - 1, steps=1, lr_d=1e-4, lr_g=1e-4, batch_size=8,
                  progress=False)


def test_generate_restores_the_mode_and_uses_no_gradient():
    G, _ = tiny_models()
    G.train()
    images = generate(G, torch.randn(7, 8), batch_size=3)
    assert images.shape == (7, 1, 16, 16) and not images.requires_grad and G.training
    assert torch.equal(sample_latent(4, 8, seed=1), sample_latent(4, 8, seed=1))
