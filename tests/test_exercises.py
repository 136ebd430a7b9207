"""Grading tests of the homework exercises (see helpers/homework and the README's "Homework" section).

Each test carries ``@pytest.mark.exercise("NAME")``; on the solutions they pass like any unit test, on a
student's copy ``python -m helpers.homework grade`` runs them and scores each exercise by the share of its
tests that pass. Each test checks behaviour (not one way of writing it) and imports what it needs inside
the test, so that a broken module costs only the exercises that use it. Notebook exercises are graded by
running their cell with small test doubles for the names it uses: quick, and independent of the other
exercises. ``proximity-term`` builds on ``fooling-objective``; every other exercise stands alone.
"""

import json
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent


def tiny_classifier(seed=0, inputs=3 * 8 * 8, classes=5, dtype=torch.float32):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, 16), nn.Tanh(), nn.Linear(16, classes)).to(dtype)


def linear_classifier(seed=0, inputs=3 * 8 * 8, classes=5):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(inputs, classes))


def images(n, shape=(3, 8, 8), seed=0, dtype=torch.float32, low=0.0, high=1.0):
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, *shape, generator=generator, dtype=dtype)


def plain_tensor(value, what="the result"):
    """``value``, once checked to be a plain ``torch.Tensor``: an object that compares equal to anything
    (or a tensor subclass that changes comparison) must not pass a test by looking like the answer."""
    assert type(value) is torch.Tensor, f"{what} must be a torch.Tensor, got {type(value).__name__}"
    return value


def run_exercise_cell(notebook, name, **doubles):
    """Run the cell of ``notebook`` that holds exercise ``name``, after the notebook's first cell (its imports),
    with ``doubles`` standing in for the variables of earlier cells; returns the cell's namespace."""
    cells = [c for c in json.loads((ROOT / "notebooks" / notebook).read_text())["cells"] if c["cell_type"] == "code"]
    source = lambda cell: "".join(cell["source"])  # noqa: E731
    marker = re.compile(rf"#\s*BEGIN SOLUTION exercise={re.escape(name)}(\s|$)")
    found = [c for c in cells if name in c.get("metadata", {}).get("homework", {}).get("exercises", [])
             or marker.search(source(c))]
    assert len(found) == 1, f"{notebook} has no single cell for exercise {name} (found {len(found)})"
    imports = "\n".join(line for line in source(cells[0]).splitlines() if not line.startswith("%"))
    namespace = {"__name__": "__main__"}
    exec(compile(imports, f"{notebook}, first cell", "exec"), namespace)
    namespace.update(doubles)
    exec(compile(source(found[0]), f"{notebook}, exercise {name}", "exec"), namespace)
    return namespace


# --------------------------------------------------------------------------------------------------
# 00_setup: from a photo to the network's input, and the network's top-k


