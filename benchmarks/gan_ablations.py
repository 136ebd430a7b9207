"""How fast can notebook 06 train many small GANs? Four ways to train R runs of the baseline DCGAN, timed.

    python benchmarks/gan_ablations.py                 # R = 4 runs of 200 steps each way
    python benchmarks/gan_ablations.py --runs 8 --steps 300

1. one after another, one thread each (``train_gan``);
2. one after another, with every core this process may use (``train_gan``);
3. batched as one model: the R generators and R discriminators stacked with grouped convolutions (each
   run's channels are a group), so that one forward and backward pass trains all of them. This is a timing
   model of the same layers, minibatch (64) and Adam updates, not a full trainer;
4. in parallel processes, one thread each (:func:`helpers.gan_ablation.train_ablation_runs`, what notebook
   06 uses).

Prints milliseconds per run-step (one generator step of one run, with its discriminator step) and each
way's speed-up over the first. Measured on 2 cores (benchmarks/README.md): once both cores are busy the
last three differ little, so batching gains nothing on a CPU; notebook 06 uses processes because a run's
result then depends on its seed alone. Run it on a quiet machine: the load average is printed before and
after.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn

from helpers.digits import load_digits
from helpers.gan import BASELINE, BASELINE_GENERATOR, Discriminator, Generator, sample_latent, train_gan
from helpers.gan_ablation import AblationRun, train_ablation_runs


def one_after_another(runs: int, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    x_train, _ = load_digits("train", size=16)
    start = time.perf_counter()
    for seed in range(runs):
        torch.manual_seed(seed)
        train_gan(Generator(**BASELINE_GENERATOR), Discriminator(), x_train, **{**BASELINE, "steps": steps},
                  seed=seed, progress=False)
    return time.perf_counter() - start


def stacked_models(runs: int) -> tuple[nn.Module, nn.Module]:
    """R baseline generators and discriminators as two networks with grouped convolutions."""
    latent, r = BASELINE_GENERATOR["latent_dim"], runs
    generator = nn.Sequential(
        nn.ConvTranspose2d(r * latent, r * 128, 4, 1, 0, bias=False, groups=r), nn.BatchNorm2d(r * 128), nn.ReLU(),
        nn.ConvTranspose2d(r * 128, r * 64, 4, 2, 1, bias=False, groups=r), nn.BatchNorm2d(r * 64), nn.ReLU(),
        nn.Conv2d(r * 64, r, 3, 1, 1, bias=False, groups=r), nn.Tanh(), nn.Upsample(size=16, mode="bilinear"))
    discriminator = nn.Sequential(
        nn.Conv2d(r, r * 64, 4, 2, 1, bias=False, groups=r), nn.LeakyReLU(0.2),
        nn.Conv2d(r * 64, r * 128, 4, 2, 1, bias=False, groups=r), nn.BatchNorm2d(r * 128), nn.LeakyReLU(0.2),
        nn.Conv2d(r * 128, r, 4, 1, 0, bias=False, groups=r))
    return (generator.to(memory_format=torch.channels_last), discriminator.to(memory_format=torch.channels_last))


def batched(runs: int, steps: int, threads: int) -> float:
    torch.set_num_threads(threads)
    x_train, _ = load_digits("train", size=16)
    generator, discriminator = stacked_models(runs)
    opt_g = torch.optim.Adam(generator.parameters(), lr=BASELINE["lr_g"], betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=BASELINE["lr_d"], betas=(0.5, 0.999))
    bce = nn.functional.binary_cross_entropy_with_logits
    start = time.perf_counter()
    for step in range(steps):
        index = torch.randint(len(x_train), (64, runs))
        real = x_train[index].flatten(1, 2) * 2 - 1  # (64, R, 16, 16): run r's minibatch in channel r
        fake = generator(torch.randn(64, runs * BASELINE_GENERATOR["latent_dim"], 1, 1))
        real_logits, fake_logits = discriminator(real).flatten(1), discriminator(fake.detach()).flatten(1)
        loss = bce(real_logits, torch.ones_like(real_logits)) + bce(fake_logits, torch.zeros_like(fake_logits))
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        g_logits = discriminator(fake).flatten(1)
        loss = bce(g_logits, torch.ones_like(g_logits))
        opt_g.zero_grad(set_to_none=True)
        loss.backward(inputs=list(generator.parameters()))
        opt_g.step()
    return time.perf_counter() - start


def in_processes(runs: int, steps: int, threads: int) -> float:
    z_probe = sample_latent(16, BASELINE_GENERATOR["latent_dim"], seed=1)
    start = time.perf_counter()
    train_ablation_runs([AblationRun("baseline", seed, steps) for seed in range(runs)], z_probe, workers=threads,
                        progress=False)
    return time.perf_counter() - start  # includes starting the workers and a small evaluation per run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4, help="runs to train each way (default 4)")
    parser.add_argument("--steps", type=int, default=200, help="generator steps per run (default 200)")
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    print(f"torch {torch.__version__}, {cores} cores, {args.runs} runs x {args.steps} steps, "
          f"load average {os.getloadavg()[0]:.2f}")
    ways = [("one after another, 1 thread", one_after_another, 1),
            (f"one after another, {cores} threads", one_after_another, cores),
            (f"batched (grouped convolutions), {cores} threads", batched, cores),
            (f"{cores} processes, 1 thread each", in_processes, cores)]
    first = None
    for name, way, threads in ways:
        seconds = way(args.runs, args.steps, threads)
        per_step = 1000 * seconds / (args.runs * args.steps)
        first = first or per_step
        print(f"{name:45s} {seconds:6.1f} s  {per_step:5.1f} ms per run-step  {first / per_step:4.2f}x")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
