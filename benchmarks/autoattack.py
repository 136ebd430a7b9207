"""What does AutoAttack add to notebook 04's evaluation? Time and robust accuracy at eps 0.2 on the digits.

Trains two :class:`helpers.digits.DigitsCNN` (standard, and adversarially trained with the full-mode
settings of ``benchmarks/adversarial_training.py`` but ``--epochs`` epochs), then evaluates each on the
test digits at L-inf eps 0.2 with the course's PGD-40 with 5 restarts, AutoAttack's fast version (APGD-CE
and APGD-T) and its standard version (APGD-CE, APGD-T, FAB-T, Square), and the worst case per image over
all three. Prints seconds and robust accuracy per attack.

Run: ``python benchmarks/autoattack.py [--epochs 10] [--images 360] [--threads N]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import torch

from helpers import config
from helpers.attacks import pgd
from helpers.defenses import adversarial_training_loss, train_classifier
from helpers.digits import DigitsCNN, load_digits
from helpers.robustness import autoattack_spec, pgd_spec

EPS = 0.2


def trained(adversarial: bool, data, epochs: int) -> torch.nn.Module:
    config.seed_everything(0)
    model = DigitsCNN()
    loss = {}
    if adversarial:
        attack = functools.partial(pgd, eps=0.25, alpha=2.5 * 0.25 / 7, steps=7, random_start=True)
        loss = {"loss_fn": functools.partial(adversarial_training_loss, attack=attack, lam=2.0)}
    train_classifier(model, data, epochs=epochs, batch_size=32, progress=False, **loss)
    return model.eval()


def correct(model, x, y) -> torch.Tensor:
    with torch.no_grad():
        return model(x).argmax(1) == y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
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
    for name, adversarial in (("standard", False), ("adversarial training", True)):
        start = time.perf_counter()
        model = trained(adversarial, data, args.epochs)
        print(f"\n{name}: trained in {time.perf_counter() - start:.1f} s; clean "
              f"{correct(model, x, y).float().mean():.1%}")
        survivors = correct(model, x, y)
        for attack in attacks:
            start = time.perf_counter()
            x_adv = attack.run(model, x, y, eps=EPS)
            seconds = time.perf_counter() - start
            robust = correct(model, x_adv, y) & correct(model, x, y)
            survivors &= robust
            print(f"  {attack.name:24s} {robust.float().mean():6.1%} robust   {seconds:6.1f} s")
        print(f"  {'worst case':24s} {survivors.float().mean():6.1%} robust")


if __name__ == "__main__":
    main()
