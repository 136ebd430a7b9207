"""One robustness table for many defended models, with sanity checks against gradient masking.

:func:`robustness_report` measures every model on the same data: clean accuracy, then accuracy under each
attack at each L-inf budget ``eps`` (in [0, 1] pixel units). The default attacks (:func:`default_attacks`)
are FGSM, PGD-40 with random restarts (:func:`pgd_with_restarts`, the worst case per image) and a
black-box transfer attack from a substitute model.

A defense that only hides its gradient ("gradient masking", "obfuscated gradients": Papernot et al. 2017,
Athalye et al. 2018) looks robust to gradient attacks and is not. The report flags the symptoms listed by
Carlini et al. 2019 ("On evaluating adversarial robustness"):

- a black-box attack beats the white-box ones (the white-box attacker knows strictly more);
- accuracy rises as eps grows (a bigger ball contains the smaller one);
- a single-step attack (FGSM) beats the iterative one (PGD starts where FGSM ends, and goes on);
- the field's reference evaluation (AutoAttack, :func:`autoattack_spec`) finds many more adversarial
  examples than the course's own PGD (Croce and Hein 2020);
- AutoAttack's own sanity checks fire (zero gradients; Square, a black-box attack, beating its white-box
  attacks; a randomized or dynamic model).

The report also has a *worst case* per model and eps: an image counts as robust only if it survives every
attack (the per-example count RobustBench uses); verdicts should come from it.

A flag is a reason to distrust the row, not proof of masking; an absent flag proves nothing either.
Bad input raises ``ValueError`` (``TypeError`` for a wrong type) naming the parameter, before any attack.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import config
from .attacks import fgsm, pgd
from .validation import (
    check_callable, check_images, check_int, check_labels, check_model, check_number, check_probability
)

__all__ = [
    "EPS_LIST",
    "AttackSpec",
    "AutoAttackCheck",
    "RobustnessReport",
    "autoattack_spec",
    "default_attacks",
    "fgsm_spec",
    "masking_flags",
    "masking_symptoms",
    "pgd_spec",
    "pgd_with_restarts",
    "robustness_report",
    "transfer_spec",
]

EPS_LIST = (0.1, 0.2, 0.3)
# How far (accuracy, 0..1) an iterative white-box attack may leave more images robust than the reference
# evaluation before the gap counts as a masking symptom, on top of the report's tolerance.
REFERENCE_GAP = 0.03


@dataclass(frozen=True)
class AttackSpec:
    """An attack as the report uses it: ``run(model, x, y, eps=eps) -> x_adv`` (N, C, H, W) in [0, 1].

    ``white_box``: does it use the model's gradient? (a transfer attack does not: it never touches the
    model). ``iterative``: many steps (PGD) or one (FGSM)? Both feed the masking checks. ``run=None`` describes
    an attack measured elsewhere, for :func:`masking_symptoms` only.
    """

    name: str
    run: Callable[..., torch.Tensor]
    white_box: bool = True
    iterative: bool = True
    reference: bool = False  # the field's standard evaluation (AutoAttack): other attacks are compared with it

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string (the table's column), got {self.name!r}")
        if self.run is not None:
            check_callable(self.run, "run")
        if not all(isinstance(v, bool) for v in (self.white_box, self.iterative, self.reference)):
            raise TypeError(f"white_box, iterative and reference must be bools, got {self.white_box!r}, "
                            f"{self.iterative!r} and {self.reference!r}")


def pgd_with_restarts(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 40,
    restarts: int = 5,
    alpha: float | None = None,
    norm: str = "linf",
    seed: int | None = None,
) -> torch.Tensor:
    """The worst case per image over ``restarts`` runs of PGD, each from a random point of the eps-ball.

    ``alpha`` defaults to ``2.5 * eps / steps`` (Madry et al. 2018). The random starts come from a
    generator seeded with ``seed`` (default: :func:`helpers.config.seed`), so the result is reproducible. Per image, the first run that
    misclassifies it wins; for an image no run fools, the run with the highest cross-entropy. Later runs
    only attack the images not fooled yet (so restarts are cheap on a weak model). Returns (N, C, H, W).
    ``y``: int64 (N,) true labels.
    """
    check_model(model)
    check_images(x, channels=None)
    y = check_labels(y, len(x)).to(x.device)
    check_number(eps, "eps", minimum=0.0)
    check_int(steps, "steps", minimum=0)
    check_int(restarts, "restarts")
    if alpha is None:
        alpha = 2.5 * eps / steps if steps else 0.0
    generator = torch.Generator().manual_seed(config.seed() if seed is None else check_int(seed, "seed", minimum=0))
    worst = x.detach().clone()
    fooled = torch.zeros(len(x), dtype=torch.bool, device=x.device)
    worst_loss = torch.full((len(x),), -math.inf, device=x.device)
    was_training = model.training
    for _ in range(restarts):
        todo = (~fooled).nonzero().flatten()
        if len(todo) == 0 or eps == 0:
            break
        candidate = pgd(model, x[todo], y[todo], eps=eps, alpha=alpha, steps=steps, norm=norm,
                        random_start=True, generator=generator)
        model.eval()
        try:
            with torch.no_grad():
                logits = model(candidate)
        finally:
            model.train(was_training)
        loss = F.cross_entropy(logits, y[todo], reduction="none")
        wrong = logits.argmax(1) != y[todo]
        better = wrong | (loss > worst_loss[todo])
        worst[todo[better]] = candidate[better]
        worst_loss[todo[better]] = loss[better]
        fooled[todo[wrong]] = True
    return worst


def fgsm_spec() -> AttackSpec:
    """FGSM (one signed-gradient step of size eps): white box, single step."""
    return AttackSpec("FGSM", lambda model, x, y, *, eps: fgsm(model, x, y, eps=eps), white_box=True,
                      iterative=False)


def pgd_spec(steps: int = 40, restarts: int = 5, seed: int | None = None) -> AttackSpec:
    """PGD-``steps`` with ``restarts`` random restarts (:func:`pgd_with_restarts`): white box, iterative."""
    check_int(steps, "steps")
    check_int(restarts, "restarts")
    if seed is not None:
        check_int(seed, "seed", minimum=0)

    def run(model, x, y, *, eps):
        return pgd_with_restarts(model, x, y, eps=eps, steps=steps, restarts=restarts, seed=seed)

    name = f"PGD-{steps}" + (f" x{restarts}" if restarts > 1 else "")
    return AttackSpec(name, run, white_box=True, iterative=True)


def transfer_spec(substitute: nn.Module, steps: int = 40, name: str = "transfer") -> AttackSpec:
    """Black box: PGD-``steps`` (alpha = 2.5 eps / steps, no random start) on ``substitute``, the attacker's
    own model, handed to the target unchanged. The target model is never queried for gradients."""
    check_model(substitute, "substitute")
    check_int(steps, "steps")

    def run(model, x, y, *, eps):
        return pgd(substitute, x, y, eps=eps, alpha=2.5 * eps / steps, steps=steps)

    return AttackSpec(name, run, white_box=False, iterative=True)


class AutoAttackCheck(UserWarning):
    """A warning of AutoAttack's own sanity checks (zero gradients, a randomized or dynamic defense, Square
    beating the white-box attacks: its ``flags_doc.md``), re-issued by :func:`autoattack_spec`'s run.
    :func:`robustness_report` turns each into a masking flag of the model."""


class _Collect(logging.Handler):
    """Keeps the messages of the warnings that pyautoattack logs."""

    def __init__(self):
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def _summarise_checks(messages: Sequence[str]) -> list[str]:
    """AutoAttack's check messages, once each; the zero-gradient count (repeated per target class) at its
    largest. The pointer to the authors' flags_doc.md is dropped."""
    zero = [int(m.group(1)) for m in (re.search(r"there are (\d+) points with zero gradient", t, re.IGNORECASE)
                                      for t in messages) if m]
    others = [t.split(" See flags_doc.md")[0] for t in messages if "zero gradient" not in t.lower()]
    summary = list(dict.fromkeys(others))
    if zero:
        summary.insert(0, f"{max(zero)} images with a zero gradient (gradient-based attacks are unreliable there)")
    return summary


