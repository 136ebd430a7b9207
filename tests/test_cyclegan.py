import copy
import math

import pytest
import torch
import torch.nn.functional as F

from helpers import config
from helpers.cyclegan import (
    ImagePool,
    PatchDiscriminator,
    ResnetGenerator,
    cycle_loss,
    identity_loss,
    linear_decay,
    lsgan_d_loss,
    lsgan_g_loss,
    receptive_field,
    train_cyclegan,
    translate,
)
from helpers.cyclegan_eval import (
    CLASSES,
    DomainClassifier,
    domain_classifier,
    judge,
    animal_mask,
    evaluate_cyclegan,
    format_results,
    mask_iou,
    show_translations,
)
from helpers.horses import horses_and_zebras, other_animals

TINY_G = {"width": 4, "n_blocks": 1}
TINY_D = {"width": 4, "n_layers": 2}


def tiny_models(seed=0):
    config.seed_everything(seed)
    return ResnetGenerator(**TINY_G), ResnetGenerator(**TINY_G), PatchDiscriminator(**TINY_D), PatchDiscriminator(**TINY_D)


@pytest.fixture(scope="module")
def domains():
    data = torch.rand(2, 12, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    return data[0], data[1]


# --- models ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [64, 128, 256])
def test_output_shapes_at_64_128_256(size):
    torch.manual_seed(0)
    G, D = ResnetGenerator(width=4, n_blocks=2), PatchDiscriminator(width=4)
    x = torch.rand(2, 3, size, size)
    y = G(x)
    assert y.shape == x.shape
    assert y.min() >= 0 and y.max() <= 1
    assert D(x).shape == (2, 1, size // 8 - 2, size // 8 - 2)  # 30 x 30 patches at 256, as in the paper


def test_the_paper_sized_generators_have_the_paper_s_parameter_counts():
    counts = {blocks: sum(p.numel() for p in ResnetGenerator(n_blocks=blocks).parameters()) for blocks in (6, 9)}
    assert counts == {6: 7_837_699, 9: 11_378_179}


def test_patchgan_sees_70x70_patches():
    assert receptive_field(PatchDiscriminator()) == 70
    assert receptive_field(PatchDiscriminator(n_layers=2)) == 34
    # Measured: which input pixels move the centre score? (Without normalisation, whose statistics would
    # couple every pixel; LeakyReLU never has a zero slope, so every pixel in the field counts.)
    torch.manual_seed(0)
    D = PatchDiscriminator(width=4, norm="none")
    x = torch.rand(1, 3, 256, 256, requires_grad=True)
    scores = D(x)
    scores[0, 0, 15, 15].backward()
    rows = torch.nonzero(x.grad.abs().sum((0, 1)).sum(1)).flatten()
    cols = torch.nonzero(x.grad.abs().sum((0, 1)).sum(0)).flatten()
    assert rows.max() - rows.min() + 1 <= 70 and cols.max() - cols.min() + 1 <= 70
    assert rows.max() - rows.min() + 1 >= 69  # zero padding at the border may cut one row (none here)


def test_instance_norm_makes_each_output_independent_of_the_rest_of_the_batch():
    torch.manual_seed(0)
    G = ResnetGenerator(**TINY_G).train()
    x = torch.rand(4, 3, 16, 16)
    assert torch.allclose(G(x)[:1], G(x[:1]), atol=1e-6)
    assert torch.allclose(G.eval()(x[:1]), G.train()(x[:1]), atol=1e-6)  # and of train/eval mode


def test_initialisation_is_normal_with_std_0_02():
    torch.manual_seed(0)
    for model in (ResnetGenerator(), PatchDiscriminator()):
        weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))])
        assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001


@pytest.mark.parametrize("kwargs", [{"width": 0}, {"n_blocks": -1}, {"norm": "batch"}, {"n_down": 1.5}])
def test_bad_generator_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        ResnetGenerator(**kwargs)


@pytest.mark.parametrize("kwargs", [{"n_layers": 0}, {"width": -4}, {"norm": "spectral"}])
def test_bad_discriminator_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        PatchDiscriminator(**kwargs)


def test_models_reject_the_wrong_shape():
    G, _, D, _ = tiny_models()
    for bad in (torch.rand(2, 1, 16, 16), torch.rand(2, 3, 18, 18), torch.rand(3, 16, 16)):
        with pytest.raises(ValueError, match="shape"):
            G(bad)
    with pytest.raises(ValueError, match="shape"):
        D(torch.rand(2, 1, 16, 16))


# --- losses, pool, schedule ------------------------------------------------------------------------------


