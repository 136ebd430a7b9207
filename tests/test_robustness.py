import pytest
import torch
from torch import nn

from helpers.attacks import pgd
from helpers.digits import DigitsMLP, load_digits
from helpers.robustness import (
    REFERENCE_GAP,
    AttackSpec,
    AutoAttackCheck,
    autoattack_spec,
    default_attacks,
    fgsm_spec,
    masking_flags,
    masking_symptoms,
    pgd_spec,
    pgd_with_restarts,
    robustness_report,
    transfer_spec,
)
from helpers.training import train_classifier


def toy_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(36, 32), nn.ReLU(), nn.Linear(32, 5))


def toy_data(n: int = 40, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 6, 6, generator=generator), torch.randint(0, 5, (n,), generator=generator)


class Binarize(nn.Module):
    """A quantization in front of a network: rounds each pixel to 0 or 1, and its gradient is zero."""

    def forward(self, x):
        return torch.round(x)


# ---------------------------------------------------------------------------------------------------
# PGD with restarts


def test_pgd_with_restarts_stays_in_the_ball_and_is_reproducible():
    model, (x, y) = toy_model(), toy_data()
    x_adv = pgd_with_restarts(model, x, y, eps=0.1, steps=5, restarts=3, seed=1)
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    assert torch.equal(x_adv, pgd_with_restarts(model, x, y, eps=0.1, steps=5, restarts=3, seed=1))


def test_one_restart_is_pgd_from_a_seeded_random_start():
    model, (x, y) = toy_model(), toy_data()
    expected = pgd(model, x, y, eps=0.1, alpha=2.5 * 0.1 / 5, steps=5, random_start=True,
                   generator=torch.Generator().manual_seed(3))
    assert torch.equal(pgd_with_restarts(model, x, y, eps=0.1, steps=5, restarts=1, seed=3), expected)


def test_restarts_keep_the_worst_case_per_image():
    model, (x, y) = toy_model(), toy_data(200)
    with torch.no_grad():
        y = model(x).argmax(1)  # start from correctly classified images
    first = pgd_with_restarts(model, x, y, eps=0.1, steps=2, restarts=1, seed=0)  # = the first restart
    worst = pgd_with_restarts(model, x, y, eps=0.1, steps=2, restarts=4, seed=0)
    with torch.no_grad():
        fooled_first, fooled = model(first).argmax(1) != y, model(worst).argmax(1) != y
        loss_first = nn.functional.cross_entropy(model(first), y, reduction="none")
        loss = nn.functional.cross_entropy(model(worst), y, reduction="none")
    assert torch.all(fooled[fooled_first]), "a restart undid an image the first run had fooled"
    assert fooled.sum() > fooled_first.sum() > 0, "the later restarts fooled no further image"
    assert torch.all(loss[~fooled] >= loss_first[~fooled] - 1e-6), "an unfooled image got a weaker run"


def test_pgd_with_restarts_rejects_zero_restarts():
    model, (x, y) = toy_model(), toy_data()
    with pytest.raises(ValueError, match="restarts"):
        pgd_with_restarts(model, x, y, eps=0.1, restarts=0)


# ---------------------------------------------------------------------------------------------------
# Masking checks on given numbers


SPECS = [AttackSpec("FGSM", None, white_box=True, iterative=False), AttackSpec("PGD", None),
         AttackSpec("transfer", None, white_box=False)]


def test_masking_flags_stay_quiet_on_a_consistent_row():
    accuracy = {"FGSM": {0.1: 0.6, 0.2: 0.4}, "PGD": {0.1: 0.5, 0.2: 0.3}, "transfer": {0.1: 0.8, 0.2: 0.7}}
    assert masking_flags(0.95, accuracy, SPECS) == []


@pytest.mark.parametrize("change, words", [
    ({"transfer": {0.1: 0.8, 0.2: 0.1}}, "black box beats white box at eps 0.2"),
    ({"PGD": {0.1: 0.5, 0.2: 0.55}}, "accuracy rises with eps under PGD"),
    ({"FGSM": {0.1: 0.99, 0.2: 0.4}}, "accuracy rises with eps under FGSM: 95.0% at eps 0"),
    ({"FGSM": {0.1: 0.3, 0.2: 0.2}}, "single step beats iterative at eps 0.1"),
])
def test_each_masking_symptom_is_flagged(change, words):
    accuracy = {"FGSM": {0.1: 0.6, 0.2: 0.4}, "PGD": {0.1: 0.5, 0.2: 0.3}, "transfer": {0.1: 0.8, 0.2: 0.7}}
    accuracy.update(change)
    flags = masking_flags(0.95, accuracy, SPECS)
    assert any(words in flag for flag in flags), flags


