"""How long does the baseline DCGAN take to train on this machine? (notebooks 05-07; the issue asks <= 3 min)

    python benchmarks/gan_training.py              # the full-mode baseline: time, ms per step, evaluation
    python benchmarks/gan_training.py --steps 300  # a quick estimate of the time per step

Prints the CPU threads used and the machine's load average before and after, since on a shared machine
another job's load slows PyTorch's CPU kernels far more than its own share.
"""

from __future__ import annotations

import argparse
import copy
import os
import time

import torch

from helpers import config
from helpers.digits import load_digits
from helpers.gan import (
    BASELINE,
    BASELINE_GENERATOR,
    BASELINE_STEPS,
    Discriminator,
    Generator,
    generate,
    sample_latent,
    train_gan,
)
from helpers.metrics import DigitsEvaluator, digits_classifier


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=BASELINE_STEPS, help=f"generator steps (default {BASELINE_STEPS})")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation (classifier training, ~20 s)")
    args = parser.parse_args(argv)

    x_train, _ = load_digits("train", size=16)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    config.seed_everything(0)
    G, D = Generator(**BASELINE_GENERATOR), Discriminator()
    average = copy.deepcopy(G)
    start = time.perf_counter()
    train_gan(G, D, x_train, **{**BASELINE, "steps": args.steps}, average=average, progress=False)
    seconds = time.perf_counter() - start
    print(f"{args.steps} steps: {seconds:.1f} s, {1000 * seconds / args.steps:.1f} ms per step "
          f"(load average {os.getloadavg()[0]:.2f})")
    if not args.no_eval:
        evaluator = DigitsEvaluator(digits_classifier(size=16))
        real = evaluator.real_baseline(n=1000)
        fake = evaluator.evaluate(generate(average, sample_latent(1000, G.latent_dim, seed=1)))
        print(f"Frechet {fake['frechet']:.1f} (real vs real {real['frechet']:.1f}, "
              f"{fake['frechet'] / real['frechet']:.1f}x), confident {fake['confident']:.1%}, classes {fake['classes']}")


if __name__ == "__main__":
    main()