def test_losses_equal_their_formulas():
    torch.manual_seed(0)
    real, fake = torch.randn(3, 1, 6, 6), torch.randn(3, 1, 6, 6)
    assert torch.allclose(lsgan_d_loss(real, fake), 0.5 * (F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake))))
    assert torch.allclose(lsgan_g_loss(fake), F.mse_loss(fake, torch.ones_like(fake)))
    x, y = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 8, 8)
    assert torch.allclose(cycle_loss(x, y), 10 * F.l1_loss(x, y))
    assert torch.allclose(identity_loss(x, y), 0.5 * 10 * F.l1_loss(x, y))
    assert torch.allclose(identity_loss(x, y, lambda_cycle=4, lambda_identity=0.1), 0.4 * F.l1_loss(x, y))
    # the minima: real scores 1, fake 0 for D; fake 1 for G; no change for cycle and identity
    ones = torch.ones(2, 1, 4, 4)
    assert lsgan_d_loss(ones, 0 * ones) == 0 and lsgan_g_loss(ones) == 0 and cycle_loss(x, x) == 0


def test_the_pool_fills_to_its_size_then_swaps_with_probability_one_half():
    pool = ImagePool(50, seed=0)
    first = torch.arange(60, dtype=torch.float32).view(60, 1, 1, 1)
    out = pool.query(first[:50])
    assert torch.equal(out, first[:50]) and len(pool) == 50  # filling: each image is stored and returned
    stored = torch.stack(pool.images)
    returned_old, trials = 0, 4000
    for i in range(trials):
        new = torch.full((1, 1, 1, 1), 1000.0 + i)
        out = pool.query(new)
        assert len(pool) == 50
        if out.item() == new.item():
            assert not any(img.item() == new.item() for img in pool.images)  # kept out of the pool
        else:
            returned_old += 1
            assert any(img.item() == new.item() for img in pool.images)  # stored in the returned one's place
            assert out.item() < 1000 + i  # an older image
    share = returned_old / trials
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / trials)
    assert not torch.equal(torch.stack(pool.images), stored)


def test_a_zero_pool_passes_images_through_and_the_pool_does_not_keep_references():
    images = torch.rand(3, 3, 4, 4)
    assert ImagePool(0).query(images) is images
    pool = ImagePool(5)
    pool.query(images)
    images.add_(1)  # the caller's tensor changes later: the pool's copies do not
    assert all(img.max() <= 1 for img in pool.images)


def test_the_pool_state_round_trips():
    pool = ImagePool(4, seed=1)
    pool.query(torch.rand(6, 3, 2, 2))
    twin = ImagePool(4, seed=99)
    twin.load_state_dict(pool.state_dict())
    batch = torch.rand(8, 3, 2, 2)
    assert torch.equal(pool.query(batch), twin.query(batch))


def test_linear_decay_at_the_start_the_decay_start_and_the_end():
    constant, decay = 100, 100  # the paper's 100 + 100 epochs
    assert linear_decay(0, constant, decay) == 1.0
    assert linear_decay(constant - 1, constant, decay) == 1.0  # the last constant step
    assert linear_decay(constant, constant, decay) == pytest.approx(1 - 1 / 101)  # the first decaying one
    assert linear_decay(constant + decay - 1, constant, decay) == pytest.approx(1 / 101)  # the last step
    assert linear_decay(constant + decay, constant, decay) == pytest.approx(0.0)


def test_training_follows_the_schedule(domains):
    history = train_cyclegan(*tiny_models(), *domains, steps=6, decay_steps=3, batch_size=2, progress=False)
    assert history["lr"] == pytest.approx([2e-4, 2e-4, 2e-4, 1.5e-4, 1e-4, 0.5e-4])


# --- training --------------------------------------------------------------------------------------------


def test_training_moves_the_losses_and_leaves_the_data_alone(domains):
    a, b = domains
    copies = a.clone(), b.clone()
    G, F_, D_A, D_B = tiny_models()
    before = [p.clone() for p in G.parameters()]
    history = train_cyclegan(G, F_, D_A, D_B, a, b, steps=8, batch_size=4, lr=1e-3, sample_a=a[:2], sample_b=b[:2],
                             sample_every=4, progress=False)
    assert torch.equal(a, copies[0]) and torch.equal(b, copies[1])
    for key in ("d_a", "d_b", "gan_g", "gan_f", "cycle_a", "cycle_b", "identity_a", "identity_b", "lr"):
        assert len(history[key]) == 8 and all(math.isfinite(v) for v in history[key]), key
    assert history["cycle_a"][-1] < history["cycle_a"][0]  # the cycle loss is the easy part: it falls at once
    assert any(not torch.equal(p, q) for p, q in zip(before, G.parameters()))
    assert history["sample_steps"] == [0, 4, 8]
    assert set(history["samples"][0]) == {"G(a)", "F(G(a))", "F(b)", "G(F(b))"}
    assert history["samples"][0]["G(a)"].shape == (2, 3, 16, 16)
    assert not any(m.training for m in (G, F_, D_A, D_B))