def test_masking_flags_ignore_differences_within_the_tolerance():
    accuracy = {"FGSM": {0.1: 0.6, 0.2: 0.4}, "PGD": {0.1: 0.5, 0.2: 0.31}, "transfer": {0.1: 0.8, 0.2: 0.3}}
    assert masking_flags(0.95, accuracy, SPECS, tolerance=0.02) == []
    assert masking_flags(0.95, accuracy, SPECS, tolerance=0.0) != []


def test_masking_symptoms_give_every_comparison_with_its_size():
    accuracy = {"FGSM": {0.1: 0.6, 0.2: 0.4}, "PGD": {0.1: 0.5, 0.2: 0.3}, "transfer": {0.1: 0.8, 0.2: 0.25}}
    symptoms = dict((sentence.split(":")[0], size) for size, sentence in masking_symptoms(0.95, accuracy, SPECS))
    assert symptoms["black box beats white box at eps 0.2"] == pytest.approx(0.05)  # 30% white, 25% black
    assert symptoms["black box beats white box at eps 0.1"] == pytest.approx(-0.3)  # the expected order, 30 points
    assert symptoms["single step beats iterative at eps 0.2"] == pytest.approx(-0.1)
    assert symptoms["accuracy rises with eps under PGD"] <= -0.2  # from 95% clean down to 50% and 30%
    flags = masking_flags(0.95, accuracy, SPECS)
    assert flags == ["black box beats white box at eps 0.2: transfer leaves 25.0%, PGD 30.0%"]


# ---------------------------------------------------------------------------------------------------
# The report on real models


@pytest.fixture(scope="module")
def digits_models():
    """A digits MLP, the same MLP behind a binarization (trained on binarized digits: a model built to
    mask gradients), and the attacker's substitute (another MLP, own seed) for the transfer attack."""
    x, y = load_digits("train")
    torch.manual_seed(0)
    plain = DigitsMLP()
    train_classifier(plain, (x, y), epochs=10, progress=False)
    torch.manual_seed(1)
    masked_net = DigitsMLP()
    train_classifier(masked_net, (Binarize()(x), y), epochs=10, progress=False)
    torch.manual_seed(2)
    substitute = DigitsMLP()
    train_classifier(substitute, (x, y), epochs=10, progress=False, seed=2)
    return {"plain": plain, "masked": nn.Sequential(Binarize(), masked_net).eval(), "substitute": substitute}


def test_the_report_flags_a_model_that_masks_its_gradient_and_not_the_plain_one(digits_models):
    x, y = load_digits("test")
    x, y = x[:200], y[:200]
    attacks = default_attacks(digits_models["substitute"], steps=10, restarts=2)
    report = robustness_report({"plain MLP": digits_models["plain"], "binarized MLP": digits_models["masked"]},
                               (x, y), attacks, progress=False)
    assert report.flagged() == ["binarized MLP"], str(report)
    assert report.symptom["binarized MLP"] > 0.02 >= report.symptom["plain MLP"]
    assert any("black box beats white box" in flag for flag in report.flags["binarized MLP"])
    # FGSM sees a zero gradient: the masked model looks perfectly robust to it
    assert report.accuracy["binarized MLP"]["FGSM"][0.1] == pytest.approx(report.clean["binarized MLP"])


def test_the_report_table_has_a_row_per_model_and_accuracy_never_exceeds_clean(digits_models):
    x, y = load_digits("test")
    x, y = x[:100], y[:100]
    attacks = [fgsm_spec(), pgd_spec(steps=5, restarts=1), transfer_spec(digits_models["substitute"], steps=5)]
    report = robustness_report({"plain": digits_models["plain"]}, (x, y), attacks, eps_list=(0.1, 0.3),
                               progress=False)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["clean", "|", "FGSM", "|", "PGD-5", "|", "transfer", "|", "worst", "case", "|"]
    assert lines[1].split() == ["model"] + ["|", "0.1", "0.3"] * 4 + ["|", "masking", "check"]
    assert lines[2].startswith("plain") and lines[2].endswith("| ok") and len(lines) == 3
    assert set(report.accuracy["plain"]) == {"FGSM", "PGD-5", "transfer"}
    for row in report.accuracy["plain"].values():
        assert set(row) == {0.1, 0.3} and all(0 <= v <= report.clean["plain"] for v in row.values())
    for eps in (0.1, 0.3):
        assert report.worst["plain"][eps] <= min(row[eps] for row in report.accuracy["plain"].values())
    assert report.accuracy["plain"]["PGD-5"][0.3] < 0.2 < report.clean["plain"]


def test_an_identity_attack_leaves_the_clean_accuracy():
    model, (x, y) = toy_model(), toy_data()
    identity = AttackSpec("none", lambda model, x, y, *, eps: x.clone())
    report = robustness_report({"toy": model}, (x, y), [identity], eps_list=(0.1,), progress=False)
    assert report.accuracy["toy"]["none"][0.1] == report.clean["toy"]
    assert report.clean["toy"] == (model(x).argmax(1) == y).float().mean().item()