@pytest.mark.exercise("image-to-tensor")
def test_uint8_photo_becomes_a_float_nchw_tensor_in_unit_range():
    from helpers.imagenet import preprocess

    chw = torch.randint(0, 256, (3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    photo = chw.permute(1, 2, 0).numpy().copy()  # (H, W, C) uint8, as skimage and PIL give photos
    kept = photo.copy()
    x = preprocess(photo, size=8)  # same size: the resize changes nothing
    assert x.shape == (1, 3, 8, 8) and x.dtype == torch.float32
    assert torch.allclose(x[0], chw.float() / 255, atol=1e-6), "pixel (row, col, channel) goes to [channel, row, col]"
    assert (photo == kept).all(), "the photo must not be modified"


@pytest.mark.exercise("image-to-tensor")
def test_grayscale_and_float_photos_become_nchw_tensors():
    import numpy as np

    from helpers.imagenet import preprocess

    gray = np.arange(36, dtype=np.uint8).reshape(6, 6) * 7
    x = preprocess(gray, size=6)
    assert x.shape == (1, 3, 6, 6)
    assert torch.allclose(x[0, 0], torch.from_numpy(gray).float() / 255, atol=1e-6)
    assert torch.equal(x[0, 0], x[0, 2])
    floats = np.random.default_rng(0).uniform(0, 1, size=(5, 5, 3)).astype(np.float32)
    x = preprocess(floats, size=5)
    assert torch.allclose(x[0], torch.from_numpy(floats).permute(2, 0, 1), atol=1e-6)


class FixedLogits(nn.Module):
    """A stand-in network that answers the same logits (N, classes) whatever the images."""

    def __init__(self, logits):
        super().__init__()
        self.register_buffer("logits", logits)

    def forward(self, x):
        return self.logits[: len(x)]


@pytest.mark.exercise("top-k")
def test_predict_gives_the_k_most_probable_labels_with_softmax_probabilities():
    from helpers.imagenet import imagenet_labels, predict

    logits = torch.randn(2, 1000, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    logits[0, [39, 281, 7]] = torch.tensor([9.0, 8.0, 7.5], dtype=torch.float64)
    result = predict(FixedLogits(logits), torch.zeros(2, 3, 4, 4), k=3)
    labels = imagenet_labels()
    probabilities = torch.softmax(logits, dim=1)
    assert len(result) == 2 and all(len(row) == 3 for row in result)
    assert [label for label, _ in result[0]] == [labels[39], labels[281], labels[7]]
    for row, p in zip(result, probabilities):
        order = torch.argsort(p, descending=True)[:3].tolist()
        assert [label for label, _ in row] == [labels[i] for i in order]
        assert [q for _, q in row] == pytest.approx([p[i].item() for i in order], rel=1e-5)


@pytest.mark.exercise("top-k")
def test_class_probabilities_are_float32_rows_that_sum_to_one():
    from helpers.imagenet import class_probabilities

    logits = 10 * torch.randn(3, 1000, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    p = plain_tensor(class_probabilities(FixedLogits(logits), torch.zeros(3, 3, 4, 4)))
    assert p.shape == (3, 1000) and p.dtype == torch.float32 and p.device.type == "cpu"
    assert torch.allclose(p.sum(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose(p, torch.exp(logits - logits.logsumexp(dim=1, keepdim=True)).float(), atol=1e-6)


# --------------------------------------------------------------------------------------------------
# 01_attacking_a_network: the fooling image's objective and the proximity term


@pytest.mark.exercise("fooling-objective")
def test_fooling_image_makes_the_network_say_the_target():
    from helpers.attacks import fooling_image

    model, start, target = linear_classifier(), images(1), 3
    image, history = fooling_image(model, target, start=start, steps=300, lr=0.05, confidence=0.9, progress=False)
    with torch.no_grad():
        first = -torch.log_softmax(model(start), dim=1)[0, target].item()
        final = torch.softmax(model(image), dim=1)[0, target].item()
    assert history["loss"][0] == pytest.approx(first, rel=1e-5), "the loss is the target's cross-entropy"
    assert final >= 0.9 and history["target_probability"][-1] >= 0.9
    assert image.min() >= 0 and image.max() <= 1


@pytest.mark.exercise("fooling-objective")
def test_targeted_attack_without_proximity_lowers_the_target_loss():
    from helpers.attacks import targeted_with_proximity

    model, x = tiny_classifier(seed=1), images(1, seed=1)
    _, history = targeted_with_proximity(model, x, 2, lam=0.0, steps=30, lr=0.02, progress=False)
    assert history["loss"][-1] < history["loss"][0] - 0.5
    assert history["target_probability"][-1] > history["target_probability"][0]


@pytest.mark.exercise("proximity-term")
def test_proximity_term_is_lambda_times_the_squared_l2_distance():
    from helpers.attacks import targeted_with_proximity

    model, x, lam = tiny_classifier(seed=2), images(1, seed=2), 0.7
    x1, _ = targeted_with_proximity(model, x, 4, lam=lam, steps=1, lr=0.05, progress=False)
    _, history = targeted_with_proximity(model, x, 4, lam=lam, steps=2, lr=0.05, progress=False)
    with torch.no_grad():
        expected = -torch.log_softmax(model(x1), dim=1)[0, 4].item() + lam * ((x1 - x) ** 2).sum().item()
    assert type(history["loss"][1]) is float and history["loss"][1] == pytest.approx(expected, rel=1e-5)


@pytest.mark.exercise("proximity-term")
def test_a_larger_lambda_keeps_the_image_closer():
    from helpers.attacks import targeted_with_proximity

    model, x = tiny_classifier(seed=3), images(1, seed=3)
    far, _ = targeted_with_proximity(model, x, 1, lam=0.0, steps=40, lr=0.02, progress=False)
    near, _ = targeted_with_proximity(model, x, 1, lam=5.0, steps=40, lr=0.02, progress=False)
    assert (near - x).norm() < 0.7 * (far - x).norm()


# --------------------------------------------------------------------------------------------------
# 02_attack_types: black-box gradients


def quadratic(weights):
    """The objective sum(w * q + q^2) per query (N, K, ...) -> (N, K); its gradient at x is w + 2x."""
    return lambda queries: (weights * queries + queries**2).flatten(2).sum(dim=2)


@pytest.mark.exercise("finite-difference")
def test_finite_differences_match_the_exact_gradient_and_count_queries():
    from helpers.gradients import FiniteDifference

    x = images(2, shape=(1, 4, 4), dtype=torch.float64, low=0.1, high=0.9)
    w = torch.randn(1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    estimator = FiniteDifference(h=1e-4, batch_size=6)  # 3 pixels per batch of queries
    g = estimator(quadratic(w), x)
    assert g.shape == x.shape
    assert torch.allclose(g, w + 2 * x, atol=1e-6)
    assert estimator.queries == 2 * 16 * 2, "two queries per pixel and image"


@pytest.mark.exercise("finite-difference")
def test_finite_differences_at_the_border_divide_by_the_step_taken():
    from helpers.gradients import FiniteDifference

    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.0]]]], dtype=torch.float64)
    w = torch.tensor([[[1.0, -2.0], [3.0, 0.5]]], dtype=torch.float64)
    linear = lambda queries: (w * queries).flatten(2).sum(dim=2)  # noqa: E731
    g = plain_tensor(FiniteDifference(h=1e-3)(linear, x))
    assert torch.allclose(g, w.expand_as(x), atol=1e-9), "queries stay in [0, 1]; the quotient uses the real step"


@pytest.mark.exercise("nes")
def test_nes_estimates_the_gradient_direction_and_counts_queries():
    from helpers.gradients import NES

    x = images(3, shape=(1, 4, 4), dtype=torch.float64, low=0.2, high=0.8)
    w = torch.randn(1, 4, 4, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    estimator = NES(samples=2000, sigma=1e-2, seed=0, batch_size=500)
    g = estimator(lambda q: (w * q).flatten(2).sum(dim=2), x)
    assert g.shape == x.shape
    for estimate in g:
        cosine = F.cosine_similarity(estimate.flatten(), w.flatten(), dim=0).item()
        scale = (estimate.flatten() @ w.flatten() / w.flatten().norm() ** 2).item()
        assert cosine > 0.95 and 0.85 < scale < 1.15, (cosine, scale)
    assert estimator.queries == 2 * 2000 * 3


@pytest.mark.exercise("nes")
def test_nes_is_repeatable_with_its_seed():
    from helpers.gradients import NES

    x = images(1, shape=(1, 3, 3), dtype=torch.float64, low=0.2, high=0.8)
    objective = quadratic(torch.ones(1, 3, 3, dtype=torch.float64))
    first = NES(samples=10, sigma=1e-2, seed=7)(objective, x)
    again = NES(samples=10, sigma=1e-2, seed=7)(objective, x)
    other = NES(samples=10, sigma=1e-2, seed=8)(objective, x)
    assert torch.equal(first, again) and not torch.equal(first, other)


# BEGIN HIDDEN TESTS
@pytest.mark.exercise("nes")
def test_nes_is_unbiased_on_a_quadratic():
    from helpers.gradients import NES

    x = images(1, shape=(1, 2, 2), dtype=torch.float64, low=0.3, high=0.7)
    w = torch.tensor([[[0.5, -1.0], [2.0, 0.0]]], dtype=torch.float64)
    g = plain_tensor(NES(samples=20000, sigma=1e-2, seed=3, batch_size=4000)(quadratic(w), x))
    assert torch.allclose(g, w + 2 * x, atol=0.06)
# END HIDDEN TESTS


# --------------------------------------------------------------------------------------------------
# 03_why_linear: the linear explanation, FGSM's step, PGD's projection, the input gradient


@pytest.mark.exercise("linear-perturbation")
def test_sign_perturbation_moves_a_linear_unit_by_eps_times_the_l1_norm():
    import numpy as np

    from helpers.linear import sign_perturbation

    w = np.array([0.5, -2.0, 0.0, 3.0])
    eta = sign_perturbation(w, 0.1)
    assert np.allclose(eta, [0.1, -0.1, 0.0, 0.1])
    assert np.isclose(w @ eta, 0.1 * np.abs(w).sum())


@pytest.mark.exercise("linear-perturbation")
def test_l2_perturbation_has_length_eps_along_w():
    import numpy as np

    from helpers.linear import l2_perturbation

    w = np.array([3.0, -4.0])
    eta = l2_perturbation(w, 0.5)
    assert np.allclose(eta, [0.3, -0.4])
    assert np.isclose(w @ eta, 0.5 * np.linalg.norm(w))


@pytest.mark.exercise("fgsm-step")
def test_linf_step_moves_every_pixel_by_alpha_along_the_gradient_sign():
    from helpers.attacks import ascent_step

    g = torch.tensor([[[[0.3, -2.0], [1e-9, -1e-9]]]])
    step = plain_tensor(ascent_step(g, 0.1, "linf"))
    assert torch.allclose(step, torch.tensor([[[[0.1, -0.1], [0.1, -0.1]]]]))


@pytest.mark.exercise("fgsm-step")
def test_l2_step_has_length_alpha_along_the_gradient():
    from helpers.attacks import ascent_step

    g = torch.randn(3, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    g[2] = 0
    step = plain_tensor(ascent_step(g, 0.5, "l2"))
    lengths = step.flatten(1).norm(dim=1)
    assert torch.allclose(lengths[:2], torch.full((2,), 0.5), atol=1e-6)
    assert torch.allclose(F.cosine_similarity(step[:2].flatten(1), g[:2].flatten(1)), torch.ones(2), atol=1e-6)
    assert torch.equal(step[2], torch.zeros_like(step[2])), "a zero gradient gives a zero step, not NaN"


@pytest.mark.exercise("projection")
def test_linf_projection_clips_the_perturbation_and_the_pixel_range():
    from helpers.attacks import project

    x = images(4, shape=(1, 5, 5))
    x_adv = x + 0.3 * torch.randn(4, 1, 5, 5, generator=torch.Generator().manual_seed(0))
    projected = project(x_adv, x, 0.1, "linf")
    assert (projected - x).abs().max() <= 0.1 + 1e-6
    assert projected.min() >= 0 and projected.max() <= 1
    inside = ((x_adv - x).abs() <= 0.1) & (x_adv >= 0) & (x_adv <= 1)
    assert torch.allclose(projected[inside], x_adv[inside]), "points already allowed do not move"
    assert torch.allclose(projected, torch.min(torch.max(x_adv, x - 0.1), x + 0.1).clamp(0, 1))


@pytest.mark.exercise("projection")
def test_l2_projection_rescales_only_the_images_outside_the_ball():
    from helpers.attacks import project

    x = torch.full((2, 1, 4, 4), 0.5)
    delta = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(1))
    delta[0] *= 0.05 / delta[0].norm()  # inside the ball of radius 0.1
    delta[1] *= 0.3 / delta[1].norm()  # outside: goes back to the sphere, same direction
    projected = project(x + delta, x, 0.1, "l2")
    assert torch.allclose(projected[0], x[0] + delta[0])
    assert torch.allclose(projected[1] - x[1], delta[1] * (0.1 / 0.3), atol=1e-6)


# BEGIN HIDDEN TESTS
@pytest.mark.exercise("projection")
def test_projection_never_leaves_the_ball_after_clamping():
    from helpers.attacks import project

    x = images(8, shape=(1, 3, 3))
    x_adv = x + torch.randn(8, 1, 3, 3, generator=torch.Generator().manual_seed(2))
    for norm, eps in [("linf", 0.2), ("l2", 0.4)]:
        projected = project(x_adv, x, eps, norm)
        size = (projected - x).flatten(1)
        size = size.abs().max(dim=1).values if norm == "linf" else size.norm(dim=1)
        assert (size <= eps + 1e-6).all() and projected.min() >= 0 and projected.max() <= 1
# END HIDDEN TESTS


@pytest.mark.exercise("input-gradient")
def test_notebook_03_computes_the_input_gradient_of_the_loss():
    from helpers.attacks import attack_objective
    from helpers.gradients import autograd_grad

    model = tiny_classifier(seed=4, inputs=3 * 48 * 48, classes=10)
    x_cat = images(1, shape=(3, 48, 48), seed=4)
    kept = x_cat.clone()
    namespace = run_exercise_cell("03_why_linear.ipynb", "input-gradient", load_classifier=lambda *a, **k: model,
                                  preprocess=lambda *a, **k: x_cat, cat_image=lambda: None)
    with torch.no_grad():
        label = model(kept).argmax(1)
    expected = autograd_grad(attack_objective(model, label, targeted=False), kept)
    g = namespace["g"]
    assert g.shape == x_cat.shape
    assert torch.allclose(g, expected, atol=1e-6)
    assert torch.equal(x_cat.detach(), kept)


# --------------------------------------------------------------------------------------------------
# 04_defenses: the adversarial-training and logit-pairing losses, the PGD of the experiments


def shifting_attack(calls):
    """A deterministic attack that records its calls; its output has a graph to the model's parameters,
    which a correct loss must not differentiate through."""

    def attack(model, x, y):
        calls.append(model)
        wobble = 0.01 * torch.tanh(model(x).sum())
        return (x + 0.1 + wobble).clamp(0, 1)

    return attack


def parameter_gradients(model, loss):
    model.zero_grad()
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.exercise("adversarial-training-loss")
def test_adversarial_training_loss_is_clean_plus_lambda_adversarial_cross_entropy():
    from helpers.defenses import adversarial_training_loss

    model, x, y = tiny_classifier(seed=5), images(6, seed=5, high=0.5), torch.arange(6) % 5
    calls = []
    loss = adversarial_training_loss(model, x, y, attack=shifting_attack(calls), lam=0.5)
    x_adv = shifting_attack([])(model, x, y).detach()
    expected = F.cross_entropy(model(x), y) + 0.5 * F.cross_entropy(model(x_adv), y)
    assert calls == [model], "x_adv is forged at each call, against the model as it is"
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.exercise("adversarial-training-loss")
def test_adversarial_training_loss_treats_x_adv_as_a_constant():
    from helpers.defenses import adversarial_training_loss

    model, x, y = tiny_classifier(seed=6), images(6, seed=6, high=0.5), torch.arange(6) % 5
    got = parameter_gradients(model, adversarial_training_loss(model, x, y, attack=shifting_attack([]), lam=2.0))
    x_adv = shifting_attack([])(model, x, y).detach()
    wanted = parameter_gradients(model, F.cross_entropy(model(x), y) + 2.0 * F.cross_entropy(model(x_adv), y))
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(got, wanted))


@pytest.mark.exercise("logit-pairing-loss")
def test_logit_pairing_loss_is_clean_loss_plus_lambda_squared_logit_distance():
    from helpers.defenses import logit_pairing_loss

    model, x, y = tiny_classifier(seed=7), images(5, seed=7, high=0.5), torch.arange(5) % 5
    calls = []
    loss = logit_pairing_loss(model, x, y, attack=shifting_attack(calls), lam=0.3)
    x_adv = shifting_attack([])(model, x, y).detach()
    distance = ((model(x) - model(x_adv)) ** 2).sum(dim=1).mean()
    assert calls == [model]
    assert loss.item() == pytest.approx((F.cross_entropy(model(x), y) + 0.3 * distance).item(), rel=1e-5)


@pytest.mark.exercise("logit-pairing-loss")
def test_logit_pairing_pulls_both_logits_and_not_the_attack():
    from helpers.defenses import logit_pairing_loss

    model, x, y = tiny_classifier(seed=8), images(5, seed=8, high=0.5), torch.arange(5) % 5
    got = parameter_gradients(model, logit_pairing_loss(model, x, y, attack=shifting_attack([]), lam=1.5))
    x_adv = shifting_attack([])(model, x, y).detach()
    clean, adversarial = model(x), model(x_adv)
    wanted = parameter_gradients(model, F.cross_entropy(clean, y) + 1.5 * ((clean - adversarial) ** 2).sum(1).mean())
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(got, wanted))


@pytest.mark.exercise("logit-pairing-loss")
def test_kannans_logit_pairing_adds_the_term_to_a_half_clean_half_adversarial_batch():
    from helpers.defenses import adversarial_logit_pairing_loss

    model, x, y = tiny_classifier(seed=6), images(5, seed=6, high=0.5), torch.arange(5) % 5
    loss = plain_tensor(adversarial_logit_pairing_loss(model, x, y, attack=shifting_attack([]), lam=0.4))
    x_adv = shifting_attack([])(model, x, y).detach()
    mixed = (F.cross_entropy(model(x), y) + F.cross_entropy(model(x_adv), y)) / 2
    distance = ((model(x) - model(x_adv)) ** 2).sum(dim=1).mean()
    assert loss.item() == pytest.approx((mixed + 0.4 * distance).item(), rel=1e-5)


# BEGIN HIDDEN TESTS
@pytest.mark.exercise("logit-pairing-loss")
def test_logit_pairing_with_lambda_zero_is_the_clean_loss():
    from helpers.defenses import logit_pairing_loss

    model, x, y = tiny_classifier(seed=9), images(4, seed=9, high=0.5), torch.arange(4) % 5
    loss = plain_tensor(logit_pairing_loss(model, x, y, attack=shifting_attack([]), lam=0.0))
    assert loss.item() == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-6)