def test_without_identity_loss_its_terms_are_zero(domains):
    history = train_cyclegan(*tiny_models(), *domains, steps=2, batch_size=2, lambda_identity=0, progress=False)
    assert history["identity_a"] == [0.0, 0.0] and history["identity_b"] == [0.0, 0.0]


def test_the_averages_are_moving_averages_of_the_weights_from_the_start(domains):
    G, F_, D_A, D_B = tiny_models()
    start = [copy.deepcopy(G), copy.deepcopy(F_)]
    averages = (copy.deepcopy(G), copy.deepcopy(F_))
    train_cyclegan(G, F_, D_A, D_B, *domains, steps=1, batch_size=2, averages=averages, average_decay=0.75,
                   progress=False)
    for initial, trained, average in zip(start, (G, F_), averages):
        # one step at decay 0.75: three quarters the initial weights, one quarter the new ones
        for p0, p1, pa in zip(initial.parameters(), trained.parameters(), average.parameters()):
            assert not torch.equal(p0, p1)
            torch.testing.assert_close(pa, 0.75 * p0 + 0.25 * p1)
        assert not average.training
    # decay 0: the averages are the last weights
    averages = (copy.deepcopy(G), copy.deepcopy(F_))
    train_cyclegan(G, F_, D_A, D_B, *domains, steps=2, batch_size=2, averages=averages, average_decay=0.0,
                   progress=False)
    for trained, average in zip((G, F_), averages):
        assert all(torch.equal(p, q) for p, q in zip(trained.parameters(), average.parameters()))