@pytest.mark.parametrize("kwargs, words", [
    ({"eps_list": (0.0, 0.1)}, "eps"),
    ({"attacks": [fgsm_spec(), fgsm_spec()]}, "distinct"),
])
def test_report_arguments_are_checked(kwargs, words):
    model, data = toy_model(), toy_data()
    arguments = {"attacks": [fgsm_spec()]} | kwargs
    with pytest.raises(ValueError, match=words):
        robustness_report({"toy": model}, data, progress=False, **arguments)


# ---------------------------------------------------------------------------------------------------
# AutoAttack (the authors' pyautoattack) and the worst case per image


def test_autoattack_stays_in_the_ball_and_finds_at_least_what_a_weak_pgd_finds():
    model, (x, y) = toy_model(3), toy_data(24, seed=3)
    y = model(x).argmax(1)  # every image right when clean
    eps = 0.05
    x_adv = autoattack_spec("fast", seed=0).run(model, x, y, eps=eps)
    assert x_adv.shape == x.shape and x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv - x).abs().max() <= eps + 1e-6
    fooled = (model(x_adv).argmax(1) != y).float().mean().item()
    weak = pgd(model, x, y, eps=eps, alpha=eps / 4, steps=4)
    assert fooled > 0 and fooled >= (model(weak).argmax(1) != y).float().mean().item()
    again = autoattack_spec("fast", seed=0).run(model, x, y, eps=eps)
    assert torch.equal(again, x_adv), "seeded: the same examples twice"


class Replace(nn.Module):
    """A nearest-template classifier: the logits are minus the distances to five fixed templates."""

    def __init__(self):
        super().__init__()
        self.templates = torch.stack([torch.full((1, 6, 6), v) for v in (0.1, 0.3, 0.5, 0.7, 0.9)])

    def forward(self, x):
        return -((x[:, None] - self.templates[None]) ** 2).flatten(2).sum(2)


def fooling(indices):
    """An attack that moves the images at ``indices`` onto another class's template."""
    def run(model, x, y, *, eps):
        x_adv = x.clone()
        for i in indices:
            x_adv[i] = model.templates[(y[i] + 2) % 5]
        return x_adv
    return run


def test_the_worst_case_counts_an_image_robust_only_if_it_survives_every_attack():
    model = Replace()
    y = torch.arange(10) % 5
    x = model.templates[y].clone()
    attacks = [AttackSpec("A", fooling([0, 1])), AttackSpec("B", fooling([1, 2, 3]))]
    report = robustness_report({"m": model}, (x, y), attacks, eps_list=(0.1,), progress=False)
    assert report.clean["m"] == 1.0
    assert report.accuracy["m"]["A"][0.1] == pytest.approx(0.8) and report.accuracy["m"]["B"][0.1] == pytest.approx(0.7)
    assert report.worst["m"][0.1] == pytest.approx(0.6), "images 0-3 fall to one attack or the other"
    assert "worst case" in report.table() and "60.0%" in report.table()


def test_a_large_gap_between_pgd_and_the_reference_evaluation_is_a_masking_flag():
    attacks = [pgd_spec(10, 1), AttackSpec("AutoAttack", None, reference=True)]
    wide = {"PGD-10": {0.2: 0.60}, "AutoAttack": {0.2: 0.30}}
    narrow = {"PGD-10": {0.2: 0.31 + REFERENCE_GAP}, "AutoAttack": {0.2: 0.30}}
    assert any("AutoAttack finds far more than PGD-10" in flag for flag in masking_flags(0.9, wide, attacks))
    assert masking_flags(0.9, narrow, attacks) == []
    # The reference is not "iterative beats single step" material, nor compared with itself.
    assert all("AutoAttack leaves" not in s for _, s in masking_symptoms(0.9, wide, attacks))


def test_autoattacks_own_checks_become_warnings_and_masking_flags():
    # Rounding the input zeroes every gradient: AutoAttack's zero-gradient check fires. Its message comes
    # back once, as an AutoAttackCheck warning, and the report lists it among the model's flags.
    model, (x, _) = toy_model(1), toy_data(16, seed=1)
    masked = nn.Sequential(Binarize(), model).eval()
    y = masked(x).argmax(1)
    with pytest.warns(AutoAttackCheck, match="zero gradient") as caught:
        autoattack_spec("fast", seed=0).run(masked, x, y, eps=0.1)
    assert len([w for w in caught if issubclass(w.category, AutoAttackCheck)]) == 1
    report = robustness_report({"masked": masked, "plain": model}, (x, y), [autoattack_spec("fast", seed=0)],
                               eps_list=(0.1,), progress=False)
    assert any("AutoAttack's own check" in flag and "zero gradient" in flag and "eps 0.1" in flag
               for flag in report.flags["masked"]), report.flags["masked"]
    assert not any("own check" in flag for flag in report.flags["plain"]), report.flags["plain"]
    assert "masked" in report.flagged()