AUTOATTACK_VERSIONS = {
    # RobustBench's minimum: APGD-CE, APGD-T (9 target classes), FAB-T (9), Square (5,000 queries).
    "standard": ["apgd-ce", "apgd-t", "fab-t", "square"],
    # For fast mode only: the two APGD attacks, which find nearly all that the standard version finds on
    # models without gradient masking (Croce and Hein 2020, table 2); not a verdict by itself.
    "fast": ["apgd-ce", "apgd-t"],
}


def autoattack_spec(version: str = "standard", *, seed: int | None = None, batch_size: int = 500) -> AttackSpec:
    """AutoAttack (Croce and Hein, ICML 2020) under L-inf, run by its authors' code (``pyautoattack``, MIT).

    ``version="standard"`` is the field's standard evaluation (APGD-CE, APGD-T, FAB-T, Square; RobustBench's
    minimum); ``"fast"`` runs only APGD-CE and APGD-T, with the same settings, for fast mode. Each attack
    runs on the images the earlier ones did not fool, and the image kept is the first that fools the
    model: the result is the worst case per image. ``seed`` defaults to :func:`helpers.config.seed`. The
    model must give logits for every class. White box, iterative, and the report's reference. AutoAttack's
    own sanity checks are not printed: each is issued once as an :class:`AutoAttackCheck` warning, which
    :func:`robustness_report` lists among the model's masking flags.
    """
    if version not in AUTOATTACK_VERSIONS:
        raise ValueError(f"version must be one of {sorted(AUTOATTACK_VERSIONS)}, got {version!r}")
    if seed is not None:
        check_int(seed, "seed", minimum=0)
    check_int(batch_size, "batch_size")

    def run(model, x, y, *, eps):
        from pyautoattack import AutoAttack

        was_training = model.training
        model.eval()
        logger, collect = logging.getLogger("auto-attack"), _Collect()
        logger.addHandler(collect)
        propagate, logger.propagate = logger.propagate, False
        try:
            attack = AutoAttack(model, norm="Linf", eps=float(eps), version="custom",
                                attacks=list(AUTOATTACK_VERSIONS[version]), device=x.device,
                                seed=config.seed() if seed is None else seed)
            for name in ("apgd", "apgd_targeted", "fab", "square"):  # the standard version's settings
                getattr(attack, name).verbose = False
            with torch.no_grad():
                classes = model(x[:1]).shape[1]
            attack.apgd.n_restarts = 1
            attack.apgd_targeted.n_target_classes = attack.fab.n_target_classes = min(9, classes - 1)
            attack.apgd_targeted.n_restarts = attack.fab.n_restarts = 1
            attack.square.n_queries = 5000
            x_adv, _ = attack.run_standard_evaluation(x.detach(), y, batch_size=batch_size)
        finally:
            model.train(was_training)
            logger.removeHandler(collect)
            logger.propagate = propagate
        for message in _summarise_checks(collect.messages):
            warnings.warn(AutoAttackCheck(f"AutoAttack's own check: {message}"), stacklevel=2)
        return x_adv.detach().clamp(0.0, 1.0)

    name = "AutoAttack" if version == "standard" else "AutoAttack (APGD only)"
    return AttackSpec(name, run, white_box=True, iterative=True, reference=True)


