"""What does AutoAttack add to notebook 04's evaluation? Time and robust accuracy at eps 0.2 on the digits.

Trains notebook 04's models as :class:`helpers.digits.DigitsCNN` s with its full-mode settings but
``--epochs`` epochs: standard; adversarial training (lambda 2); the lecture's logit pairing (lambda 0.5);
Kannan et al.'s ALP (lambda 0.05); and the CNN behind a binarizing input layer (gradient masking). Each is
evaluated on the test digits at L-inf eps 0.2 with the course's PGD-40 with 5 restarts, AutoAttack's fast
version (APGD-CE and APGD-T) and its standard version (APGD-CE, APGD-T, FAB-T, Square), and the worst case
per image over all three. Prints seconds and robust accuracy per attack, and AutoAttack's own checks.

Run: ``python benchmarks/autoattack.py [--epochs 30] [--images 360] [--threads N]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
import warnings

import torch
from torch import nn

from helpers import config
from helpers.attacks import pgd
from helpers.defenses import (
    adversarial_logit_pairing_loss,
    adversarial_training_loss,
    logit_pairing_loss,
    train_classifier,
)
from helpers.digits import DigitsCNN, load_digits
from helpers.robustness import autoattack_spec, pgd_spec

EPS = 0.2


LOSSES = {  # notebook 04's models: name -> (loss, lambda)
    "standard": (None, None),
    "adversarial training": (adversarial_training_loss, 2.0),
    "logit pairing (lecture)": (logit_pairing_loss, 0.5),
    "ALP (Kannan et al.)": (adversarial_logit_pairing_loss, 0.05),
    "binarized input": (None, None),
}


class Binarize(nn.Module):
    def forward(self, x):
        return torch.round(x)


def trained(name: str, data, epochs: int) -> torch.nn.Module:
    config.seed_everything(0)
    model = DigitsCNN()
    loss, lam = LOSSES[name]
    options = {}
    if loss is not None:
        attack = functools.partial(pgd, eps=0.25, alpha=2.5 * 0.25 / 7, steps=7, random_start=True)
        options = {"loss_fn": functools.partial(loss, attack=attack, lam=lam), "batch_size": 32}
    if name == "binarized input":
        data = (torch.round(data[0]), data[1])
    train_classifier(model, data, epochs=epochs, progress=False, **options)
    return (nn.Sequential(Binarize(), model) if name == "binarized input" else model).eval()


def correct(model, x, y) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) == y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--images", type=int, default=None, help="test digits to attack (default: all)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x, y = load_digits("test")
    x, y = (x[: args.images], y[: args.images]) if args.images else (x, y)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs; "
          f"{len(x)} test digits, eps {EPS}")
    data = load_digits("train")
    attacks = [pgd_spec(40, 5), autoattack_spec("fast"), autoattack_spec("standard")]
    for name in LOSSES:
        start = time.perf_counter()
        model = trained(name, data, args.epochs)
        print(f"\n{name}: trained in {time.perf_counter() - start:.1f} s; clean "
              f"{correct(model, x, y).float().mean():.1%}")
        survivors = correct(model, x, y)
        for attack in attacks:
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                x_adv = attack.run(model, x, y, eps=EPS)
            seconds = time.perf_counter() - start
            robust = correct(model, x_adv, y) & correct(model, x, y)
            survivors &= robust
            print(f"  {attack.name:24s} {robust.float().mean():6.1%} robust   {seconds:6.1f} s")
            for warning in caught:
                print(f"    {warning.message}")
        print(f"  {'worst case':24s} {survivors.float().mean():6.1%} robust")


if __name__ == "__main__":
    main()
