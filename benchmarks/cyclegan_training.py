"""How long does the course's CycleGAN recipe take to train on this machine? (notebook 08; the issue asks
for at most 10 minutes on a 2-core CPU, with the evaluation floors met)

    python benchmarks/cyclegan_training.py               # the full-mode recipe: time, ms per step, evaluation
    python benchmarks/cyclegan_training.py --steps 200   # a quick estimate of the time per step

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
from helpers.cyclegan import (SMALL_DISCRIMINATOR, SMALL_GENERATOR, SMALL_RECIPE, PatchDiscriminator, ResnetGenerator,
                              train_cyclegan)
from helpers.cyclegan_eval import domain_classifier, evaluate_cyclegan, format_results
from helpers.horses import horses_and_zebras, other_animals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=SMALL_RECIPE["steps"],
                        help=f"training steps (default {SMALL_RECIPE['steps']}); the last half decay the learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the networks, the data order and the pools")
    parser.add_argument("--no-eval", action="store_true", help="skip the evaluation (classifier training, ~15 s)")
    args = parser.parse_args(argv)

    data = horses_and_zebras(seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    config.seed_everything(args.seed)
    G, F_ = ResnetGenerator(**SMALL_GENERATOR), ResnetGenerator(**SMALL_GENERATOR)
    D_A, D_B = PatchDiscriminator(**SMALL_DISCRIMINATOR), PatchDiscriminator(**SMALL_DISCRIMINATOR)
    averages = (copy.deepcopy(G), copy.deepcopy(F_))  # the generators that are evaluated, as in notebook 08
    recipe = {**SMALL_RECIPE, "steps": args.steps, "decay_steps": args.steps // 2}
    start = time.perf_counter()
    train_cyclegan(G, F_, D_A, D_B, data.train_a, data.train_b, **recipe, averages=averages, seed=args.seed,
                   progress=False)
    seconds = time.perf_counter() - start
    print(f"{args.steps} steps (batch {recipe['batch_size']}): {seconds:.1f} s, {1000 * seconds / args.steps:.1f} ms "
          f"per step (load average {os.getloadavg()[0]:.2f})")
    if not args.no_eval:
        classifier = domain_classifier(data.train_a, data.train_b, other_animals(1000))
        print(format_results(evaluate_cyclegan(*averages, data.test_a, data.test_b, data.test_mask, classifier)))


if __name__ == "__main__":
    main()