def default_attacks(substitute: nn.Module, *, steps: int = 40, restarts: int = 5, seed: int | None = None) -> list[AttackSpec]:
    """FGSM, PGD-``steps`` with ``restarts`` restarts, and a transfer attack from ``substitute``."""
    return [fgsm_spec(), pgd_spec(steps, restarts, seed), transfer_spec(substitute, steps)]


def masking_symptoms(
    clean: float,
    accuracy: Mapping[str, Mapping[float, float]],
    attacks: Sequence[AttackSpec],
) -> list[tuple[float, str]]:
    """Every comparison behind the gradient-masking checks of one model, as ``(size, sentence)`` pairs.

    ``size`` is how much the symptom shows, in accuracy (0..1): the rise of accuracy from one eps to the
    next, how far the best black-box attack beats the best white-box one, how far FGSM beats each
    iterative attack. A negative size means the expected order holds, with that much room.
    ``accuracy[attack name][eps]`` is the accuracy under that attack; ``clean`` the clean accuracy.
    """
    _check_accuracies(clean, accuracy, attacks)
    symptoms = []
    white = [a for a in attacks if a.white_box]
    black = [a for a in attacks if not a.white_box]
    for attack in attacks:
        curve = [(0.0, clean)] + sorted(accuracy[attack.name].items())
        for (e0, a0), (e1, a1) in zip(curve, curve[1:]):
            symptoms.append((a1 - a0, f"accuracy rises with eps under {attack.name}: {a0:.1%} at eps {e0:g}, "
                                      f"{a1:.1%} at eps {e1:g}"))
    for eps in sorted(next(iter(accuracy.values())).keys()) if accuracy else []:
        if white and black:
            best_white = min(white, key=lambda a: accuracy[a.name][eps])
            best_black = min(black, key=lambda a: accuracy[a.name][eps])
            w, b = accuracy[best_white.name][eps], accuracy[best_black.name][eps]
            symptoms.append((w - b, f"black box beats white box at eps {eps:g}: {best_black.name} leaves {b:.1%}, "
                                    f"{best_white.name} {w:.1%}"))
        for reference in [a for a in attacks if a.reference]:
            for other in [a for a in white if a.iterative and not a.reference]:
                o, r = accuracy[other.name][eps], accuracy[reference.name][eps]
                symptoms.append((o - r - REFERENCE_GAP,
                                 f"{reference.name} finds far more than {other.name} at eps {eps:g}: "
                                 f"{other.name} leaves {o:.1%}, {reference.name} {r:.1%}"))
        single = [a for a in white if not a.iterative]
        iterative = [a for a in white if a.iterative and not a.reference]
        for one in single:
            for many in iterative:
                s, m = accuracy[one.name][eps], accuracy[many.name][eps]
                symptoms.append((m - s, f"single step beats iterative at eps {eps:g}: {one.name} leaves {s:.1%}, "
                                        f"{many.name} {m:.1%}"))
    return symptoms