# END HIDDEN TESTS


@pytest.mark.exercise("pgd-examples")
def test_notebook_04_runs_pgd_with_madrys_settings():
    calls = []

    def fake_pgd(model, x, y=None, **options):
        calls.append((model, x, y, options))
        return x.clone()

    model, x, y = tiny_classifier(seed=10, inputs=64, classes=10), images(4, shape=(1, 8, 8)), torch.arange(4)
    namespace = run_exercise_cell("04_defenses.ipynb", "pgd-examples", pgd=fake_pgd, PGD_STEPS=40, standard=model,
                                  x_eval=x, y_eval=y)
    assert len(calls) == 1
    called_model, called_x, called_y, options = calls[0]
    assert called_model is model and called_x is x and called_y is y
    assert options["eps"] == pytest.approx(0.2) and options["steps"] == 40
    assert options["alpha"] == pytest.approx(2.5 * 0.2 / 40) and options["random_start"] is True
    assert options.get("generator") is namespace["generator"], "the notebook's seeded generator"
    namespace["PGD_STEPS"] = 10
    namespace["pgd_examples"](model, x, y, eps=0.1)
    assert calls[1][3]["steps"] == 10 and calls[1][3]["alpha"] == pytest.approx(2.5 * 0.1 / 10)


# --------------------------------------------------------------------------------------------------
# 05_gans: the two players' costs, on logits