def test_resume_reproduces_the_uninterrupted_run_exactly(tmp_path, domains, monkeypatch):
    # 12 images, batches of 5: resuming crosses an epoch boundary; pools of 4 fill and start swapping;
    # the decay starts after the interruption.
    settings = dict(steps=6, decay_steps=2, batch_size=5, pool_size=4, seed=3, sample_every=3, progress=False,
                    sample_a=domains[0][:2], sample_b=domains[1][:2])
    models = tiny_models()
    averages = tuple(copy.deepcopy(m) for m in models[:2])
    uninterrupted = train_cyclegan(*models, *domains, **settings, averages=averages)

    import helpers.cyclegan as module

    save = module.save_checkpoint

    def save_then_stop(path, state):  # the process dies right after the step-3 checkpoint
        save(path, state)
        raise KeyboardInterrupt

    path = tmp_path / "cyclegan.pt"
    monkeypatch.setattr(module, "save_checkpoint", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        interrupted = tiny_models()
        train_cyclegan(*interrupted, *domains, **settings, checkpoint=path, checkpoint_every=3,
                       averages=tuple(copy.deepcopy(m) for m in interrupted[:2]))
    monkeypatch.setattr(module, "save_checkpoint", save)
    assert torch.load(path, weights_only=True)["step"] == 3

    torch.manual_seed(123)  # a new process: other global RNG state, other initial weights
    resumed_models = tiny_models(seed=7)
    resumed_averages = tuple(copy.deepcopy(m) for m in resumed_models[:2])
    resumed = train_cyclegan(*resumed_models, *domains, **settings, checkpoint=path, checkpoint_every=3,
                             averages=resumed_averages)
    for key in ("d_a", "d_b", "gan_g", "gan_f", "cycle_a", "cycle_b", "identity_a", "identity_b", "lr", "sample_steps"):
        assert resumed[key] == uninterrupted[key], key
    assert len(resumed["samples"]) == 3
    for got, want in zip(resumed["samples"], uninterrupted["samples"]):
        assert all(torch.equal(got[k], want[k]) for k in want)
    for model, reference in zip((*resumed_models, *resumed_averages), (*models, *averages)):
        for key, tensor in reference.state_dict().items():
            assert torch.equal(model.state_dict()[key], tensor), key


def test_a_finished_run_resumes_at_once_and_other_settings_are_refused(tmp_path, domains):
    path = tmp_path / "cyclegan.pt"
    models = tiny_models()
    history = train_cyclegan(*models, *domains, steps=2, batch_size=2, checkpoint=path, progress=False)
    again_models = tiny_models(seed=1)
    assert train_cyclegan(*again_models, *domains, steps=2, batch_size=2, checkpoint=path, progress=False) == history
    assert all(torch.equal(p, q) for p, q in zip(models[0].state_dict().values(), again_models[0].state_dict().values()))
    with pytest.raises(ValueError, match="other settings"):
        train_cyclegan(*again_models, *domains, steps=2, batch_size=2, lambda_cycle=5, checkpoint=path, progress=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": -1}, "steps"),
        ({"decay_steps": 5}, "decay_steps"),
        ({"lr": 0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lambda_cycle": -1}, "lambda_cycle"),
        ({"lambda_identity": float("inf")}, "lambda_identity"),
        ({"pool_size": -1}, "pool_size"),
        ({"batch_size": 13}, "batch_size"),
        ({"batch_size": 0}, "batch_size"),
        ({"sample_every": 1}, "sample_a"),
        ({"checkpoint_every": 0}, "checkpoint_every"),
    ],
)
def test_bad_training_arguments_raise(domains, kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_cyclegan(*tiny_models(), *domains, **{"steps": 2, "batch_size": 2, "progress": False, **kwargs})


def test_bad_training_data_raise(domains):
    a, b = domains
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_cyclegan(*tiny_models(), a * 2 - 1, b, steps=1, progress=False)
    with pytest.raises(ValueError, match="one shape"):
        train_cyclegan(*tiny_models(), a, b[:, :, :8, :8], steps=1, progress=False)


def test_translate_restores_the_mode_and_uses_no_gradient(domains):
    G = tiny_models()[0].train()
    x = domains[0]
    y = translate(G, x, batch_size=5)
    assert G.training and not y.requires_grad and y.shape == x.shape
    assert torch.allclose(y, G(x), atol=1e-6)


# --- evaluation ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_data():
    return horses_and_zebras(n_train=200, n_test=24, seed=0)


def test_the_colour_rule_finds_the_animals_on_real_images(small_data):
    d = small_data
    for images in (d.test_a, d.test_b):
        assert mask_iou(d.test_mask, animal_mask(images)).mean() > 0.93  # edge pixels blend coat and grass
    # a bigger share asked for, a smaller mask: the rule estimates how much of each pixel the animal covers
    assert (animal_mask(d.test_a, coverage=0.9).sum() < animal_mask(d.test_a).sum()
            < animal_mask(d.test_a, coverage=0.1).sum())
    with pytest.raises(ValueError, match="coverage"):
        animal_mask(d.test_a, coverage=1.0)


def test_mask_iou():
    a = torch.zeros(2, 1, 4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, 0, :2], b[0, 0, 1:3] = True, True  # 8 and 8 pixels, 4 shared: IoU 4 / 12
    assert mask_iou(a, b).tolist() == pytest.approx([1 / 3, 1.0])  # two empty masks agree
    with pytest.raises(ValueError):
        mask_iou(a, b.float())


def test_evaluation_of_perfect_and_do_nothing_translators(small_data):
    d = small_data
    torch.manual_seed(0)
    classifier = DomainClassifier()
    # An oracle translator that looks up the paired test image, and the identity.
    class Lookup(torch.nn.Module):
        def __init__(self, source, target):
            super().__init__()
            self.source, self.target, self.anchor = source, target, torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):
            index = ((x[:, None] - self.source[None]).abs().flatten(2).sum(2)).argmin(1)
            return self.target[index]

    oracle = evaluate_cyclegan(Lookup(d.test_a, d.test_b), Lookup(d.test_b, d.test_a), d.test_a, d.test_b,
                               d.test_mask, classifier)
    assert oracle["zebra -> horse"]["truth_distance"] == 0 and oracle["horse -> zebra"]["cycle_error"] == 0
    assert oracle["horse -> zebra"]["iou"] > 0.85 and oracle["horse -> zebra"]["baseline"] > 0.01
    nothing = torch.nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        nothing.weight.copy_(torch.eye(3)[:, :, None, None])
        nothing.bias.zero_()
    idle = evaluate_cyclegan(nothing, nothing, d.test_a, d.test_b, d.test_mask, classifier)
    assert idle["zebra -> horse"]["truth_distance"] == pytest.approx(idle["zebra -> horse"]["baseline"], abs=1e-6)
    assert idle["horse -> zebra"]["cycle_error"] < 1e-6
    table = format_results(idle)
    assert "judged as the target domain" in table and "do-nothing baseline" in table
    show_translations({"input": d.test_a, "output": d.test_b}, n=3)


def test_the_domain_classifier_tells_horses_zebras_and_others_apart(small_data):
    d = small_data
    classifier = domain_classifier(d.train_a, d.train_b, other_animals(200), epochs=5)
    assert CLASSES == ("horse", "zebra", "other")
    assert (judge(classifier, d.test_a) == 0).float().mean() > 0.9
    assert (judge(classifier, d.test_b) == 1).float().mean() > 0.9
    assert not classifier.training