def masking_flags(
    clean: float,
    accuracy: Mapping[str, Mapping[float, float]],
    attacks: Sequence[AttackSpec],
    *,
    tolerance: float = 0.02,
) -> list[str]:
    """The gradient-masking symptoms of one model, as sentences (empty list: none seen).

    ``accuracy[attack name][eps]`` is the accuracy (0..1) under that attack; ``clean`` the clean accuracy.
    A symptom counts only when it exceeds ``tolerance`` (accuracy points, 0..1), to ignore sampling noise
    (:func:`masking_symptoms` gives every comparison with its size).
    """
    check_probability(tolerance, "tolerance")
    return [sentence for size, sentence in masking_symptoms(clean, accuracy, attacks) if size > tolerance]


def _check_accuracies(clean: float, accuracy: Mapping[str, Mapping[float, float]],
                      attacks: Sequence[AttackSpec]) -> None:
    """``clean`` in [0, 1]; ``accuracy[a.name]`` for every attack, over one set of eps, each value in [0, 1]."""
    check_probability(clean, "clean")
    _check_attacks(attacks)
    missing = [a.name for a in attacks if a.name not in accuracy]
    if missing:
        raise ValueError(f"accuracy lacks the attack(s) {missing}: give accuracy[attack name][eps] for every attack")
    eps_sets = {tuple(sorted(accuracy[a.name])) for a in attacks}
    if len(eps_sets) != 1 or not next(iter(eps_sets)):
        raise ValueError(f"accuracy must give every attack the same non-empty set of eps, got {sorted(eps_sets)}")
    for name, row in accuracy.items():
        for value in row.values():
            check_probability(value, f"accuracy[{name!r}][eps]")