@pytest.mark.exercise("discriminator-cost")
def test_discriminator_cost_is_the_cross_entropy_of_real_against_fake():
    from helpers.gan import d_loss

    real, fake = torch.randn(40, dtype=torch.float64), torch.randn(40, dtype=torch.float64)
    for t in (1.0, 0.9):  # 0.9: one-sided label smoothing moves only the real targets
        expected = (-(t * torch.sigmoid(real).log() + (1 - t) * (1 - torch.sigmoid(real)).log()).mean()
                    - (1 - torch.sigmoid(fake)).log().mean())
        torch.testing.assert_close(d_loss(real, fake, real_label=t), expected)
    undecided = torch.zeros(8)
    assert d_loss(undecided, undecided).item() == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())


@pytest.mark.exercise("discriminator-cost")
def test_discriminator_cost_is_finite_for_confident_logits():
    from helpers.gan import d_loss

    logits = torch.tensor([-200.0, 0.0, 200.0], requires_grad=True)
    loss = d_loss(logits, logits, real_label=0.9)
    (gradient,) = torch.autograd.grad(loss, logits)
    assert torch.isfinite(loss) and torch.isfinite(gradient).all()


@pytest.mark.exercise("generator-costs")
def test_generator_costs_equal_their_formulas():
    from helpers.gan import g_loss_non_saturating, g_loss_saturating

    fake = torch.randn(40, dtype=torch.float64)
    torch.testing.assert_close(g_loss_saturating(fake), (1 - torch.sigmoid(fake)).log().mean())
    torch.testing.assert_close(g_loss_non_saturating(fake), -torch.sigmoid(fake).log().mean())