def _check_attacks(attacks: Sequence[AttackSpec]) -> None:
    if isinstance(attacks, AttackSpec) or not attacks or not all(isinstance(a, AttackSpec) for a in attacks):
        raise TypeError(f"attacks must be a non-empty list of AttackSpec (e.g. default_attacks(substitute)), got "
                        f"{attacks!r}")
    names = [a.name for a in attacks]
    if len(set(names)) != len(names):
        raise ValueError(f"attack names must be distinct, got {names}")


@dataclass
class RobustnessReport:
    """The measurements of :func:`robustness_report`; ``str(report)`` is the table.

    ``clean[model]``: clean accuracy; ``accuracy[model][attack][eps]``: accuracy under attack (0..1);
    ``flags[model]``: gradient-masking symptoms (:func:`masking_flags`, then the warnings of AutoAttack's own
    checks), empty when none;
    ``symptom[model]``: the size of the model's largest symptom (:func:`masking_symptoms`; a row is flagged
    when it exceeds the tolerance, and a negative size means every expected order holds with that much room);
    ``worst[model][eps]``: the worst case, the share of images that are classified correctly clean and under
    every attack (per image, so it can be below every attack's own accuracy).
    """

    eps_list: tuple[float, ...]
    attacks: list[AttackSpec]
    clean: dict[str, float] = field(default_factory=dict)
    accuracy: dict[str, dict[str, dict[float, float]]] = field(default_factory=dict)
    flags: dict[str, list[str]] = field(default_factory=dict)
    symptom: dict[str, float] = field(default_factory=dict)
    worst: dict[str, dict[float, float]] = field(default_factory=dict)

    def __post_init__(self):
        self.eps_list = _check_eps_list(self.eps_list)
        _check_attacks(self.attacks)

    def table(self) -> str:
        """A fixed-width text table: a row per model; clean accuracy, then each attack at each eps (a group
        of columns per attack), then the masking check; the symptoms of flagged rows are listed below."""
        for model in self.clean:
            if model not in self.flags or model not in self.accuracy or any(
                    eps not in self.accuracy[model].get(a.name, {}) for a in self.attacks for eps in self.eps_list) \
                    or any(eps not in self.worst.get(model, {}) for eps in self.eps_list):
                raise ValueError(f"the report is incomplete for model {model!r}: fill accuracy[model][attack][eps] "
                                 "for every attack and eps, worst[model][eps], and flags[model] "
                                 "(robustness_report does)")
        cell = 7
        name_width = max([len("model")] + [len(name) for name in self.clean]) + 2
        groups = [a.name for a in self.attacks] + ["worst case"]
        widths = [max(len(self.eps_list) * cell, len(name)) for name in groups]
        top = "".ljust(name_width) + "clean".rjust(cell) + "".join(
            f" | {name.center(width)}" for name, width in zip(groups, widths)) + " |"
        second = "model".ljust(name_width) + "".rjust(cell) + "".join(
            " | " + "".join(f"{eps:g}".rjust(cell) for eps in self.eps_list).rjust(width) for width in widths)
        lines = [top, second + " | masking check"]
        for model in self.clean:
            row = model.ljust(name_width) + f"{self.clean[model]:.1%}".rjust(cell)
            columns = [self.accuracy[model][a.name] for a in self.attacks] + [self.worst[model]]
            for values, width in zip(columns, widths):
                row += " | " + "".join(f"{values[eps]:.1%}".rjust(cell) for eps in self.eps_list).rjust(width)
            lines.append(row + " | " + ("FLAGGED" if self.flags[model] else "ok"))
        for model, flags in self.flags.items():
            lines.extend(f"  {model}: {flag}" for flag in flags)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def flagged(self) -> list[str]:
        """The names of the models with at least one masking symptom."""
        return [model for model, flags in self.flags.items() if flags]