@pytest.mark.exercise("generator-costs")
def test_only_the_saturating_gradient_vanishes_when_d_rejects_the_samples():
    from helpers.gan import g_loss_non_saturating, g_loss_saturating

    for loss_fn, expected in ((g_loss_saturating, lambda p: -p), (g_loss_non_saturating, lambda p: -(1 - p))):
        for p in (0.5, 1e-3, 1e-9):
            logit = torch.logit(torch.tensor([p], dtype=torch.float64)).requires_grad_(True)
            (gradient,) = torch.autograd.grad(loss_fn(logit), logit)
            assert gradient.item() == pytest.approx(expected(p), rel=1e-6, abs=1e-15)
        logits = torch.tensor([-500.0, 500.0], requires_grad=True)  # finite even here
        assert torch.isfinite(loss_fn(logits)) and torch.isfinite(torch.autograd.grad(loss_fn(logits), logits)[0]).all()


# --------------------------------------------------------------------------------------------------
# 06_gan_tricks: virtual batchnorm and the weight average


@pytest.mark.exercise("virtual-batchnorm")
def test_virtual_batchnorm_mixes_own_and_reference_statistics():
    import math

    from helpers.gan import VirtualBatchNorm

    reference = torch.tensor([[-1.0], [1.0], [-1.0], [1.0]])  # M = 4: mean 0, mean square 1
    out, reference_out = VirtualBatchNorm(1, eps=0.0)(torch.tensor([[6.0]]), reference)
    mean, mean_sq = (6 + 4 * 0) / 5, (36 + 4 * 1) / 5
    assert out.item() == pytest.approx((6 - mean) / math.sqrt(mean_sq - mean**2), rel=1e-5)
    torch.testing.assert_close(reference_out, reference)  # already mean 0, variance 1


@pytest.mark.exercise("virtual-batchnorm")
def test_virtual_batchnorm_is_batchnorm_on_the_reference_and_independent_of_the_minibatch():
    from helpers.gan import VirtualBatchNorm

    torch.manual_seed(0)
    vbn = VirtualBatchNorm(3)
    with torch.no_grad():
        vbn.weight.copy_(torch.tensor([1.0, 2.0, -0.5]))
        vbn.bias.copy_(torch.tensor([0.0, 1.0, 0.2]))
    reference, x = torch.randn(10, 3, 4, 4) * 2 + 1, torch.randn(5, 3, 4, 4)
    bn = nn.BatchNorm2d(3).train()
    with torch.no_grad():
        bn.weight.copy_(vbn.weight)
        bn.bias.copy_(vbn.bias)
    out, reference_out = vbn(x, reference)
    torch.testing.assert_close(reference_out, bn(reference), atol=1e-5, rtol=1e-5)
    alone, _ = vbn(x[:1], reference)
    torch.testing.assert_close(alone[0], out[0], atol=1e-6, rtol=1e-6)
    assert out.shape == x.shape


@pytest.mark.exercise("weight-average")
def test_weight_average_is_an_exponential_moving_average_in_place():
    from helpers.gan import update_average

    model, average = nn.Linear(3, 2), nn.Linear(3, 2)
    before = [p.detach().clone() for p in average.parameters()]
    update_average(average, model, decay=0.9)
    for old, new, current in zip(before, average.parameters(), model.parameters()):
        torch.testing.assert_close(new.detach(), 0.9 * old + 0.1 * current.detach())
    update_average(average, model, decay=0.0)
    for new, current in zip(average.parameters(), model.parameters()):
        torch.testing.assert_close(new.detach(), current.detach())