def robustness_report(
    models: Mapping[str, nn.Module],
    data: tuple[torch.Tensor, torch.Tensor],
    attacks: Sequence[AttackSpec],
    *,
    eps_list: Sequence[float] = EPS_LIST,
    tolerance: float = 0.02,
    progress: bool = True,
) -> RobustnessReport:
    """Measure every model of ``models`` (name -> model) on ``data = (x, y)`` under every attack.

    ``x``: (N, C, H, W) in [0, 1]; ``y``: int64 (N,) true labels; ``attacks``: :class:`AttackSpec` s (e.g.
    :func:`default_attacks`); ``eps_list``: L-inf budgets in [0, 1] pixel units (default 0.1, 0.2, 0.3).
    Accuracy counts an image as robust when the model classifies its attacked version as ``y`` (an image
    misclassified when clean counts as lost under every attack too: each attack starts from it, and
    :func:`pgd_with_restarts` keeps it). The worst case counts an image as robust only if it is robust under
    every attack. The warnings of AutoAttack's own checks (:class:`AutoAttackCheck`) become masking flags.
    Models are run in eval mode and restored. Returns a :class:`RobustnessReport`.
    """
    if not isinstance(models, Mapping) or not models:
        raise TypeError(f"models must be a non-empty dict name -> model, got {type(models).__name__}")
    for name, model in models.items():
        check_model(model, f"models[{name!r}]")
    x, y = data
    check_images(x, channels=None)
    check_labels(y, len(x))
    _check_attacks(attacks)
    for attack in attacks:
        check_callable(attack.run, f"the run of attack {attack.name!r}")
    eps_list = _check_eps_list(eps_list)
    check_probability(tolerance, "tolerance")
    report = RobustnessReport(eps_list=eps_list, attacks=list(attacks))
    bar = tqdm(total=len(models) * len(attacks) * len(eps_list), desc="robustness", disable=not progress)
    for model_name, model in models.items():
        clean_correct = _correct(model, x, y)
        report.clean[model_name] = clean_correct.float().mean().item()
        report.accuracy[model_name] = {}
        survivors = {eps: clean_correct.clone() for eps in eps_list}
        checks = []  # AutoAttack's own sanity checks that fired
        for attack in attacks:
            row = report.accuracy[model_name][attack.name] = {}
            for eps in eps_list:
                bar.set_postfix_str(f"{model_name}, {attack.name}, eps {eps:g}")
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", AutoAttackCheck)
                    x_adv = attack.run(model, x, y, eps=eps)
                for warning in caught:
                    if issubclass(warning.category, AutoAttackCheck):
                        checks.append(f"{warning.message} (under {attack.name} at eps {eps:g})")
                    else:
                        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
                robust = _correct(model, x_adv, y) & clean_correct
                row[eps] = robust.float().mean().item()
                survivors[eps] &= robust
                bar.update()
        report.worst[model_name] = {eps: survivors[eps].float().mean().item() for eps in eps_list}
        symptoms = masking_symptoms(report.clean[model_name], report.accuracy[model_name], attacks)
        report.flags[model_name] = [sentence for size, sentence in symptoms if size > tolerance] + checks
        report.symptom[model_name] = max(size for size, _ in symptoms)
    bar.close()
    return report


def _check_eps_list(eps_list: Sequence[float]) -> tuple[float, ...]:
    """``eps_list`` as a non-empty tuple of floats, each in (0, 1]."""
    eps_list = tuple(eps_list)
    if not eps_list or any(not 0 < check_number(eps, "every eps") <= 1 for eps in eps_list):
        raise ValueError(f"every eps must be in (0, 1], and there must be one at least, got {eps_list}")
    return tuple(float(eps) for eps in eps_list)


def _correct(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bool (N,): where ``model`` classifies ``x`` as ``y`` (eval mode, mode restored)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return torch.cat([model(xb).argmax(1).cpu() for xb in x.split(512)]) == y.cpu()
    finally:
        model.train(was_training)