# --------------------------------------------------------------------------------------------------
# 07_latent_space: spherical interpolation and an attribute direction


@pytest.mark.exercise("slerp")
def test_slerp_follows_the_great_circle_and_interpolates_the_norm():
    from helpers.latent import slerp

    z0, z1 = torch.tensor([2.0, 0.0, 0.0]), torch.tensor([0.0, 4.0, 0.0])
    path = slerp(z0, z1, 5)
    assert path.shape == (5, 3)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path.norm(dim=1), torch.linspace(2, 4, 5))
    angles = torch.atan2(path[:, 1], path[:, 0])  # a quarter circle in equal steps
    torch.testing.assert_close(angles, torch.linspace(0, torch.pi / 2, 5))
    assert path[:, 2].abs().max() < 1e-6


@pytest.mark.exercise("slerp")
def test_slerp_of_parallel_codes_is_the_straight_line():
    from helpers.latent import slerp

    z0 = torch.tensor([1.0, 1.0])
    torch.testing.assert_close(slerp(z0, 3 * z0, 3), torch.stack([z0, 2 * z0, 3 * z0]))


@pytest.mark.exercise("attribute-direction")
def test_attribute_direction_is_top_minus_bottom_mean_code():
    from helpers.latent import attribute_direction

    z = torch.arange(8.0)[:, None] * torch.tensor([[1.0, -1.0]])  # scores rise with z[:, 0]
    scores = torch.arange(8.0)
    torch.testing.assert_close(attribute_direction(z, scores, fraction=0.25), torch.tensor([6.0, -6.0]))


@pytest.mark.exercise("attribute-direction")
def test_attribute_direction_within_groups_ignores_a_confounder():
    from helpers.latent import attribute_direction

    g = torch.Generator().manual_seed(0)
    z = torch.randn(2000, 4, generator=g)
    group = (z[:, 1] > 0).long()
    scores = z[:, 0] + 3 * group
    within = attribute_direction(z, scores, groups=group)
    assert within[0] > 2 and within[1:].abs().max() < 0.15


# --------------------------------------------------------------------------------------------------
# 08_cyclegan: the cycle and identity losses, and the image pool


@pytest.mark.exercise("cycle-loss")
def test_cycle_and_identity_losses_are_weighted_l1_distances():
    from helpers.cyclegan import cycle_loss, identity_loss

    x, y = images(3, seed=1), images(3, seed=2)
    l1 = (x - y).abs().mean()
    torch.testing.assert_close(cycle_loss(x, y), 10 * l1)
    torch.testing.assert_close(cycle_loss(x, y, lambda_cycle=2.0), 2 * l1)
    torch.testing.assert_close(identity_loss(x, y), 5 * l1)
    torch.testing.assert_close(identity_loss(x, y, lambda_cycle=4.0, lambda_identity=0.25), l1)
    assert cycle_loss(x, x).item() == 0 and identity_loss(y, y).item() == 0


@pytest.mark.exercise("cycle-loss")
def test_the_cycle_loss_pulls_the_reconstruction_toward_the_original():
    from helpers.cyclegan import cycle_loss

    x = images(2, seed=3)
    reconstruction = (x + 0.1).requires_grad_(True)
    (gradient,) = torch.autograd.grad(cycle_loss(reconstruction, x), reconstruction)
    assert (gradient > 0).all()  # descending it lowers the too-bright reconstruction


@pytest.mark.exercise("image-pool")
def test_the_pool_returns_new_images_while_it_fills():
    from helpers.cyclegan import ImagePool

    pool = ImagePool(size=4, seed=0)
    first, second = images(3, seed=4), images(1, seed=5)
    torch.testing.assert_close(pool.query(first), first)
    torch.testing.assert_close(pool.query(second), second)
    assert len(pool) == 4
    passthrough = ImagePool(size=0)
    torch.testing.assert_close(passthrough.query(first), first)


@pytest.mark.exercise("image-pool")
def test_a_full_pool_swaps_in_a_stored_image_half_of_the_time():
    from helpers.cyclegan import ImagePool

    pool = ImagePool(size=5, seed=0)
    seen = images(5, seed=6)
    pool.query(seen)
    swapped, total = 0, 400
    for index in range(total):
        new = torch.full((1, 3, 8, 8), float(index + 10))  # never seen before
        out = pool.query(new)
        assert out.shape == new.shape and len(pool) == 5
        if not torch.equal(out, new):
            swapped += 1
            earlier_constant = torch.equal(out, torch.full_like(out, out[0, 0, 0, 0].item())) and \
                10 <= out[0, 0, 0, 0].item() < index + 10
            assert earlier_constant or any(torch.equal(out[0], image) for image in seen)  # given to it before
    assert 0.4 < swapped / total < 0.6
